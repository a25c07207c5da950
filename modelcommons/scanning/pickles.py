"""Rate every global a pickle stream imports, without unpickling it.

:mod:`.opcodes` reads every stream's opcodes in one fast pass (tens of MB/s, large
payloads stepped over) and resolves ``GLOBAL``/``INST``/``STACK_GLOBAL`` names,
including names fetched from the memo; a name it cannot resolve (built on the
stack) comes back as ``unknown`` and is dangerous. picklescan's deny-list rates the
names. A small stream (up to ``FICKLING_MAX_BYTES``) is also walked by picklescan
itself (its names are added to ours) and interpreted by fickling, which contributes
its ML allow-list (globals PyTorch, NumPy and transformers checkpoints legitimately
import) and its symbolic interpretation, whose overtly-malicious verdicts (a call to
``eval``, ``exec`` or a non-standard import with side effects) make a file unsafe
on their own.

On top, our policy: every ``builtins``/``__builtin__`` name is dangerous unless it is
a plain type (``getattr``, ``__import__``, ``setattr``, ``globals``... are how chains
reach anything), and modules that load code or further pickles (``importlib``,
``marshal``, ``types``, ``dill``, ``cloudpickle``, ``joblib.load``, ``numpy.load``...)
are dangerous too. A stream that does not parse to the end is ``unsafe``: a loader
may run what came before the break, and a scanner that stops at garbage is a bypass.
"""

from __future__ import annotations

import logging
from typing import BinaryIO

from .opcodes import CorruptPickle, list_globals
from .report import FileReport, Import

#: fickling interprets the whole stream in memory, in time that grows faster than its
#: size (4 s for 620 KB of nested lists): only streams up to this size. Larger ones
#: get picklescan's reading and our policy alone, which rate every import anyway.
FICKLING_MAX_BYTES = 256 * 1024
#: A larger pickle stream is not read at all: it is reported ``error`` (never safe).
#: :mod:`.opcodes` keeps 8 bytes per memo slot, not the stream, so this bounds time.
MAX_PICKLE_BYTES = 1024 * 1024 * 1024

_BUILTIN_MODULES = frozenset({"builtins", "__builtin__", "__builtins__"})
#: Builtins that only build plain values.
_SAFE_BUILTINS = frozenset(
    {
        "set",
        "frozenset",
        "slice",
        "complex",
        "bytearray",
        "bytes",
        "range",
        "dict",
        "list",
        "tuple",
        "int",
        "float",
        "bool",
        "str",
        "object",
    }
)
#: Modules (and their submodules) whose every name is dangerous.
_DANGEROUS_MODULES = (
    "importlib",
    "marshal",
    "types",
    "code",
    "codeop",
    "dill",
    "cloudpickle",
    "pickle",
    "_pickle",
    "multiprocessing",
    "threading",
    "_thread",
    "signal",
    "tempfile",
    "shelve",
    "site",
    "zipimport",
    "ctypes",
    "os",
    "posix",
    "nt",
    "subprocess",
    "sys",
    "socket",
    "shutil",
    "runpy",
    "pty",
    "webbrowser",
    "glob",
    "inspect",
    "gc",
    "operator",
    "_operator",
    "functools",
    "torch.hub",
    "torch.jit",
    "torch._dynamo",
    "torch._inductor",
    "torch.serialization",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.testing",
)
#: Single names that load code or further pickles.
_DANGEROUS_NAMES = frozenset(
    {
        ("numpy", "load"),
        ("numpy", "loads"),
        ("numpy.lib.npyio", "load"),
        ("joblib", "load"),
        ("joblib.numpy_pickle", "load"),
        ("torch", "load"),
        ("io", "open"),
        ("_io", "open"),
        ("_io", "FileIO"),
        ("io", "FileIO"),
        ("codecs", "open"),
        ("pydoc", "locate"),
        ("pkgutil", "resolve_name"),
    }
)


#: Data holders our scanners understand (joblib's array wrapper: its bytes follow it).
_SAFE_NAMES = frozenset(
    {
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        # How NumPy pickles an array with protocol 5: an array over the given buffer.
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }
)


def _in_modules(module: str, modules: tuple[str, ...]) -> bool:
    return any(module == m or module.startswith(m + ".") for m in modules)


