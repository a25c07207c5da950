"""Format sanity for files that hold no code by design: safetensors and GGUF headers,
ONNX external-data paths, and the configs of Keras ``.keras`` and legacy ``.h5``
models (where code hides in ``Lambda`` layers and in functions named by module).

Each reads only headers: a safetensors file's JSON header, a GGUF file's key/values
and tensor infos, an ONNX model's initializers (length-delimited fields it does not
need are skipped with ``seek``), a Keras archive's ``config.json``.
"""

from __future__ import annotations

import itertools
import json
import math
import posixpath
import struct
import zipfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from .report import FileReport

SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024  # the safetensors library's own limit
_ST_DTYPES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8, "F4": 1, "F6_E2M3": 1, "F6_E3M2": 1,
}  # fmt: skip


def scan_safetensors(f: BinaryIO, size: int, where: str = "") -> FileReport:
    report = FileReport(kind="safetensors")
    head = f.read(8)
    if len(head) < 8:
        report.add("unsafe", "safetensors: the file is shorter than its header length", where)
        return report
    (n,) = struct.unpack("<Q", head)
    if n > SAFETENSORS_MAX_HEADER or n > size - 8:
        report.add("unsafe", f"safetensors: header of {n} bytes exceeds the limit or file", where)
        return report
    try:
        header = json.loads(f.read(n))
    except (ValueError, UnicodeDecodeError) as e:
        report.add("unsafe", f"safetensors: the header is not JSON: {e}", where)
        return report
    if not isinstance(header, dict):
        report.add("unsafe", "safetensors: the header is not a JSON object", where)
        return report
    data_size = size - 8 - n
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                report.add("unsafe", "safetensors: __metadata__ must map strings to strings")
            continue
        problem = _tensor_problem(info, data_size)
        if problem:
            severity = "suspicious" if problem.startswith("unknown dtype") else "unsafe"
            report.add(severity, f"safetensors: tensor {name!r}: {problem}", where)
            continue
        begin, end = info["data_offsets"]
        spans.append((begin, end, name))
    spans.sort()
    for (_b1, e1, n1), (b2, _e2, n2) in itertools.pairwise(spans):
        if b2 < e1:
            report.add("unsafe", f"safetensors: tensors {n1!r} and {n2!r} overlap", where)
            break
    return report


def _tensor_problem(info: Any, data_size: int) -> str:
    if not isinstance(info, dict):
        return "not an object"
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        return "shape is not a list of sizes"
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) for o in offsets)
    ):
        return "data_offsets is not two integers"
    begin, end = offsets
    if not 0 <= begin <= end:
        return f"data_offsets {offsets} are reversed or negative"
    if end > data_size:
        return f"data_offsets {offsets} exceed the file's {data_size} bytes of data"
    if dtype not in _ST_DTYPES:
        return f"unknown dtype {dtype!r}"
    if dtype not in ("F4", "F6_E2M3", "F6_E3M2") and math.prod(shape) * _ST_DTYPES[dtype] != (
        end - begin
    ):
        return f"{end - begin} bytes do not hold shape {shape} of {dtype}"
    return ""


# ---------------------------------------------------------------- GGUF

_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q"}
_GGUF_SCALARS |= {11: "q", 12: "d"}
_TEMPLATE_RED_FLAGS = ("__class__", "__globals__", "__subclasses__", "__builtins__", "import")


class _Short(Exception):
    pass


def scan_gguf(f: BinaryIO, size: int, where: str = "") -> FileReport:
    report = FileReport(kind="gguf")

    def read(n: int) -> bytes:
        data = f.read(n)
        if len(data) < n:
            raise _Short
        return data

    def unpack(fmt: str) -> Any:
        return struct.unpack("<" + fmt, read(struct.calcsize(fmt)))[0]

    def string() -> str:
        n = unpack("Q")
        if n > size:
            raise ValueError(f"a string of {n} bytes in a file of {size}")
        return read(n).decode("utf-8", "replace")

    def value(kind: int, depth: int = 0) -> Any:
        if kind in _GGUF_SCALARS:
            return unpack(_GGUF_SCALARS[kind])
        if kind == 8:
            return string()
        if kind == 9 and depth < 2:
            inner, count = unpack("I"), unpack("Q")
            if count > size:
                raise ValueError(f"an array of {count} items in a file of {size} bytes")
            for _ in range(count):
                value(inner, depth + 1)  # read to check, not kept
            return None
        raise ValueError(f"unknown value type {kind}")

    try:
        if read(4) != b"GGUF":
            raise ValueError("no GGUF magic")
        version = unpack("I")
        if version not in (1, 2, 3):
            raise ValueError(f"unknown GGUF version {version}")
        tensors, kvs = unpack("Q"), unpack("Q")
        if tensors > size // 24 or kvs > size // 12:
            raise ValueError(f"{tensors} tensors and {kvs} keys cannot fit in {size} bytes")
        for _ in range(kvs):
            key, kind = string(), unpack("I")
            val = value(kind)
            if key.endswith("chat_template") and isinstance(val, str):
                flags = [flag for flag in _TEMPLATE_RED_FLAGS if flag in val]
                if flags:
                    report.add(
                        "unsafe",
                        f"GGUF: {key} reaches Python internals ({', '.join(flags)}): "
                        "template injection",
                        where,
                    )
        for _ in range(tensors):
            name, dims = string(), unpack("I")
            if dims > 8:
                raise ValueError(f"tensor {name!r} has {dims} dimensions")
            for _ in range(dims):
                unpack("Q")
            unpack("I")
            if unpack("Q") > size:
                raise ValueError(f"tensor {name!r} starts past the end of the file")
    except _Short:
        report.add("unsafe", "GGUF: the header runs past the end of the file", where)
    except (ValueError, struct.error) as e:
        report.add("unsafe", f"GGUF: malformed header: {e}", where)
    return report


