"""Pages stay small on big repositories: paging and lazy folders, never everything."""

from __future__ import annotations

import re

import httpx
from huggingface_hub import CommitOperationAdd, HfApi

from modelcommons.hub import Hub
from modelcommons.settings import Settings
from modelcommons.storage.commits import AddFile, CommitRequest, StoredContent
from modelcommons.storage.gitobjects import object_id

from .conftest import Server


def test_ten_thousand_files_and_a_thousand_commits(sqlite_server: Server) -> None:
    srv = sqlite_server
    api = HfApi(endpoint=srv.url, token=srv.user("bigrepo"))
    repo = "bigrepo/huge"
    api.create_repo(repo, exist_ok=True)
    ops = [CommitOperationAdd(f"shards/part-{i:05d}.txt", f"{i}\n".encode()) for i in range(10_000)]
    ops.append(CommitOperationAdd("README.md", b"# Huge\n"))
    api.create_commit(repo, ops, commit_message="ten thousand files")
    # A thousand more commits, written through the same commit engine in-process.
    hub = Hub(Settings(data_dir=srv.data_dir))
    with hub.db.read() as session:
        from modelcommons.storage import repos

        repo_pk = repos.get_repo(session, "model", "bigrepo", "huge").id
    for i in range(1000):
        data = f"step {i}\n".encode()
        content = StoredContent(hub.store_bytes(data), len(data), object_id("blob", data))
        hub.committer.commit(
            repo_pk,
            "main",
            "bigrepo",
            CommitRequest(f"step {i}", "", [AddFile("progress.txt", content=content)]),
        )
    hub.close()

    with httpx.Client(base_url=srv.url, timeout=60) as client:
        root = client.get(f"/{repo}/tree/main")
        assert root.status_code == 200
        assert "shards" in root.text and "part-00000" not in root.text  # folders are lazy
        shards = client.get(f"/{repo}/tree/main/shards")
        rows = re.findall(r"part-\d{5}\.txt</a>", shards.text)
        assert len(rows) == 100 and "Next page" in shards.text
        page2 = client.get(f"/{repo}/tree/main/shards", params={"offset": 100})
        assert "part-00100.txt" in page2.text and "part-00099.txt" not in page2.text
        history = client.get(f"/{repo}/commits/main")
        assert len(re.findall(r'class="commit-title"', history.text)) == 50
        assert "step 999" in history.text and "step 949" not in history.text
        assert "Older" in history.text
        card = client.get(f"/{repo}")
        assert card.status_code == 200 and "part-0" not in card.text