def _dotted(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


def _ml_allowed(module: str, name: str) -> bool:
    from fickling.ml import ML_ALLOWLIST

    return name in ML_ALLOWLIST.get(module, {})


def rate(module: str, name: str, picklescan_safety: str) -> str:
    """``innocuous``, ``suspicious`` or ``dangerous`` for one imported global."""
    if "unknown" in (module, name) or not module or not name:
        return "dangerous"  # a name built on the stack: it can be anything
    if not _dotted(module) or not _dotted(name):
        return "dangerous"  # no module or class is named so ("os ", "system (V...")
    if module in _BUILTIN_MODULES:
        return "innocuous" if name in _SAFE_BUILTINS else "dangerous"
    if picklescan_safety == "dangerous":
        return "dangerous"
    if _in_modules(module, _DANGEROUS_MODULES) or (module, name) in _DANGEROUS_NAMES:
        return "dangerous"
    if (
        picklescan_safety == "innocuous"
        or _ml_allowed(module, name)
        or (module, name) in _SAFE_NAMES
    ):
        return "innocuous"
    if name.startswith("__") or "." in name:
        return "dangerous"  # attribute chains (``Class.method``) reach past the class
    return "suspicious"


def scan_pickle(
    stream: BinaryIO, where: str = "", *, size: int | None = None, stacked: bool = True
) -> FileReport:
    """Rate the globals of the pickle(s) from ``stream``'s position to its end
    (``stacked``), or of the one pickle there (the stream is then left past it).

    :mod:`.opcodes` reads every stream in one fast pass. A small stream (up to
    ``FICKLING_MAX_BYTES``) is read by picklescan's walk and fickling's too, and
    what any of them finds counts.
    """
    report = FileReport(kind="pickle")
    if size is not None and size > MAX_PICKLE_BYTES:
        report.add(
            "error",
            f"The pickle stream is {size} bytes, over the scanner's {MAX_PICKLE_BYTES} "
            "byte limit: it was not read, and is not known to be safe.",
            where,
        )
        return report
    start = stream.tell()
    raw: set[tuple[str, str]] = set()
    try:
        raw = list_globals(stream, stacked=stacked)
    except CorruptPickle as e:
        raw = e.found
        report.add("unsafe", f"The pickle stream is truncated or corrupt: {e}", where)
    except OSError as e:  # the stream itself fails
        report.add("unsafe", f"The pickle stream cannot be read: {e}", where)
    small = size is not None and size <= FICKLING_MAX_BYTES
    if small:
        end = stream.tell()
        stream.seek(start)
        raw |= _picklescan_globals(stream, stacked, where, report)
        stream.seek(start)
        _fickling(stream, where, report)
        stream.seek(end)
    from picklescan.scanner import _build_scan_result_from_raw_globals

    logging.getLogger("picklescan").setLevel(logging.CRITICAL)
    rated = _build_scan_result_from_raw_globals(raw, where or "file")
    for g in sorted(rated.globals, key=lambda g: (g.module, g.name)):
        report.imports.append(
            Import(g.module, g.name, rate(g.module, g.name, g.safety.value), where)
        )
    return report


def _picklescan_globals(
    stream: BinaryIO, stacked: bool, where: str, report: FileReport
) -> set[tuple[str, str]]:
    """picklescan's own walk of a small stream (a second opinion on its names)."""
    from picklescan.scanner import GenOpsError, _list_globals

    logging.getLogger("picklescan").setLevel(logging.CRITICAL)
    try:
        found: set[tuple[str, str]] = _list_globals(stream, multiple_pickles=stacked)
        return found
    except GenOpsError as e:
        return set(e.globals or ())
    except Exception as e:  # picklescan gives up on odd streams: ours has the verdict
        if not report.findings:
            report.add("unsafe", f"picklescan cannot read the pickle stream: {e}", where)
        return set()


def _fickling(stream: BinaryIO, where: str, report: FileReport) -> None:
    from fickling.analysis import Severity, check_safety
    from fickling.fickle import Pickled

    try:
        pickled = Pickled.load(stream, fail_on_decode_error=False)
        results = check_safety(pickled)
    except Exception:  # fickling's interpreter gives up on odd streams
        return
    if results.severity >= Severity.LIKELY_OVERTLY_MALICIOUS:
        text = results.to_string(Severity.LIKELY_OVERTLY_MALICIOUS).strip().splitlines()
        report.add("unsafe", "fickling: " + (text[0] if text else results.severity.name), where)
