"""Take the screenshots in docs/screenshots/ from a fresh hub with sample content.

    .venv/bin/python docs/screenshots.py

Needs Debian's chromium (/usr/bin/chromium). Starts its own hub on a free
port with a temporary data dir, and stops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from huggingface_hub import CommitOperationAdd, HfApi
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CARD = """---
license: apache-2.0
library_name: transformers
pipeline_tag: text-classification
language: [en, fr]
datasets: [ada/reviews]
base_model: ada/tiny-bert-base
tags: [sentiment, tiny]
---
# Tiny sentiment BERT

A two-layer BERT fine-tuned to tell **good** reviews from bad ones.

| split | accuracy |
|---|---|
| validation | 0.91 |
| test | 0.89 |

```python
from transformers import pipeline
classify = pipeline("text-classification", model="ada/tiny-sentiment")
classify("What a lovely day")
```
"""


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="commons-shots-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "modelcommons"]
    subprocess.run([*cli, "user", "create", "ada", "--data-dir", str(data)],
                   input="a good password\n", text=True, check=True)
    token = subprocess.run([*cli, "token", "create", "ada", "--write", "--data-dir", str(data)],
                           capture_output=True, text=True, check=True).stdout.split()[-1]
    server = subprocess.Popen([*cli, "serve", "--port", str(port), "--data-dir", str(data)])
    try:
        for _ in range(100):
            try:
                httpx.get(f"{url}/api/health").raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        seed(HfApi(endpoint=url, token=token))
        shoot(url)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data, ignore_errors=True)


def seed(api: HfApi) -> None:
    api.create_repo("ada/tiny-sentiment")
    api.create_commit("ada/tiny-sentiment", [
        CommitOperationAdd("README.md", CARD.encode()),
        CommitOperationAdd("config.json", b'{"hidden_size": 32, "num_hidden_layers": 2}\n'),
        CommitOperationAdd("model.safetensors", os.urandom(20_000)),
        CommitOperationAdd("tokenizer/vocab.txt", b"[PAD]\n[UNK]\ngood\nbad\n"),
    ], commit_message="Add the fine-tuned model")
    api.create_commit("ada/tiny-sentiment", [
        CommitOperationAdd("config.json", b'{"hidden_size": 64, "num_hidden_layers": 2}\n'),
    ], commit_message="Widen the hidden layer")
    api.create_repo("ada/tiny-bert-base")
    api.create_repo("ada/reviews", repo_type="dataset")
    api.create_commit("ada/reviews", [
        CommitOperationAdd("README.md", b"---\nlicense: cc-by-4.0\ntask_categories: "
                           b"[text-classification]\nlanguage: [en]\n---\n# Reviews\n"),
        CommitOperationAdd("data/train.csv", b"text,label,stars\ngreat product,1,4.5\n"
                           b"terrible,0,1.0\nok I guess,1,3.0\nwould buy again,1,5.0\n"),
    ], commit_message="Add reviews", repo_type="dataset")


def shoot(url: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{url}/login")
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill("a good password")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{url}/")
        shots = {
            "home": "/",
            "repository": "/ada/tiny-sentiment",
            "files": "/ada/tiny-sentiment/tree/main",
            "file": "/ada/tiny-sentiment/blob/main/config.json",
            "history": "/ada/tiny-sentiment/commits/main",
            "dataset-preview": "/datasets/ada/reviews/blob/main/data/train.csv",
            "search": "/search?q=sentiment",
            "upload": "/ada/tiny-sentiment/upload/main",
            "tokens": "/settings/tokens",
        }
        for name, path in shots.items():
            page.goto(url + path)
            page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
        page.goto(f"{url}/ada/tiny-sentiment/commits/main")
        page.get_by_role("link", name="Widen the hidden layer").click()
        page.screenshot(path=str(OUT / "diff.png"), full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844}, color_scheme="dark")
        phone.goto(f"{url}/ada/tiny-sentiment")
        phone.screenshot(path=str(OUT / "phone-dark.png"))
        browser.close()


if __name__ == "__main__":
    main()
