"""SavedModels that TensorFlow itself builds, scanned (``pytest -m tensorflow``; skipped
without the TensorFlow venv, ``make tensorflow``): a graph calling Python
(``tf.py_function``) or reading files (``tf.io.read_file``) is unsafe, a plain one is
not."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from modelcommons.scanning.scan import scan_file

from .test_tensorflow import TF_PYTHON

pytestmark = [
    pytest.mark.tensorflow,
    pytest.mark.skipif(
        not TF_PYTHON.exists(), reason="no TensorFlow venv at .venv-tf (make tensorflow)"
    ),
]

BUILD = r"""
import sys
import tensorflow as tf

out = sys.argv[1]


class Plain(tf.Module):
    def __init__(self):
        self.w = tf.Variable(tf.ones((4, 2)))

    @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32)])
    def __call__(self, x):
        return tf.nn.relu(tf.matmul(x, self.w))


class CallsPython(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec((None,), tf.float32)])
    def __call__(self, x):
        return tf.py_function(lambda t: t * 2, [x], tf.float32)


class ReadsFiles(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec((), tf.string)])
    def __call__(self, path):
        return tf.io.read_file(path)


for name, module in (("plain", Plain()), ("pyfunc", CallsPython()), ("readfile", ReadsFiles())):
    tf.saved_model.save(module, f"{out}/{name}")
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("savedmodels")
    subprocess.run([str(TF_PYTHON), "-c", BUILD, str(out)], check=True, timeout=600)
    return out


def _scan(path: Path) -> tuple[str, list[str]]:
    data = path.read_bytes()
    report = scan_file(io.BytesIO(data), "saved_model.pb", len(data))
    return report.status, [f.message for f in report.findings]


def test_plain_savedmodel_is_safe(models: Path) -> None:
    assert _scan(models / "plain" / "saved_model.pb") == ("safe", [])


def test_py_function_is_unsafe(models: Path) -> None:
    status, findings = _scan(models / "pyfunc" / "saved_model.pb")
    assert status == "unsafe"
    assert any("PyFunc" in f for f in findings)


def test_read_file_is_unsafe(models: Path) -> None:
    status, findings = _scan(models / "readfile" / "saved_model.pb")
    assert status == "unsafe" and any("ReadFile" in f for f in findings)
