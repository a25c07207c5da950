"""Mixed traffic for benchmarks/scale.py (locust): what the Hugging Face clients and a
browser send, request for request: downloads (a small file and an LFS file), repository
info, trees, search, a page, commits, and LFS uploads (batch, PUT, commit).

Settings come from the environment: BENCH_TOKEN, BENCH_REPO, BENCH_BRANCHES.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random

from locust import HttpUser, between, task

TOKEN = os.environ["BENCH_TOKEN"]
REPO = os.environ["BENCH_REPO"]
BRANCHES = os.environ.get("BENCH_BRANCHES", "main").split(",")
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LFS_BYTES = 256 * 1024


class HubUser(HttpUser):
    wait_time = between(0.2, 0.6)

    @task(4)
    def download_small(self) -> None:
        self.client.get(f"/{REPO}/resolve/main/config.json", headers=AUTH, name="download small")

    @task(2)
    def download_lfs(self) -> None:
        self.client.get(f"/{REPO}/resolve/main/weights.bin", headers=AUTH, name="download lfs")

    @task(2)
    def info(self) -> None:
        self.client.get(f"/api/models/{REPO}", headers=AUTH, name="model info")

    @task(2)
    def tree(self) -> None:
        self.client.get(f"/api/models/{REPO}/tree/main", headers=AUTH, name="tree")

    @task(2)
    def search(self) -> None:
        self.client.get("/api/models?search=bench&limit=20", headers=AUTH, name="search")

    @task(2)
    def page(self) -> None:
        self.client.get(f"/{REPO}", headers=AUTH, name="page")

    def _commit(self, branch: str, line: dict[str, object], name: str) -> None:
        lines = [{"key": "header", "value": {"summary": name}}, line]
        self.client.post(
            f"/api/models/{REPO}/commit/{branch}",
            data="\n".join(json.dumps(x) for x in lines),
            headers={**AUTH, "Content-Type": "application/x-ndjson"},
            name=name,
        )

    @task(1)
    def commit(self) -> None:
        path = f"c/{random.getrandbits(64):016x}.txt"
        content = base64.b64encode(os.urandom(64)).decode()
        line = {"key": "file", "value": {"path": path, "content": content, "encoding": "base64"}}
        self._commit(random.choice(BRANCHES), line, "commit")

    @task(1)
    def lfs_upload(self) -> None:
        data = os.urandom(LFS_BYTES)
        oid = hashlib.sha256(data).hexdigest()
        batch = self.client.post(
            f"/{REPO}.git/info/lfs/objects/batch",
            json={"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]},
            headers=AUTH,
            name="lfs batch",
        )
        if batch.status_code != 200:
            return
        actions = batch.json()["objects"][0].get("actions")
        if actions:
            self.client.put(actions["upload"]["href"], data=data, name="lfs put")
        line = {
            "key": "lfsFile",
            "value": {"path": f"l/{oid[:16]}.bin", "algo": "sha256", "oid": oid, "size": len(data)},
        }
        self._commit(random.choice(BRANCHES), line, "lfs commit")
