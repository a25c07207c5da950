"""Keras and TensorFlow with TensorFlow installed (``pytest -m tensorflow``; ``make
tensorflow`` makes its venv, .venv-tf, about 1.6 GB): ``keras.saving.load_model("hf://...")``
of a model saved through this hub, and a TensorFlow SavedModel pushed and loaded back.

TensorFlow lives in its own venv, as the old client does (.venv-legacy): the suite's
own venv keeps torch and the protobuf the signing library needs, and the clients run
in their own interpreters anyway (tests/clients.py). Without that venv these skip.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from .clients import client_env, run_python
from .conftest import ROOT, Server
from .test_keras import SAVE

TF_PYTHON = ROOT / ".venv-tf" / "bin" / "python"

pytestmark = [
    pytest.mark.tensorflow,
    pytest.mark.skipif(
        not TF_PYTHON.exists(), reason="no TensorFlow venv at .venv-tf (make tensorflow)"
    ),
]

LOAD = r"""
import json, sys
import numpy as np
import keras

args = json.loads(sys.argv[1])
model = keras.saving.load_model("hf://" + args["repo"])
print("RESULT " + json.dumps({"backend": keras.backend.backend(),
                              "pred": model.predict(np.ones((1, 4)), verbose=0).tolist()}))
"""

SAVED_MODEL = r"""
import json, sys, tempfile
import tensorflow as tf
from huggingface_hub import HfApi, snapshot_download

args = json.loads(sys.argv[1])
class Doubler(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, x):
        return x * 2.0 + 1.0

folder = tempfile.mkdtemp()
tf.saved_model.save(Doubler(), folder)
api = HfApi()
api.create_repo(args["repo"])
api.upload_folder(repo_id=args["repo"], folder_path=folder)
loaded = tf.saved_model.load(snapshot_download(args["repo"]))
out = loaded(tf.constant([1.0, 2.0])).numpy().tolist()
print("RESULT " + json.dumps({"out": out, "files": sorted(api.list_repo_files(args["repo"]))}))
"""


def test_keras_loads_from_hf_with_tensorflow(sqlite_server: Server, tmp_path: Path) -> None:
    server = sqlite_server
    token = server.user("tfkeras")
    repo = "tfkeras/mlp"
    # Saved with the torch backend, from the suite's venv ...
    saved = run_python(
        SAVE, {"repo": repo}, client_env(server, token, tmp_path / "a", KERAS_BACKEND="torch")
    )
    assert "requires installing TensorFlow" in saved["load_error"]
    # ... and loaded from hf:// with TensorFlow, in another interpreter.
    env = client_env(server, token, tmp_path / "b", KERAS_BACKEND="tensorflow")
    loaded = run_python(LOAD, {"repo": repo}, env, python=str(TF_PYTHON))
    assert loaded["backend"] == "tensorflow"
    assert loaded["pred"][0] == pytest.approx(saved["pred"][0], abs=1e-5)


def test_tensorflow_saved_model_round_trip(sqlite_server: Server, tmp_path: Path) -> None:
    server = sqlite_server
    token = server.user("tfsaved")
    repo = "tfsaved/doubler"
    env = client_env(server, token, tmp_path / "h", TF_CPP_MIN_LOG_LEVEL="2")
    result = run_python(SAVED_MODEL, {"repo": repo}, env, python=str(TF_PYTHON))
    assert result["out"] == [3.0, 5.0]
    assert "saved_model.pb" in result["files"]
    assert any(f.startswith("variables/") for f in result["files"])
    page = httpx.get(f"{server.url}/{repo}").text
    assert 'class="chip">tensorflow</span>' in page
    assert "tf.saved_model.load(snapshot_download(&#34;tfsaved/doubler&#34;))" in page
