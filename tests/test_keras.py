"""Keras 3 through this hub: `keras.saving.save_model(model, "hf://ns/name")` with the torch
backend and HF_ENDPOINT, the card Keras writes, and the repository page it gets."""

from __future__ import annotations

import httpx
import pytest
from huggingface_hub import HfApi

from .clients import client_env, run_python
from .conftest import Server

pytestmark = pytest.mark.slow

SAVE = r"""
import json, sys
import numpy as np
import keras

args = json.loads(sys.argv[1])
keras.utils.set_random_seed(0)
inputs = keras.Input(shape=(4,))
hidden = keras.layers.Dense(3, activation="relu")(inputs)
model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
keras.saving.save_model(model, "hf://" + args["repo"])
out = {"backend": keras.backend.backend(),
       "pred": model.predict(np.ones((1, 4)), verbose=0).tolist()}
try:
    loaded = keras.saving.load_model("hf://" + args["repo"])
    out["loaded"] = loaded.predict(np.ones((1, 4)), verbose=0).tolist()
except Exception as exc:  # current Keras needs TensorFlow's file system for hf:// loads
    out["load_error"] = f"{type(exc).__name__}: {exc}"[:300]
# Without TensorFlow: the same files, fetched by huggingface_hub, loaded from the folder.
from huggingface_hub import snapshot_download
local = keras.saving.load_model(snapshot_download(args["repo"]))
out["local"] = local.predict(np.ones((1, 4)), verbose=0).tolist()
print("RESULT " + json.dumps(out))
"""


def test_keras_save_to_hf_and_the_card_it_writes(sqlite_server: Server, tmp_path) -> None:
    server = sqlite_server
    token = server.user("kerasuser")
    repo = "kerasuser/tiny-mlp"
    env = client_env(server, token, tmp_path / "home", KERAS_BACKEND="torch")
    result = run_python(SAVE, {"repo": repo}, env)
    assert result["backend"] == "torch"

    api = HfApi(endpoint=server.url, token=token)
    files = set(api.list_repo_files(repo))
    assert {"config.json", "metadata.json", "model.weights.h5", "README.md"} <= files
    readme = api.hf_hub_download(repo, "README.md")
    with open(readme) as f:
        assert f.read().startswith("\n---\nlibrary_name: keras\n---")  # a blank first line
    info = api.model_info(repo)
    assert info.library_name == "keras"
    assert info.card_data is not None and info.card_data.get("library_name") == "keras"
    assert "keras" in (info.tags or [])
    server.settle(repo)  # the search index follows in a pipeline job
    listed = [m.id for m in api.list_models(filter="keras", author="kerasuser")]
    assert listed == [repo]

    page = httpx.get(f"{server.url}/{repo}").text
    assert "keras.saving.load_model(&#34;hf://kerasuser/tiny-mlp&#34;)" in page
    assert 'class="chip">keras</span>' in page
    # The search facet counts it under its library.
    search = httpx.get(f"{server.url}/models", params={"library": "keras"}).text
    assert repo in search

    assert result["local"][0] == pytest.approx(result["pred"][0])
    if "loaded" in result:  # TensorFlow installed: hf:// itself
        assert result["loaded"][0] == pytest.approx(result["pred"][0])
    else:  # what hf:// loading lacks is TensorFlow's file system, not anything of this hub
        assert "requires installing TensorFlow" in result["load_error"]


def test_tensorflow_files_are_recognised(sqlite_server: Server) -> None:
    server = sqlite_server
    token = server.user("tfuser")
    api = HfApi(endpoint=server.url, token=token)
    repo = "tfuser/legacy"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"\x89HDF\r\n", path_in_repo="tf_model.h5", repo_id=repo)
    page = httpx.get(f"{server.url}/{repo}").text
    assert 'class="chip">tensorflow</span>' in page
    assert "TFAutoModel.from_pretrained(&#34;tfuser/legacy&#34;)" in page
    saved = "tfuser/saved"
    api.create_repo(saved)
    api.upload_file(path_or_fileobj=b"\x08\x01", path_in_repo="saved_model.pb", repo_id=saved)
    page = httpx.get(f"{server.url}/{saved}").text
    assert "tf.saved_model.load(" in page
