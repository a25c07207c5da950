// Model Commons: the sha256 of a file, in a worker, read slice by slice.
//
// Git LFS names an object by its sha256, which must be known before its bytes are
// sent. crypto.subtle.digest takes the whole input as one buffer and cannot stream, so
// the incremental sha256 of @noble/hashes (audited, MIT, vendored unmodified in
// noble-hashes/, see VENDORED.md there) hashes the file a slice at a time: a file of
// any size costs one slice of memory, and the page stays responsive meanwhile.
//
// Message in: {id, file}. Messages out: {id, done} after each slice (bytes hashed so
// far), then {id, oid} (hex digest) or {id, error}.
import { sha256 } from "./noble-hashes/sha2.js";
import { bytesToHex } from "./noble-hashes/utils.js";

const SLICE = 4 * 1024 * 1024;

self.addEventListener("message", async (event) => {
  const { id, file } = event.data;
  try {
    const hash = sha256.create();
    for (let offset = 0; offset < file.size; offset += SLICE) {
      const end = Math.min(offset + SLICE, file.size);
      hash.update(new Uint8Array(await file.slice(offset, end).arrayBuffer()));
      self.postMessage({ id, done: end });
    }
    self.postMessage({ id, oid: bytesToHex(hash.digest()) });
  } catch (error) {
    self.postMessage({ id, error: `could not read the file (${(error && error.message) || error})` });
  }
});