# ---------------------------------------------------------------- ONNX


def _varint(f: BinaryIO) -> int | None:
    shift = result = 0
    while True:
        b = f.read(1)
        if not b:
            return None
        result |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def proto_fields(f: BinaryIO, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, wire type, value or length) of each field up to ``end``; a
    length-delimited field's bytes are next in ``f``, and skipped unless read."""
    while f.tell() < end:
        key = _varint(f)
        if key is None:
            return
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, _varint(f) or 0
        elif wire == 2:
            length = _varint(f) or 0
            if f.tell() + length > end:
                raise ValueError("a field runs past its message")
            start = f.tell()
            yield number, wire, length
            f.seek(start + length)
        elif wire in (1, 5):
            f.seek(8 if wire == 1 else 4, 1)
        else:
            raise ValueError(f"wire type {wire}")


def onnx_external_locations(f: BinaryIO, size: int) -> list[str]:
    """``location`` of every external-data entry of the graph's initializers
    (ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.external_data = 13)."""
    found: list[str] = []
    for number, wire, length in proto_fields(f, size):
        if number != 7 or wire != 2:
            continue
        graph_end = f.tell() + length
        for n2, w2, l2 in proto_fields(f, graph_end):
            if n2 != 5 or w2 != 2:
                continue
            tensor_end = f.tell() + l2
            for n3, w3, l3 in proto_fields(f, tensor_end):
                if n3 != 13 or w3 != 2:
                    continue
                entry_end = f.tell() + l3
                key = val = ""
                for n4, w4, l4 in proto_fields(f, entry_end):
                    if w4 == 2 and n4 in (1, 2) and l4 <= 4096:
                        text = f.read(l4).decode("utf-8", "replace")
                        key, val = (text, val) if n4 == 1 else (key, text)
                if key == "location":
                    found.append(val)
    return found


def scan_onnx(f: BinaryIO, size: int, path: str, where: str = "") -> FileReport:
    report = FileReport(kind="onnx")
    try:
        locations = onnx_external_locations(f, size)
    except ValueError as e:
        report.add("error", f"ONNX: the model cannot be parsed: {e}", where)
        return report
    for location in locations:
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), location))
        if (
            not location
            or location.startswith(("/", "\\"))
            or "\\" in location
            or ":" in location
            or joined == ".."
            or joined.startswith("../")
        ):
            report.add(
                "unsafe",
                f"ONNX: external data location {location!r} escapes the repository",
                where,
            )
    return report


# ---------------------------------------------------------------- Keras

KERAS_MODULES = ("keras", "tf_keras", "keras_hub", "keras_nlp", "keras_cv")
_CODE_MODULES: tuple[str, ...] = ("builtins", "os", "posix", "subprocess", "sys", "importlib")
_CODE_MODULES += ("marshal", "types", "runpy", "shutil", "socket", "pickle", "ctypes", "code")


def check_keras_config(config: Any, report: FileReport, where: str) -> None:
    """Lambda layers (marshalled bytecode or a lambda's source) are unsafe; a layer or
    function from a module that runs code is unsafe; one from a module outside
    Keras is suspicious (loading it imports that module)."""
    stack: list[Any] = [config]
    seen = 0
    while stack and seen < 1_000_000:
        node = stack.pop()
        seen += 1
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        cls = node.get("class_name")
        inner = node.get("config")
        name = node.get("name") or (inner.get("name", "") if isinstance(inner, dict) else "")
        if cls == "Lambda":
            report.add("unsafe", f"Keras: Lambda layer {name!r} runs code on load", where)
        elif cls == "__lambda__":
            report.add("unsafe", "Keras: a serialized lambda (marshalled bytecode)", where)
        module = node.get("module")
        if isinstance(module, str) and cls is not None:
            root = module.split(".")[0]
            if root in _CODE_MODULES:
                report.add("unsafe", f"Keras: {module}.{cls} runs code on load", where)
            elif root not in KERAS_MODULES and module not in ("builtins",):
                report.add(
                    "suspicious",
                    f"Keras: {cls} comes from module {module!r}, outside Keras",
                    where,
                )


def scan_keras(f: BinaryIO, where: str = "") -> FileReport:
    report = FileReport(kind="keras")
    try:
        with zipfile.ZipFile(f) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > 64 * 1024 * 1024:
                report.add("error", "Keras: config.json is over 64 MiB", where)
                return report
            config = json.loads(archive.read(info))
    except KeyError:
        report.add("error", "Keras: the archive has no config.json", where)
        return report
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        report.add("unsafe", f"Keras: the archive or its config is corrupt: {e}", where)
        return report
    check_keras_config(config, report, where + "config.json")
    return report


def scan_h5(f: BinaryIO, where: str = "") -> FileReport:
    """A legacy Keras HDF5 model: its ``model_config`` attribute holds the config."""
    import h5py

    report = FileReport(kind="keras-h5")
    try:
        with h5py.File(f, "r") as h5:
            raw = h5.attrs.get("model_config")
    except (OSError, ValueError) as e:
        report.add("error", f"HDF5: the file cannot be read: {e}", where)
        return report
    if raw is None:
        return report
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        check_keras_config(json.loads(text), report, where + "model_config")
    except ValueError as e:
        report.add("error", f"HDF5: model_config is not JSON: {e}", where)
    return report
