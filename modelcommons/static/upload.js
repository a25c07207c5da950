// Model Commons: uploads from the browser, through the same API as huggingface_hub.
//
// No file is ever read whole into page memory (browsers hang at about 1 GB):
//  1. preupload: the hub checks each path and size (a refusal is shown on its file);
//  2. files of the LFS threshold and more: sha256 in a worker, slice by slice
//     (hashing.js), then the Git LFS batch API. The hub answers "basic" (one PUT of
//     the file) or "multipart" (a part URL per chunk_size bytes, each PUT with
//     Blob.slice, then a completion POST listing the parts' ETags), then "verify";
//     an object the hub already has gets no actions and is not sent again;
//  3. one NDJSON commit: "lfsFile" lines for those, small files inline in base64.
// Each file has its own progress bar and error. The commit is made only when every
// file is ready, so a failure leaves the branch as it was; what was uploaded stays on
// the hub, and committing again does not send it twice.
"use strict";

(function upload() {
  const section = document.querySelector("section.upload");
  if (!section) return;
  const config = section.dataset;
  const MAX_FILE = Number(config.maxFileBytes);
  const LFS_THRESHOLD = Number(config.lfsThreshold);
  // Small files travel inline, base64 in the commit body; past this total, the rest
  // go through LFS too, so the body stays small whatever the number of files.
  const INLINE_BUDGET = 32 * 1024 * 1024;
  const PREUPLOAD_BATCH = 250;
  const LFS_JSON = "application/vnd.git-lfs+json";

  const drop = document.getElementById("dropzone");
  const list = document.getElementById("file-list");
  const button = document.getElementById("commit-button");
  const status = document.getElementById("upload-status");
  const items = []; // {path, file, row, bar, label, error, remove, state, oid}
  let busy = false;

  // --- hashing, in a worker --------------------------------------------------------

  const hasher = new Worker(config.hasherUrl, { type: "module" });
  const hashing = new Map();
  let hashIds = 0;
  hasher.addEventListener("message", (event) => {
    const { id, done, oid, error } = event.data;
    const job = hashing.get(id);
    if (!job) return;
    if (done !== undefined) { job.progress(done); return; }
    hashing.delete(id);
    if (error) job.reject(new Error(error)); else job.resolve(oid);
  });
  hasher.addEventListener("error", () => {
    for (const job of hashing.values()) job.reject(new Error("the hashing worker stopped"));
    hashing.clear();
  });
  function sha256(file, progress) {
    return new Promise((resolve, reject) => {
      const id = ++hashIds;
      hashing.set(id, { resolve, reject, progress });
      hasher.postMessage({ id, file });
    });
  }

  // --- the list of files -------------------------------------------------------------

  function size(n) {
    const units = ["B", "kB", "MB", "GB", "TB"];
    let value = n;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
    return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
  }

  function setState(item, state, text, percent) {
    item.state = state;
    item.row.dataset.state = state;
    item.label.textContent = text;
    if (percent !== undefined) item.bar.value = percent;
  }

  function fail(item, message) {
    setState(item, "failed", "Failed");
    item.error.textContent = message;
    item.error.hidden = false;
  }

  function addFile(file, rawPath) {
    if (busy) return;
    const path = rawPath.replace(/^\/+/, "");
    for (let i = items.length - 1; i >= 0; i -= 1) {
      if (items[i].path === path || items[i].state === "done") removeItem(items[i]);
    }
    const row = document.createElement("li");
    row.className = "upload-item";
    const name = document.createElement("span");
    name.className = "upload-path";
    name.textContent = path;
    const bytes = document.createElement("span");
    bytes.className = "upload-size muted";
    bytes.textContent = size(file.size);
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Progress of ${path}`);
    const label = document.createElement("span");
    label.className = "upload-state";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button small";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${path}`);
    const error = document.createElement("p");
    error.className = "upload-error";
    error.setAttribute("role", "alert");
    error.hidden = true;
    row.append(name, bytes, bar, label, remove, error);
    list.append(row);
    const item = { path, file, row, bar, label, error, remove, state: "queued", oid: null };
    remove.addEventListener("click", () => { if (!busy) { removeItem(item); refresh(); } });
    items.push(item);
    if (file.size > MAX_FILE) {
      setState(item, "refused", "Too large");
      item.error.textContent =
        `This file is ${size(file.size)}; files up to ${config.maxFileSize} can be uploaded.`;
      item.error.hidden = false;
    } else {
      setState(item, "queued", "Ready", 0);
    }
    refresh();
  }

  function removeItem(item) {
    const at = items.indexOf(item);
    if (at >= 0) items.splice(at, 1);
    item.row.remove();
  }

  function refresh() {
    const refused = items.filter((i) => i.state === "refused").length;
    const waiting = items.filter((i) => i.state !== "done").length;
    button.disabled = busy || waiting === 0 || refused > 0;
    for (const item of items) item.remove.disabled = busy;
    if (!busy && refused) {
      status.textContent = `Remove the ${refused === 1 ? "file" : `${refused} files`} over ` +
        `${config.maxFileSize} to commit the others.`;
    } else if (!busy && waiting && !status.dataset.keep) {
      status.textContent = "";
    }
  }

  // Choosing files: drag and drop (files and folders), the two pickers.
  function walk(entry, prefix) {
    return new Promise((resolve) => {
      if (entry.isFile) {
        entry.file((f) => { addFile(f, prefix + entry.name); resolve(); }, () => resolve());
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        const all = [];
        const read = () => reader.readEntries(async (batch) => {
          if (!batch.length) {
            for (const e of all) await walk(e, prefix + entry.name + "/");
            resolve();
          } else { all.push(...batch); read(); }
        }, () => resolve());
        read();
      } else { resolve(); }
    });
  }
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const entries = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry());
    if (entries.some(Boolean)) {
      for (const entry of entries) if (entry) await walk(entry, "");
    } else {
      for (const f of e.dataTransfer.files) addFile(f, f.name);
    }
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); document.getElementById("file-input").click(); }
  });
  document.getElementById("file-input").addEventListener("change", (e) => {
    for (const f of e.target.files) addFile(f, f.name);
    e.target.value = "";
  });
  document.getElementById("folder-input").addEventListener("change", (e) => {
    for (const f of e.target.files) addFile(f, f.webkitRelativePath || f.name);
    e.target.value = "";
  });
  window.addEventListener("beforeunload", (e) => {
    if (busy) { e.preventDefault(); e.returnValue = ""; }
  });

  // --- talking to the hub ------------------------------------------------------------

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  function sameOrigin(url) {
    return new URL(url, window.location.href).origin === window.location.origin;
  }
  // The session cookie and the CSRF proof go to this hub only, never to a URL an LFS
  // answer names elsewhere (signed URLs authorise themselves).
  function headersFor(url, extra) {
    const headers = { ...(extra || {}) };
    if (sameOrigin(url)) headers["X-CSRF-Token"] = csrfToken();
    return headers;
  }
  function problem(status, headers, body) {
    const message = headers.get("X-Error-Message");
    if (message) return message;
    try {
      const data = JSON.parse(body);
      if (data && (data.error || data.message)) return String(data.error || data.message);
    } catch (_) { /* not JSON */ }
    return `the hub answered HTTP ${status}`;
  }
  async function postJson(url, payload, type = "application/json", extra = {}) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: sameOrigin(url) ? "same-origin" : "omit",
        headers: headersFor(url, { ...extra, "Content-Type": type, Accept: type }),
        body: JSON.stringify(payload),
      });
    } catch (_) {
      throw new Error("network error: the hub could not be reached");
    }
    const text = await response.text();
    if (!response.ok) throw new Error(problem(response.status, response.headers, text));
    return text ? JSON.parse(text) : {};
  }
  // XMLHttpRequest rather than fetch: it reports upload progress. A Blob body (a file
  // or a slice of one) is streamed from disk by the browser.
  function put(url, body, headers, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.withCredentials = false;
      for (const [k, v] of Object.entries(headersFor(url, headers))) xhr.setRequestHeader(k, v);
      xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded));
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) { resolve(xhr); return; }
        const get = { get: (name) => xhr.getResponseHeader(name) };
        reject(new Error(problem(xhr.status, get, xhr.responseText)));
      });
      xhr.addEventListener("error", () => reject(new Error("network error while sending the file")));
      xhr.addEventListener("abort", () => reject(new Error("the upload was interrupted")));
      xhr.send(body);
    });
  }

  // --- one LFS file ------------------------------------------------------------------

  async function hashItem(item) {
    if (item.oid) return; // hashed on an earlier try (a File does not change under us)
    setState(item, "hashing", "Checking 0%", 0);
    item.oid = await sha256(item.file, (done) => {
      const percent = item.file.size ? Math.floor((done / item.file.size) * 100) : 100;
      setState(item, "hashing", `Checking ${percent}%`, percent);
    });
  }

  async function sendLfs(item) {
    const { file } = item;
    const answer = await postJson(config.lfsBatchUrl, {
      operation: "upload",
      transfers: ["basic", "multipart"],
      objects: [{ oid: item.oid, size: file.size }],
      hash_algo: "sha256",
      ref: { name: config.rev },
    }, LFS_JSON);
    const object = (answer.objects || []).find((o) => o.oid === item.oid);
    if (!object) throw new Error("the hub's LFS answer did not list this file");
    if (object.error) {
      throw new Error(object.error.message || `the hub refused this file (${object.error.code})`);
    }
    const actions = object.actions || {};
    const shown = (sent) => {
      const percent = file.size ? Math.floor((sent / file.size) * 100) : 100;
      setState(item, "uploading", `Uploading ${percent}%`, percent);
    };
    if (actions.upload) {
      shown(0);
      const header = actions.upload.header || {};
      if (header.chunk_size !== undefined) await sendParts(item, actions.upload, shown);
      else await put(actions.upload.href, file, header, shown);
    }
    if (actions.verify) {
      const verify = actions.verify;
      await postJson(verify.href, { oid: item.oid, size: file.size }, LFS_JSON, verify.header || {});
    }
    setState(item, "uploaded", actions.upload ? "Uploaded" : "Already on the hub", 100);
  }

  // Multipart: the header maps part numbers to URLs; part n is bytes
  // [(n-1) * chunk_size, n * chunk_size) of the file, sent as a slice.
  async function sendParts(item, upload, shown) {
    const { file } = item;
    const chunk = Number(upload.header.chunk_size);
    const numbers = Object.keys(upload.header).filter((k) => /^[0-9]+$/.test(k)).map(Number)
      .sort((a, b) => a - b);
    if (!(chunk > 0) || numbers.length !== Math.ceil(file.size / chunk)) {
      throw new Error("the hub's multipart answer does not match the file's size");
    }
    const parts = [];
    let before = 0;
    for (const n of numbers) {
      const start = (n - 1) * chunk;
      const end = Math.min(start + chunk, file.size);
      const xhr = await put(upload.header[String(n)], file.slice(start, end), {}, (sent) => shown(before + sent));
      const etag = xhr.getResponseHeader("ETag");
      if (!etag) throw new Error(`part ${n} was stored without an ETag`);
      parts.push({ partNumber: n, etag });
      before += end - start;
      shown(before);
    }
    await postJson(upload.href, { oid: item.oid, parts });
  }

  // --- the commit --------------------------------------------------------------------

  function targetPath(item) {
    const dir = document.getElementById("target-dir").value.trim().replace(/^\/+|\/+$/g, "");
    return dir ? `${dir}/${item.path}` : item.path;
  }

  // Upload modes from preupload, which also checks each path and size. When a batch is
  // refused, its files are asked about one by one, so each refusal lands on its file.
  async function preupload(todo) {
    const modes = new Map();
    for (let i = 0; i < todo.length; i += PREUPLOAD_BATCH) {
      const batch = todo.slice(i, i + PREUPLOAD_BATCH);
      const ask = (some) => postJson(config.preuploadUrl, {
        files: some.map((item) => ({ path: targetPath(item), size: item.file.size, sample: "" })),
      });
      let answer;
      try {
        answer = await ask(batch);
      } catch (error) {
        if (batch.length === 1) { fail(batch[0], error.message); continue; }
        for (const item of batch) {
          try {
            const one = await ask([item]);
            for (const f of one.files || []) modes.set(f.path, f.uploadMode);
          } catch (e) { fail(item, e.message); }
        }
        continue;
      }
      for (const f of answer.files || []) modes.set(f.path, f.uploadMode);
    }
    return modes;
  }

  function base64(buffer) {
    const bytes = new Uint8Array(buffer);
    let out = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      out += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(out);
  }

  function commitBody(todo, inline) {
    return Promise.all(todo.map(async (item) => {
      if (inline.has(item)) {
        const content = base64(await item.file.arrayBuffer()); // small: under the LFS threshold
        return JSON.stringify({ key: "file", value: { path: targetPath(item), encoding: "base64", content } }) + "\n";
      }
      return JSON.stringify({ key: "lfsFile", value: { path: targetPath(item), algo: "sha256", oid: item.oid, size: item.file.size } }) + "\n";
    }));
  }

  function sendCommit(lines, inline) {
    const header = { key: "header", value: {
      summary: document.getElementById("commit-message").value || "Upload files",
      description: document.getElementById("commit-description").value || "" } };
    const body = new Blob([JSON.stringify(header) + "\n", ...lines], { type: "application/x-ndjson" });
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", config.commitUrl);
      xhr.setRequestHeader("Content-Type", "application/x-ndjson");
      xhr.setRequestHeader("X-CSRF-Token", csrfToken());
      xhr.upload.addEventListener("progress", (e) => {
        if (!e.lengthComputable) return;
        const percent = Math.floor((e.loaded / e.total) * 100);
        for (const item of inline) setState(item, "uploading", `Uploading ${percent}%`, percent);
      });
      xhr.addEventListener("load", () => {
        if (xhr.status === 200) { resolve(JSON.parse(xhr.responseText)); return; }
        const get = { get: (name) => xhr.getResponseHeader(name) };
        reject(new Error(problem(xhr.status, get, xhr.responseText)));
      });
      xhr.addEventListener("error", () => reject(new Error("network error while committing")));
      xhr.send(body);
    });
  }

  function announce(parts) {
    status.replaceChildren(...parts.map((p) => {
      if (typeof p === "string") return document.createTextNode(p);
      const a = document.createElement("a");
      a.href = p.href;
      a.textContent = p.text;
      return a;
    }));
  }

  async function commitAll() {
    const todo = items.filter((i) => i.state !== "done" && i.state !== "refused");
    if (!todo.length) return;
    busy = true;
    status.dataset.keep = "1";
    refresh();
    for (const item of todo) {
      item.error.hidden = true;
      if (item.state !== "uploaded") setState(item, "waiting", "Waiting", 0);
    }
    announce(["Checking the files with the hub…"]);
    try {
      const modes = await preupload(todo);
      const inline = new Set();
      let inlineBytes = 0;
      for (const item of todo) {
        if (item.state === "failed") continue;
        const small = item.file.size < LFS_THRESHOLD && modes.get(targetPath(item)) !== "lfs";
        if (small && inlineBytes + item.file.size <= INLINE_BUDGET) {
          inline.add(item);
          inlineBytes += item.file.size;
          setState(item, "ready", "Sent with the commit", 0);
        }
      }
      const lfs = todo.filter((i) => !inline.has(i) && i.state !== "failed" && i.state !== "uploaded");
      if (lfs.length) announce([`Uploading ${lfs.length} large file${lfs.length === 1 ? "" : "s"}…`]);
      // Hash the next file while this one uploads: one hashing chain, one upload loop.
      let chain = Promise.resolve();
      const hashed = lfs.map((item) => {
        const done = chain.then(() => hashItem(item));
        chain = done.catch(() => {});
        return done;
      });
      for (let k = 0; k < lfs.length; k += 1) {
        try {
          await hashed[k];
          await sendLfs(lfs[k]);
        } catch (error) {
          fail(lfs[k], error.message);
        }
      }
      const failed = todo.filter((i) => i.state === "failed");
      if (failed.length) {
        announce([`Nothing was committed: ${failed.length} of ${todo.length} file${todo.length === 1 ? "" : "s"} ` +
          "could not be uploaded (see below). Remove or fix them and commit again; files " +
          "already uploaded are not sent twice."]);
        return;
      }
      announce(["Committing…"]);
      const lines = await commitBody(todo, inline);
      const result = await sendCommit(lines, inline);
      for (const item of todo) setState(item, "done", "Done", 100);
      announce([`Committed ${todo.length} file${todo.length === 1 ? "" : "s"} to ${config.rev}. `,
        { href: config.treeUrl, text: "View the files" }, " · ",
        { href: result.commitUrl, text: "See the commit" }]);
    } catch (error) {
      for (const item of todo) {
        if (item.state !== "failed" && item.state !== "uploaded") setState(item, "queued", "Not committed", 0);
      }
      announce([`Nothing was committed: ${error.message}`]);
    } finally {
      busy = false;
      refresh();
      delete status.dataset.keep;
    }
  }

  button.addEventListener("click", () => { commitAll(); });
})();
