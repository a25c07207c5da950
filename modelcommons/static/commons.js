// Model Commons: progressive enhancement only. Every page works without it.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

// Revision pickers submit on change; their "Go" button is only for no-JS.
document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
  const form = select.form;
  form.querySelectorAll(".js-hide").forEach((b) => { b.hidden = true; });
  select.addEventListener("change", () => form.submit());
});

// Browser uploads: files and folders are sent base64-inline in one NDJSON
// commit, through the same commit endpoint as huggingface_hub uses.
(function upload() {
  const section = document.querySelector("section.upload");
  if (!section) return;
  const drop = document.getElementById("dropzone");
  const list = document.getElementById("file-list");
  const button = document.getElementById("commit-button");
  const progress = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const chosen = new Map(); // path -> File

  function addFile(file, path) {
    chosen.set(path.replace(/^\/+/, ""), file);
    render();
  }
  function render() {
    list.replaceChildren();
    for (const [path, file] of chosen) {
      const li = document.createElement("li");
      li.textContent = `${path} (${file.size.toLocaleString()} bytes)`;
      list.append(li);
    }
    button.disabled = chosen.size === 0;
  }
  function walk(entry, prefix) {
    return new Promise((resolve) => {
      if (entry.isFile) {
        entry.file((f) => { addFile(f, prefix + entry.name); resolve(); });
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        const all = [];
        const read = () => reader.readEntries(async (batch) => {
          if (!batch.length) {
            for (const e of all) await walk(e, prefix + entry.name + "/");
            resolve();
          } else { all.push(...batch); read(); }
        });
        read();
      } else { resolve(); }
    });
  }
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const items = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry());
    if (items.some(Boolean)) {
      for (const entry of items) if (entry) await walk(entry, "");
    } else {
      for (const f of e.dataTransfer.files) addFile(f, f.name);
    }
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); document.getElementById("file-input").click(); }
  });
  document.getElementById("file-input").addEventListener("change", (e) => {
    for (const f of e.target.files) addFile(f, f.name);
  });
  document.getElementById("folder-input").addEventListener("change", (e) => {
    for (const f of e.target.files) addFile(f, f.webkitRelativePath || f.name);
  });

  function base64(buffer) {
    const bytes = new Uint8Array(buffer);
    let out = "";
    const step = 0x8000;
    for (let i = 0; i < bytes.length; i += step) {
      out += String.fromCharCode.apply(null, bytes.subarray(i, i + step));
    }
    return btoa(out);
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "Preparing…";
    const dir = document.getElementById("target-dir").value.trim().replace(/^\/+|\/+$/g, "");
    const header = { key: "header", value: {
      summary: document.getElementById("commit-message").value || "Upload files",
      description: document.getElementById("commit-description").value || "" } };
    const parts = [JSON.stringify(header) + "\n"];
    for (const [path, file] of chosen) {
      const content = base64(await file.arrayBuffer());
      const full = dir ? `${dir}/${path}` : path;
      parts.push(JSON.stringify({ key: "file", value: { path: full, encoding: "base64", content } }) + "\n");
    }
    const body = new Blob(parts, { type: "application/x-ndjson" });
    const xhr = new XMLHttpRequest();
    xhr.open("POST", section.dataset.commitUrl);
    xhr.setRequestHeader("Content-Type", "application/x-ndjson");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    progress.hidden = false;
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        progress.value = Math.round((e.loaded / e.total) * 100);
        status.textContent = `Uploading… ${progress.value}%`;
      }
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 200) {
        progress.value = 100;
        status.textContent = "Committed.";
        window.location.assign(section.dataset.repoUrl + "/tree/main");
      } else {
        let message = xhr.getResponseHeader("X-Error-Message") || `HTTP ${xhr.status}`;
        status.textContent = `Upload failed: ${message}`;
        button.disabled = false;
      }
    });
    xhr.addEventListener("error", () => { status.textContent = "Upload failed: network error."; button.disabled = false; });
    xhr.send(body);
  });
})();
