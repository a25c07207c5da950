// Model Commons: progressive enhancement only. Every page works without it.
"use strict";

// Revision pickers submit on change; their "Go" button is only for no-JS.
document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
  const form = select.form;
  form.querySelectorAll(".js-hide").forEach((b) => { b.hidden = true; });
  select.addEventListener("change", () => form.submit());
});

// Uploads have their own script, upload.js, loaded by the upload page only.
