"""transformers against the hub: `push_to_hub` and `from_pretrained`, in fresh processes.

Both libraries read HF_ENDPOINT at import time, so each side runs as its own
Python process with the endpoint, token and an empty HF_HOME in its environment,
exactly as a user's script would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from . import clients
from .conftest import Server

pytestmark = pytest.mark.slow

VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "hello",
    "world",
    "model",
    "commons",
    "hub",
    "the",
    "a",
    "##s",
    "##ing",
    "test",
]
SENTENCE = "hello world the model commons hubs testing"

PUSH = r"""
import json, sys
from pathlib import Path

import torch
from huggingface_hub import HfApi
from transformers import BertConfig, BertModel, BertTokenizerFast

args = json.loads(sys.argv[1])
work, repo = Path(args["work"]), args["repo"]
(work / "tok").mkdir()
(work / "tok" / "vocab.txt").write_text("\n".join(args["vocab"]) + "\n")
tokenizer = BertTokenizerFast.from_pretrained(work / "tok", do_lower_case=True)  # a local dir
assert len(tokenizer.get_vocab()) == len(args["vocab"])
tokenizer.push_to_hub(repo, private=True)
config = BertConfig(vocab_size=len(args["vocab"]), hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=37, max_position_embeddings=64)
out = {"ids": tokenizer(args["sentence"])["input_ids"]}
for seed in (1, 2):
    torch.manual_seed(seed)
    model = BertModel(config).eval()
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()},
               work / f"pushed-{seed}.pt")
    commit = model.push_to_hub(repo, commit_message=f"weights seed {seed}")
    out[f"commit{seed}"] = commit.oid
    if seed == 1:
        HfApi().create_tag(repo, tag="v1", revision=commit.oid)
print("RESULT " + json.dumps(out))
"""

LOAD = r"""
import json, sys
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

args = json.loads(sys.argv[1])
work, repo = Path(args["work"]), args["repo"]
out = {}
for name, revision in args["revisions"].items():
    model, info = AutoModel.from_pretrained(repo, revision=revision, output_loading_info=True)
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()},
               work / f"loaded-{name}.pt")
    tokenizer = AutoTokenizer.from_pretrained(repo, revision=revision)
    out[name] = {
        "class": type(model).__name__,
        "missing": sorted(info["missing_keys"]),
        "unexpected": sorted(info["unexpected_keys"]),
        "ids": tokenizer(args["sentence"])["input_ids"],
        "vocab": sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1]),
    }
print("RESULT " + json.dumps(out))
"""


def client_env(server: Server, token: str, home: Path) -> dict[str, str]:
    return clients.client_env(
        server, token, home, TRANSFORMERS_VERBOSITY="error", TOKENIZERS_PARALLELISM="false"
    )


def test_push_to_hub_then_from_pretrained(
    sqlite_server: Server, repo_name: str, tmp_path: Path
) -> None:
    import torch

    srv = sqlite_server
    token = srv.user("tina")
    repo = f"tina/{repo_name}"
    common = {"work": str(tmp_path), "repo": repo, "sentence": SENTENCE}

    pushed = clients.run_python(
        PUSH, {**common, "vocab": VOCAB}, client_env(srv, token, tmp_path / "push-home")
    )
    assert pushed["commit1"] != pushed["commit2"]

    revisions = {"main": None, "tag": "v1", "sha": pushed["commit1"]}
    loaded = clients.run_python(
        LOAD, {**common, "revisions": revisions}, client_env(srv, token, tmp_path / "load-home")
    )

    expected_seed = {"main": 2, "tag": 1, "sha": 1}
    for name, seed in expected_seed.items():
        result = loaded[name]
        assert result["class"] == "BertModel"
        assert result["missing"] == [] and result["unexpected"] == []
        assert result["ids"] == pushed["ids"]
        assert [tok for tok, _ in result["vocab"]] == VOCAB
        want = torch.load(tmp_path / f"pushed-{seed}.pt", weights_only=True)
        got = torch.load(tmp_path / f"loaded-{name}.pt", weights_only=True)
        assert sorted(got) == sorted(want)
        for key, tensor in want.items():
            assert torch.equal(got[key], tensor), f"{name}: {key} differs from seed {seed}"

    # The tokenizer ids are what a WordPiece over our vocab must give, not just self-consistent.
    ids = {tok: i for i, tok in enumerate(VOCAB)}
    assert pushed["ids"] == [
        ids[t]
        for t in [
            "[CLS]",
            "hello",
            "world",
            "the",
            "model",
            "commons",
            "hub",
            "##s",
            "test",
            "##ing",
            "[SEP]",
        ]
    ]

    # The repo was pushed private: without the token the same load must fail.
    anon = client_env(srv, "", tmp_path / "anon-home")
    anon.pop("HF_TOKEN")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom transformers import AutoConfig\n"
            "AutoConfig.from_pretrained(sys.argv[1])",
            repo,
        ],
        capture_output=True,
        text=True,
        env=anon,
        timeout=300,
    )
    assert result.returncode != 0
    assert "huggingface_hub.errors.RepositoryNotFoundError" in result.stderr, result.stderr[-3000:]
    assert "is not a valid model identifier" in result.stderr
