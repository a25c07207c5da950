"""Pickles wherever they hide: PyTorch zip archives (any member, not only
``*/data.pkl``), PyTorch's legacy tar and pre-zip formats, NumPy ``.npy`` and
``.npz`` with object arrays, joblib files and bare pickles.

Archives are read member by member from the open blob (``zipfile``/``tarfile`` seek
and stream); nothing is extracted or read whole.
"""

from __future__ import annotations

import tarfile
import zipfile
from typing import IO, BinaryIO, cast

from .pickles import scan_pickle
from .report import FileReport

#: Extensions whose files are loaded with pickle whatever their bytes
#: (``torch.load`` falls back to unpickling; ``pickle.load``/``joblib.load``).
PICKLE_EXTENSIONS = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".pkl.gz")
#: Extensions shared with other binary formats: a pickle only when the bytes say so.
MAYBE_PICKLE_EXTENSIONS = (".bin", ".ckpt", ".dat", ".data", ".model")
#: Bytes a pickle stream can start with: PROTO (2+) or a protocol 0/1 opcode.
_PICKLE_STARTS = frozenset(b"\x80c(]}ILFSVNX.G\x8c\x95q")
#: ``pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)``: the legacy format.
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."
NUMPY_MAGIC = b"\x93NUMPY"


def looks_like_pickle(head: bytes) -> bool:
    if len(head) >= 2 and head[0] == 0x80:
        return 2 <= head[1] <= 5
    return bool(head) and head[0] in _PICKLE_STARTS


def scan_zip(f: BinaryIO, where: str = "") -> FileReport:
    report = FileReport(kind="zip")
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        report.add("unsafe", f"The zip archive is corrupt: {e}", where)
        return report
    with archive:
        names = archive.namelist()
        if any(n.endswith("data.pkl") for n in names):
            report.kind = "pytorch-zip"
        elif names and all(n.endswith(".npy") for n in names):
            report.kind = "npz"
        for info in archive.infolist():
            if info.is_dir():
                continue
            member = f"{where}{info.filename}"
            try:
                with archive.open(info) as m:
                    head = m.read(16)
                lower = info.filename.lower()
                named = lower.endswith((".pkl", ".pickle")) or lower.endswith("data.pkl")
                # Tensor bytes often start with a protocol 0 opcode by chance; a pickle a
                # loader would find without its name starts with PROTO 2 or more.
                proto = head[:1] == b"\x80" and looks_like_pickle(head[:2])
                if named or head.startswith(NUMPY_MAGIC) or proto:
                    with archive.open(info) as m:
                        inner = _scan_member(cast(BinaryIO, m), member, head, info.file_size)
                    if not named and not head.startswith(NUMPY_MAGIC):
                        # Tensor bytes may start like a pickle by chance: only what such
                        # a stream imports counts, not whether it parses.
                        inner.findings = [x for x in inner.findings if "corrupt" not in x.message]
                    report.imports.extend(inner.imports)
                    report.findings.extend(inner.findings)
            except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError) as e:
                report.add("unsafe", f"An archive member cannot be read: {e}", member)
    return report


def _scan_member(m: BinaryIO, where: str, head: bytes, size: int) -> FileReport:
    if head.startswith(NUMPY_MAGIC):
        return scan_npy(m, where, size)  # zip members seek (backwards by reading again)
    return scan_pickle(m, where, size=size)


def scan_tar(f: BinaryIO, where: str = "") -> FileReport:
    """PyTorch's legacy tar format: ``sys_info`` and ``pickle`` are pickles, and
    ``storages``/``tensors`` start with pickles followed by raw bytes."""
    report = FileReport(kind="pytorch-tar")
    try:
        archive = tarfile.open(fileobj=cast(IO[bytes], f), mode="r:")  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError) as e:
        report.add("unsafe", f"The tar archive is corrupt: {e}", where)
        return report
    with archive:
        for info in archive:
            if not info.isfile():
                continue
            member = f"{where}{info.name}"
            stream = archive.extractfile(info)
            if stream is None:
                continue
            with stream:
                head = stream.read(16)
                stream.seek(0)
                strict = info.name in ("pickle", "sys_info") or info.name.endswith(".pkl")
                if strict or looks_like_pickle(head[:2]):
                    inner = scan_pickle(cast(BinaryIO, stream), member, size=info.size)
                    if not strict:
                        inner.findings = [x for x in inner.findings if "corrupt" not in x.message]
                    report.imports.extend(inner.imports)
                    report.findings.extend(inner.findings)
    return report


def scan_legacy_torch(f: BinaryIO, size: int, where: str = "") -> FileReport:
    """PyTorch's pre-zip format: five pickles (magic, protocol, sys_info, the
    object, the storage keys), then raw storage bytes."""
    report = FileReport(kind="pytorch-legacy")
    for _ in range(5):
        inner = scan_pickle(f, where, size=size, stacked=False)
        report.imports.extend(inner.imports)
        report.findings.extend(inner.findings)
        if inner.findings:
            break
    return report


def scan_npy(f: BinaryIO, where: str = "", size: int | None = None) -> FileReport:
    """A ``.npy`` array: only an object array holds a pickle (after the header)."""
    import numpy as np

    report = FileReport(kind="npy")
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            _, _, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=1 << 20)
    except (ValueError, OSError, SyntaxError) as e:
        report.add("error", f"The NumPy header cannot be read: {e}", where)
        return report
    if dtype.hasobject:
        inner = scan_pickle(f, where, size=None if size is None else size - f.tell())
        report.imports.extend(inner.imports)
        report.findings.extend(inner.findings)
    return report
