"""Pick the scanners for one file, by its name and its first bytes, and run them."""

from __future__ import annotations

import time
import zipfile
from typing import BinaryIO

from . import archives, formats, joblib_files, savedmodel
from .pickles import scan_pickle
from .report import FileReport


def scan_file(f: BinaryIO, path: str, size: int) -> FileReport:
    """Scan an open, seekable file stored at ``path`` (its name in the repository).

    Unrecognised files get an empty report (status ``safe``, kind ``""``): no
    scanner applies to them. Reads only what each format needs.
    """
    head = f.read(16)
    f.seek(0)
    lower = path.lower()
    if size == 0:
        return FileReport()
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if lower.endswith(".keras"):
            report = formats.scan_keras(f)
            f.seek(0)
            report.merge(archives.scan_zip(f))
            return report
        return archives.scan_zip(f)
    if head.startswith(archives.NUMPY_MAGIC):
        return archives.scan_npy(f, size=size)
    if lower.endswith(".safetensors"):
        return formats.scan_safetensors(f, size)
    if head.startswith(b"GGUF"):
        return formats.scan_gguf(f, size)
    if lower.rsplit("/", 1)[-1] == "saved_model.pb":
        return savedmodel.scan_saved_model(f, size)
    if lower.endswith(".onnx"):
        return formats.scan_onnx(f, size, path)
    if head.startswith(b"\x89HDF\r\n\x1a\n") and lower.endswith((".h5", ".hdf5", ".keras")):
        return formats.scan_h5(f)
    if head.startswith(archives.LEGACY_TORCH_MAGIC):
        return archives.scan_legacy_torch(f, size)
    if size >= 512 and _is_tar(f):
        return archives.scan_tar(f)
    if lower.endswith(archives.PICKLE_EXTENSIONS) or (
        archives.looks_like_pickle(head[:2])
        and (lower.endswith(archives.MAYBE_PICKLE_EXTENSIONS) or head[:1] == b"\x80")
    ):
        if lower.endswith(".joblib"):
            return joblib_files.scan_joblib(f, size)
        report = scan_pickle(f, size=size)
        if any((i.module, i.name) in joblib_files.WRAPPERS for i in report.imports):
            f.seek(0)  # joblib under another name (model.pkl): its arrays break the stream
            return joblib_files.scan_joblib(f, size)
        return report
    return FileReport()


#: Extensions that change how a file is read (by us and by loaders).
PROFILES = frozenset(
    {"pkl", "pickle", "joblib", "pt", "pth", "bin", "ckpt", "dat", "data", "model", "gz"}
    | {"keras", "h5", "hdf5", "safetensors", "onnx", "npy", "npz", "gguf", "pb"}
)


def profile(path: str) -> str:
    """The extension class of a name: a blob's result is reused only for names of
    the same class (bytes scanned as ``notes.txt`` are scanned again as ``x.pkl``)."""
    ext = path.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower() if "." in path else ""
    return ext if ext in PROFILES else ""


def _is_tar(f: BinaryIO) -> bool:
    f.seek(257)
    magic = f.read(6)
    f.seek(0)
    return magic in (b"ustar\x00", b"ustar ")


def timed_scan(f: BinaryIO, path: str, size: int) -> tuple[FileReport, float]:
    start = time.perf_counter()
    try:
        report = scan_file(f, path, size)
    except (OSError, zipfile.BadZipFile, RecursionError, MemoryError) as e:
        report = FileReport(kind="")
        report.add("error", f"The scanner failed: {type(e).__name__}: {e}")
    return report, time.perf_counter() - start
