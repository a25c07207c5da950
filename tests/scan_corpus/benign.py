"""Benign files: real PyTorch state dicts and checkpoints (new zip and legacy
formats), safetensors, NumPy arrays, Keras models without Lambda layers, plain
pickles in every protocol, sklearn-style pickles (``suspicious``, never ``unsafe``),
well-formed GGUF and ONNX headers, and the text files a repository carries."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import struct

import numpy as np

from .hostile import _str, _varint, saved_model


def _torch_save(obj: object, *, legacy: bool = False) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def _models() -> dict[str, object]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    return {
        "linear": nn.Linear(8, 4),
        "mlp": nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)),
        "conv": nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)),
        "lstm": nn.LSTM(4, 8),
        "embedding": nn.Embedding(32, 8),
        "transformer": nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32),
    }


def _bert_state() -> dict[str, object]:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        vocab_size=50,
    )
    return dict(BertModel(config).state_dict())


def sklearn_style(cls: str = "LogisticRegression") -> bytes:
    """What an sklearn estimator pickles to: its class by module and name (STACK_GLOBAL),
    an empty instance, then a state dict set with BUILD (no sklearn needed)."""
    state = pickle.dumps({"C": 1.0, "coef_": [0.5, -0.25], "_sklearn_version": "1.6.1"}, 4)
    body = state[2:-1]  # the dict's opcodes, without PROTO and STOP
    if body.startswith(b"\x95"):
        body = body[9:]  # without the FRAME header
    return (
        b"\x80\x04" + _str("sklearn.linear_model._logistic") + _str(cls) + b"\x93)\x81"
        + body + b"b."
    )  # fmt: skip


def safetensors_file(tensors: dict[str, object]) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in tensors.items()})  # type: ignore[attr-defined]


def keras_model(kind: str) -> bytes:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import tempfile

    import keras  # type: ignore[import-untyped]

    if kind == "dense":
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu")])
    else:
        inputs = keras.Input((6, 4))
        x = keras.layers.Conv1D(2, 3)(inputs)
        outputs = keras.layers.GlobalAveragePooling1D()(x)
        model = keras.Model(inputs, outputs)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def keras_h5() -> bytes:
    import h5py

    config = {"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense"}]}}
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config)
        h5.create_dataset("w", data=np.ones((2, 2)))
    return buf.getvalue()


def gguf_file() -> bytes:
    def s(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    kvs = [
        s("general.architecture") + struct.pack("<I", 8) + s("llama"),
        s("llama.context_length") + struct.pack("<II", 4, 2048),
        s("tokenizer.chat_template") + struct.pack("<I", 8)
        + s("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"),
        s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + s("a") + s("b") + s("c"),
    ]  # fmt: skip
    tensor = s("tok_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 4, 3)
    tensor += struct.pack("<IQ", 0, 0)
    body = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs)) + b"".join(kvs) + tensor
    return body + b"\x00" * (32 - len(body) % 32) + b"\x00" * 48


def onnx_file() -> bytes:
    def field(number: int, payload: bytes) -> bytes:
        return _varint((number << 3) | 2) + _varint(len(payload)) + payload

    entry = field(1, b"location") + field(2, b"weights/w.bin")
    tensor = field(8, b"w") + field(13, entry) + _varint(14 << 3) + _varint(1)
    graph = field(1, field(1, b"x")) + field(5, tensor) + field(2, b"main")
    return _varint(1 << 3) + _varint(8) + field(2, b"pytorch") + field(7, graph)


def joblib_files() -> dict[str, bytes]:
    """Real joblib dumps: arrays written inside the pickle stream, an object array's
    nested pickle, and one saved under a ``.pkl`` name."""
    import joblib  # type: ignore[import-untyped]

    out = {}
    for name, obj in (
        ("arrays.joblib", {"coef": np.arange(6.0).reshape(2, 3), "bias": np.zeros(3)}),
        ("mixed.joblib", {"o": np.array([1, "a"], dtype=object), "w": np.ones((2, 2))}),
        ("estimator.pkl", {"w": np.arange(10), "labels": np.array(["cat", "dog"])}),
    ):
        buf = io.BytesIO()
        joblib.dump(obj, buf)
        out[name] = buf.getvalue()
    return out


def benign() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    models = _models()
    for name, model in models.items():
        state = model.state_dict()  # type: ignore[attr-defined]
        files[f"{name}.pt"] = _torch_save(state)
        files[f"{name}.safetensors"] = safetensors_file(dict(state))
    files["pytorch_model.bin"] = _torch_save(_bert_state())
    files["bert.safetensors"] = safetensors_file(_bert_state())
    files["legacy_linear.bin"] = _torch_save(models["linear"].state_dict(), legacy=True)  # type: ignore[attr-defined]
    files["checkpoint.ckpt"] = _torch_save(
        {"epoch": 3, "state_dict": models["mlp"].state_dict(), "lr": [0.1, 0.01]}  # type: ignore[attr-defined]
    )
    for proto in range(6):
        files[f"data_p{proto}.pkl"] = pickle.dumps(
            {"vocab": ["a", "b"], "n": proto, "t": (1.5, None), "s": {1, 2}}, protocol=proto
        )
    files["ordered.pkl"] = pickle.dumps(collections.OrderedDict(a=1), protocol=2)
    files["array.npy"] = _npy(np.arange(12, dtype=np.float32).reshape(3, 4))
    files["ints.npy"] = _npy(np.arange(5, dtype=np.int64))
    buf = io.BytesIO()
    np.savez(buf, a=np.ones(3), b=np.zeros((2, 2)))
    files["arrays.npz"] = buf.getvalue()
    files["numpy_array.pkl"] = pickle.dumps(np.arange(5), protocol=4)
    files["numpy_array_p5.pkl"] = pickle.dumps(np.arange(5), protocol=5)  # _frombuffer
    files["logreg.pkl"] = sklearn_style()
    files["forest.joblib"] = sklearn_style("RandomForestClassifier")
    files.update(joblib_files())
    files["dense.keras"] = keras_model("dense")
    files["conv.keras"] = keras_model("conv")
    files["model.h5"] = keras_h5()
    files["model.gguf"] = gguf_file()
    files["model.onnx"] = onnx_file()
    files["tf/saved_model.pb"] = saved_model(
        ["Placeholder", "StatefulPartitionedCall", "RestoreV2", "SaveV2"],
        ["MatMul", "BiasAdd", "Relu", "ReadVariableOp", "Identity"],
    )
    files["config.json"] = json.dumps({"model_type": "bert", "hidden_size": 16}).encode()
    files["README.md"] = b"---\nlicense: mit\n---\n# A model\n"
    files["tokenizer.model"] = b"\x0a\x05hello" + bytes(range(40))
    files["empty.bin"] = b""
    return files


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()
