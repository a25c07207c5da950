"""What huggingface_hub's own test suite expects of a hub, through the real client.

Each test here stands for tests of the client's suite (``make peer``) that failed on an
incompatibility (issue 14): ids without a namespace, case-insensitive ids, request ids,
moved repositories, full names, preupload's modes, oids and ``.gitignore``, card
validation, ``paths-info`` with ``expand``, folder deletions, access-request decisions
and the Hub's error texts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    hf_hub_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .conftest import Server


@pytest.fixture(scope="module")
def pattern_server() -> Iterator[Server]:
    """A hub whose preupload sends ``.gitattributes`` LFS patterns to LFS, as the Hub."""
    srv = Server("sqlite", lfs_by_pattern="true")
    srv.start()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def no_pattern_server() -> Iterator[Server]:
    """A hub whose preupload answers by size alone (``lfs_by_pattern`` turned off)."""
    srv = Server("sqlite", lfs_by_pattern="false")
    srv.start()
    yield srv
    srv.close()


def test_ids_without_a_namespace_are_missing_repositories(
    sqlite_server: Server, hf_env: None
) -> None:
    api = HfApi(endpoint=sqlite_server.url, token=sqlite_server.user("alice"))
    assert api.repo_exists("no-namespace") is False
    assert api.revision_exists("no-namespace", "main") is False
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_commits("no-namespace")
    assert api.file_exists("no-namespace", "file.txt") is False
    with pytest.raises(RepositoryNotFoundError):
        api.unlike("no-namespace")
    r = httpx.delete(f"{sqlite_server.url}/api/datasets/no-namespace/like")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"


def test_every_response_has_a_request_id_the_client_quotes(
    sqlite_server: Server, hf_env: None
) -> None:
    ok = httpx.get(f"{sqlite_server.url}/api/health")
    other = httpx.get(f"{sqlite_server.url}/api/health")
    assert re.fullmatch(r"[0-9a-f]{24}", ok.headers["x-request-id"])
    assert ok.headers["x-request-id"] != other.headers["x-request-id"]
    api = HfApi(endpoint=sqlite_server.url, token=sqlite_server.user("alice"))
    with pytest.raises(RepositoryNotFoundError) as info:
        api.delete_repo("alice/never-there")
    request_id = info.value.response.headers["x-request-id"]
    assert f"(Request ID: {request_id})" in str(info.value)
    # The Hub's own words, which the client does not repeat after its own.
    assert str(info.value).count("Repository Not Found") == 1
    assert "Repository not found" not in str(info.value)


def test_repository_ids_ignore_letter_case(sqlite_server: Server, repo_name: str) -> None:
    api = HfApi(endpoint=sqlite_server.url, token=sqlite_server.user("Carla"))
    repo = api.create_repo(f"Carla/{repo_name}-MiXeD").repo_id
    api.create_commit(
        repo.lower(),
        [CommitOperationAdd("file.txt", b"content")],
        commit_message="lower-case id",
    )
    assert api.model_info(repo.upper()).id == repo
    assert "file.txt" in api.list_repo_files(repo)


def test_a_moved_repository_redirects_those_who_may_see_it(
    server: Server, repo_name: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    owner = HfApi(endpoint=server.url, token=server.user("mover"))
    stranger = HfApi(endpoint=server.url, token=server.user("outsider"))
    old, new = f"mover/{repo_name}", f"mover/{repo_name}-renamed"
    owner.create_repo(old, private=True)
    owner.upload_file(path_or_fileobj=b"content", path_in_repo="file.txt", repo_id=old)
    owner.move_repo(old, new)

    # The owner's client follows the redirects: downloads, info, pages.
    path = hf_hub_download(
        old, "file.txt", token=owner.token, cache_dir=tmp_path / "c", endpoint=server.url
    )
    with open(path) as f:
        assert f.read() == "content"
    assert owner.model_info(old).id == new
    auth = {"Authorization": f"Bearer {owner.token}"}
    api_hop = httpx.get(f"{server.url}/api/models/{old}/revision/main?expand=sha", headers=auth)
    assert api_hop.status_code == 307
    assert api_hop.headers["location"] == f"/api/models/{new}/revision/main?expand=sha"

    # Someone who cannot see the private repository learns nothing from the old name.
    for who in (stranger, HfApi(endpoint=server.url, token=False)):
        with pytest.raises(RepositoryNotFoundError):
            who.model_info(old)
    anonymous = httpx.head(f"{server.url}/{old}/resolve/main/file.txt")
    assert anonymous.status_code in (401, 404) and "location" not in anonymous.headers
    assert httpx.get(f"{server.url}/{old}").status_code == 404
    # Public now: the pages redirect for anyone.
    owner.update_repo_settings(new, private=False)
    page = httpx.get(f"{server.url}/{old}/tree/main")
    assert page.status_code == 307 and page.headers["location"] == f"/{new}/tree/main"

    # A repository that takes the old name wins over the redirect.
    owner.create_repo(old)
    assert owner.model_info(old).id == old
    assert owner.list_repo_files(old) == [".gitattributes"]
    owner.delete_repo(old)
    # Moving back makes the name the repository's again; the other name now redirects.
    owner.move_repo(new, old)
    assert owner.list_repo_files(old) == [".gitattributes", "file.txt"]
    assert owner.model_info(new).id == old


def test_full_names_of_users_and_organisations(sqlite_server: Server) -> None:
    srv = sqlite_server
    out = srv.cli("user", "create", "fullname-user", "--fullname", "Dummy User", "--token", "write")
    token = out.stdout.strip().splitlines()[-1]
    srv.cli("org", "create", "fullname-org", "--member", "fullname-user", "--fullname", "An Org")
    me = HfApi(endpoint=srv.url, token=token).whoami()
    assert me["fullname"] == "Dummy User"
    assert [(o["name"], o["fullname"]) for o in me["orgs"]] == [("fullname-org", "An Org")]
    srv.cli("org", "set-fullname", "fullname-org", "The   Org")
    srv.cli("user", "set-fullname", "fullname-user", "")
    me = HfApi(endpoint=srv.url, token=token).whoami()
    assert me["fullname"] == "fullname-user"  # empty means the user name
    assert me["orgs"][0]["fullname"] == "The Org"
    bad = srv.cli("user", "set-fullname", "fullname-user", "a\x01b", check=False)
    assert bad.returncode != 0


def test_an_organisation_whose_new_repositories_are_private(server: Server, repo_name: str) -> None:
    out = server.cli("user", "create", "private-admin", "--token", "write")
    token = out.stdout.strip().splitlines()[-1]
    server.cli("org", "create", "private-org", "--member", "private-admin")
    server.cli("org", "default-visibility", "private-org", "private")
    api = HfApi(endpoint=server.url, token=token)
    quiet = api.create_repo(f"private-org/{repo_name}").repo_id
    assert api.model_info(quiet, expand=["private"]).private
    assert not api.repo_exists(quiet, token=False)  # private means invisible
    # Asking for public still works, and other namespaces keep public by default.
    loud = api.create_repo(f"private-org/{repo_name}-public", private=False).repo_id
    assert not api.model_info(loud, expand=["private"]).private
    mine = api.create_repo(f"private-admin/{repo_name}").repo_id
    assert not api.model_info(mine, expand=["private"]).private
    server.cli("org", "default-visibility", "private-org", "public")
    later = api.create_repo(f"private-org/{repo_name}-later").repo_id
    assert not api.model_info(later, expand=["private"]).private
    assert server.cli("org", "default-visibility", "private-org", "secret", check=False).returncode


def _preupload(srv: Server, token: str, repo: str, files: list[dict[str, object]]) -> dict:  # type: ignore[type-arg]
    r = httpx.post(
        f"{srv.url}/api/models/{repo}/preupload/main",
        headers={"Authorization": f"Bearer {token}"},
        json={"files": files},
    )
    assert r.status_code == 200, r.text
    return {f["path"]: f for f in r.json()["files"]}


def test_preupload_follows_patterns_oids_and_the_committed_gitignore(
    pattern_server: Server, repo_name: str, hf_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    srv = pattern_server
    api = HfApi(endpoint=srv.url, token=srv.user("pat"))
    repo = api.create_repo(f"pat/{repo_name}").repo_id
    ops = [
        CommitOperationAdd("lfs.bin", b"small but LFS"),
        CommitOperationAdd("notes.txt", b"regular"),
        CommitOperationAdd(".gitignore", b"nested/*\n"),
    ]
    api.create_commit(repo, ops, commit_message="first")
    assert ops[0]._upload_mode == "lfs" and ops[0]._is_uploaded
    assert ops[1]._upload_mode == "regular"
    modes = _preupload(
        srv,
        api.token,
        repo,
        [
            {"path": "lfs.bin", "size": 13},
            {"path": "notes.txt", "size": 7},
            {"path": "empty.bin", "size": 0},
            {"path": "nested/file.bin", "size": 4},
        ],
    )
    assert modes["lfs.bin"]["uploadMode"] == "lfs"
    assert modes["lfs.bin"]["oid"] == hashlib.sha256(b"small but LFS").hexdigest()
    assert modes["notes.txt"]["oid"] == hashlib.sha1(b"blob 7\0regular").hexdigest()
    assert modes["empty.bin"]["uploadMode"] == "regular"
    assert modes["nested/file.bin"]["shouldIgnore"] is True
    assert modes["notes.txt"]["shouldIgnore"] is False

    # Unchanged files, LFS ones included, are not sent again: nothing to commit.
    before = api.model_info(repo).sha
    caplog.set_level("INFO", logger="huggingface_hub")
    api.create_commit(
        repo,
        [
            CommitOperationAdd("lfs.bin", b"small but LFS"),
            CommitOperationAdd("notes.txt", b"regular"),
        ],
        commit_message="again",
    )
    assert "No files have been modified since last commit" in caplog.text
    assert api.model_info(repo).sha == before

    # The committed .gitignore holds back an ignored folder in an upload.
    folder = {"nested/file.bin": b"ignored", "kept.txt": b"kept"}
    api.create_commit(
        repo, [CommitOperationAdd(p, c) for p, c in folder.items()], commit_message="folder"
    )
    assert not api.file_exists(repo, "nested/file.bin")
    assert api.file_exists(repo, "kept.txt")


def test_preupload_oid_follows_the_mode_answered(
    no_pattern_server: Server, repo_name: str, hf_env: None
) -> None:
    """A file stored as LFS but answered ``regular`` (a hub with ``lfs_by_pattern`` off)
    gets its git blob id, which is what the client compares a regular file with."""
    srv = no_pattern_server
    api = HfApi(endpoint=srv.url, token=srv.user("oids"))
    repo = api.create_repo(f"oids/{repo_name}").repo_id
    api.upload_file(path_or_fileobj=b"weights", path_in_repo="w.bin", repo_id=repo)
    [entry] = api.get_paths_info(repo, ["w.bin"])
    assert entry.lfs is not None  # *.bin is stored as LFS
    modes = _preupload(srv, api.token, repo, [{"path": "w.bin", "size": 7}])
    assert modes["w.bin"]["uploadMode"] == "regular"
    assert modes["w.bin"]["oid"] == hashlib.sha1(b"blob 7\0weights").hexdigest()


def test_validate_yaml_checks_model_index_and_warns_on_no_metadata(
    sqlite_server: Server, repo_name: str, hf_env: None
) -> None:
    api = HfApi(endpoint=sqlite_server.url, token=sqlite_server.user("carder"))
    repo = api.create_repo(f"carder/{repo_name}").repo_id
    invalid = b"\n---\nmodel-index: foo\n---\n\nInvalid.\n"  # the suite's, blank line first
    with pytest.raises(ValueError, match=r"Invalid metadata in README\.md"):
        api.create_commit(
            repo, [CommitOperationAdd("README.md", invalid)], commit_message="bad card"
        )
    with pytest.warns(UserWarning, match=r"Warnings while validating metadata in README\.md"):
        api.create_commit(
            repo, [CommitOperationAdd("README.md", b"No metadata.")], commit_message="bare"
        )
    good = (
        b"---\nmodel-index:\n- name: m\n  results:\n  - task: {type: text-classification}\n"
        b"    dataset: {type: imdb, name: IMDB}\n    metrics: [{type: accuracy, value: 0.9}]\n"
        b"---\n"
    )
    r = httpx.post(f"{sqlite_server.url}/api/validate-yaml", json={"content": good.decode()})
    assert r.status_code == 200 and r.json() == {"errors": [], "warnings": []}
    broken = good.decode().replace("value: 0.9", "nothing: 1")
    r = httpx.post(f"{sqlite_server.url}/api/validate-yaml", json={"content": broken})
    assert r.status_code == 400
    assert [e["message"] for e in r.json()["errors"]] == [
        '"model-index"[0].results[0].metrics[0].value is required'
    ]


def test_paths_info_expand_and_folder_deletion(
    sqlite_server: Server, repo_name: str, hf_env: None
) -> None:
    api = HfApi(endpoint=sqlite_server.url, token=sqlite_server.user("expander"))
    repo = api.create_repo(f"expander/{repo_name}").repo_id
    api.create_commit(
        repo,
        [CommitOperationAdd("a/1.txt", b"1"), CommitOperationAdd("b.txt", b"b")],
        commit_message="the first files",
    )
    entries = api.get_paths_info(repo, ["b.txt", "a"], expand=True)
    assert {e.path: e.last_commit.title for e in entries} == {  # type: ignore[union-attr]
        "b.txt": "the first files",
        "a": "the first files",
    }
    assert api.get_paths_info(repo, ["b.txt"])[0].last_commit is None
    # "a" without its trailing slash is sent as a file deletion: the folder goes.
    api.create_commit(repo, [CommitOperationDelete("a")], commit_message="drop a")
    assert api.list_repo_files(repo) == [".gitattributes", "b.txt"]


def test_access_requests_as_the_hub_answers_them(
    sqlite_server: Server, repo_name: str, hf_env: None
) -> None:
    srv = sqlite_server
    owner = HfApi(endpoint=srv.url, token=srv.user("gatekeeper"))
    srv.cli("user", "create", "granted-one", "--email", "granted@example.org")
    repo = owner.create_repo(f"gatekeeper/{repo_name}").repo_id
    owner.update_repo_settings(repo, gated="manual")
    owner.grant_access(repo, "granted-one")
    [accepted] = owner.list_accepted_access_requests(repo)
    assert accepted.username == "granted-one" and accepted.email is None  # never shared
    with pytest.raises(HfHubHTTPError):
        owner.grant_access(repo, "granted-one")
    with pytest.raises(HfHubHTTPError) as again:
        owner.accept_access_request(repo, "granted-one")
    assert again.value.response.status_code == 409
    owner.reject_access_request(repo, "granted-one", rejection_reason="no")
    with pytest.raises(HfHubHTTPError):
        owner.reject_access_request(repo, "granted-one", rejection_reason="no")
    owner.cancel_access_request(repo, "granted-one")
    with pytest.raises(HfHubHTTPError):
        owner.cancel_access_request(repo, "granted-one")
    owner.accept_access_request(repo, "granted-one")
    assert [r.username for r in owner.list_accepted_access_requests(repo)] == ["granted-one"]


def test_error_texts_match_the_hubs(sqlite_server: Server, repo_name: str, hf_env: None) -> None:
    api = HfApi(endpoint=sqlite_server.url, token=sqlite_server.user("texts"))
    repo = api.create_repo(f"texts/{repo_name}").repo_id
    other = api.create_repo(f"texts/{repo_name}-other").repo_id
    with pytest.raises(HfHubHTTPError, match=r"A model repository called .* already exists"):
        api.move_repo(repo, other)
    api.create_branch(repo, branch="cool-branch")
    with pytest.raises(HfHubHTTPError, match="Reference refs/heads/cool-branch already exists"):
        api.create_branch(repo, branch="cool-branch")
    with pytest.raises(HfHubHTTPError, match="Cannot delete refs/heads/main"):
        api.delete_branch(repo, branch="main")
    with pytest.raises(HfHubHTTPError, match="Invalid rev id"):
        api.delete_branch(repo, branch="not-there")
    parent = api.model_info(repo).sha
    api.upload_file(path_or_fileobj=b"1", path_in_repo="one.txt", repo_id=repo)
    with pytest.raises(HfHubHTTPError) as stale:
        api.create_commit(
            repo, [CommitOperationAdd("two.txt", b"2")], commit_message="x", parent_commit=parent
        )
    assert stale.value.response.status_code == 412
    assert "The branch was updated since you opened this page. Please refresh and try again." in (
        str(stale.value)
    )


def test_a_stock_client_uploads_past_the_regular_ceiling(
    lfs_server: Server, repo_name: str, tmp_path: Path
) -> None:
    """A stock client (hf_xet installed, Xet on, no settings) uploading a file the hub
    wants by LFS: it goes through Xet and comes back byte for byte (cause 15 is moot)."""
    api = HfApi(endpoint=lfs_server.url, token=lfs_server.user("xetful"))
    repo = api.create_repo(f"xetful/{repo_name}").repo_id
    data = bytes(range(256)) * 4300  # 1.1 MB, over this hub's 1 MB regular ceiling
    api.upload_file(path_or_fileobj=data, path_in_repo="big.dat", repo_id=repo)
    [entry] = api.get_paths_info(repo, ["big.dat"])
    assert entry.lfs is not None and entry.lfs.sha256 == hashlib.sha256(data).hexdigest()
    got = api.hf_hub_download(repo, "big.dat", cache_dir=tmp_path)
    assert Path(got).read_bytes() == data


def test_super_squash_folds_one_branch(server: Server, repo_name: str, hf_env: None) -> None:
    api = HfApi(endpoint=server.url, token=server.user("squasher"))
    repo = api.create_repo(f"squasher/{repo_name}").repo_id
    api.upload_file(repo_id=repo, path_in_repo="file.txt", path_or_fileobj=b"content")
    api.upload_file(repo_id=repo, path_in_repo="lfs.bin", path_or_fileobj=b"content")
    api.upload_file(repo_id=repo, path_in_repo="file.txt", path_or_fileobj=b"another_content")
    api.create_branch(repo, branch="v0.1")
    api.upload_file(repo_id=repo, path_in_repo="file.txt", path_or_fileobj=b"foo", revision="v0.1")
    old_head = api.model_info(repo).sha
    api.super_squash_history(repo_id=repo)
    main = api.list_repo_commits(repo)
    assert [c.title for c in main] == ["Super-squash branch 'main' using huggingface_hub"]
    assert api.list_repo_files(repo) == [".gitattributes", "file.txt", "lfs.bin"]
    assert len(api.list_repo_commits(repo, revision="v0.1")) == 5  # other branches keep theirs
    # The old commits stay readable by id (nothing another ref may need is lost).
    assert api.model_info(repo, revision=old_head).sha == old_head
    api.super_squash_history(repo_id=repo, branch="v0.1", commit_message="one")
    assert [c.title for c in api.list_repo_commits(repo, revision="v0.1")] == ["one"]
    with pytest.raises(HfHubHTTPError) as tag:
        api.super_squash_history(repo_id=repo, branch="no-such-branch")
    assert tag.value.response.status_code == 404
    reader = HfApi(endpoint=server.url, token=server.user("squash-reader"))
    with pytest.raises(HfHubHTTPError) as refused:
        reader.super_squash_history(repo_id=repo)
    assert refused.value.response.status_code == 403


def test_super_squash_of_a_pull_request(server: Server, repo_name: str, hf_env: None) -> None:
    """The Hub squashes refs/pr/N too (the dataset viewer squashes refs/convert/parquet)."""
    api = HfApi(endpoint=server.url, token=server.user("squasher"))
    repo = api.create_repo(f"squasher/{repo_name}").repo_id
    pr = api.create_pull_request(repo_id=repo, title="squash me")
    for name, data in [("file.txt", b"content"), ("lfs.bin", b"x"), ("file.txt", b"more")]:
        api.upload_file(
            repo_id=repo, path_in_repo=name, path_or_fileobj=data, revision=pr.git_reference
        )
    main_before = api.list_repo_commits(repo)
    api.super_squash_history(repo_id=repo, branch=pr.git_reference)
    assert len(api.list_repo_commits(repo, revision=pr.git_reference)) == 1
    assert api.list_repo_files(repo, revision=pr.git_reference) == [
        ".gitattributes",
        "file.txt",
        "lfs.bin",
    ]
    assert api.list_repo_commits(repo) == main_before  # main keeps its history


def test_lfs_files_listed_and_deleted_for_good(
    server: Server, repo_name: str, hf_env: None
) -> None:
    api = HfApi(endpoint=server.url, token=server.user("purger"))
    repo = api.create_repo(f"purger/{repo_name}").repo_id
    other = api.create_repo(f"purger/{repo_name}-other").repo_id
    api.upload_file(path_or_fileobj=b"LFS content", path_in_repo="lfs_file.bin", repo_id=repo)
    api.upload_file(path_or_fileobj=b"TXT content", path_in_repo="txt_file.txt", repo_id=repo)
    api.upload_file(path_or_fileobj=b"shared bytes", path_in_repo="shared.bin", repo_id=repo)
    api.upload_file(path_or_fileobj=b"shared bytes", path_in_repo="copy.bin", repo_id=other)
    api.create_branch(repo, branch="my-branch")
    api.upload_file(
        path_or_fileobj=b"LFS branch", path_in_repo="b.bin", repo_id=repo, revision="my-branch"
    )
    files = list(api.list_lfs_files(repo))
    assert {(f.filename, f.ref) for f in files} == {
        ("lfs_file.bin", "main"),
        ("shared.bin", "main"),
        ("b.bin", "my-branch"),
    }
    assert {f.file_oid for f in files} >= {hashlib.sha256(b"LFS content").hexdigest()}
    reader = HfApi(endpoint=server.url, token=server.user("lfs-reader"))
    with pytest.raises(HfHubHTTPError) as refused:
        list(reader.list_lfs_files(repo))
    assert refused.value.response.status_code == 403

    before = api.model_info(repo).sha
    api.permanently_delete_lfs_files(repo, [f for f in files if f.ref == "main"])
    assert [f.filename for f in api.list_lfs_files(repo)] == ["b.bin"]
    # The files leave every branch whose head held them, in a new commit...
    assert api.list_repo_files(repo) == [".gitattributes", "txt_file.txt"]
    assert api.list_repo_files(repo, revision="my-branch") == [
        ".gitattributes",
        "b.bin",
        "txt_file.txt",
    ]
    with pytest.raises(EntryNotFoundError):
        api.hf_hub_download(repo, "lfs_file.bin")
    # ...and older commits keep their pointers, to bytes that are gone: 410.
    gone = httpx.get(f"{server.url}/{repo}/resolve/{before}/lfs_file.bin")
    assert gone.status_code == 410
    assert httpx.get(f"{server.url}/{other}/resolve/main/copy.bin").content == b"shared bytes"
    assert httpx.get(f"{server.url}/{repo}/resolve/main/txt_file.txt").content == b"TXT content"
    # commons fsck does not report bytes deleted on purpose as missing.
    fsck = server.cli("fsck")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_commit_history_formats_only_when_asked(
    server: Server, repo_name: str, hf_env: None
) -> None:
    api = HfApi(endpoint=server.url, token=server.user("historian"))
    repo = api.create_repo(f"historian/{repo_name}").repo_id
    api.upload_file(
        repo_id=repo, path_in_repo="a.txt", path_or_fileobj=b"a", commit_message="Add <a> & b"
    )
    [latest, _] = api.list_repo_commits(repo)
    assert latest.title == "Add <a> & b" and latest.formatted_title is None
    [formatted, _] = api.list_repo_commits(repo, formatted=True)
    assert formatted.formatted_title == "Add &lt;a&gt; &amp; b"


def test_pull_requests_target_branches_only(server: Server, repo_name: str, hf_env: None) -> None:
    api = HfApi(endpoint=server.url, token=server.user("targeter"))
    repo = api.create_repo(f"targeter/{repo_name}").repo_id
    api.create_branch(repo, branch="test_branch")
    head = api.list_repo_refs(repo).branches[0].target_commit

    def add() -> list[CommitOperationAdd]:
        return [CommitOperationAdd(path_in_repo="file.txt", path_or_fileobj=b"content")]

    done = api.create_commit(
        repo, add(), commit_message="PR", revision="test_branch", create_pr=True
    )
    assert done.pr_num == 1
    for revision in (head, "missing_branch"):
        with pytest.raises(RevisionNotFoundError):
            api.create_commit(repo, add(), commit_message="PR", revision=revision, create_pr=True)
    assert [d.num for d in api.get_repo_discussions(repo)] == [1]  # nothing half-opened


def test_spaces_are_missing_repositories(server: Server, hf_env: None) -> None:
    """This hub hosts no Spaces: every Space is a repository that does not exist
    here, and creating one is refused with a clear message."""
    api = HfApi(endpoint=server.url, token=server.user("spaceless"))
    assert list(api.list_spaces()) == []
    # What huggingface_hub 1.x's duplicate_space calls (2.x dropped the method).
    r = httpx.post(
        f"{server.url}/api/spaces/spaceless/repo_that_does_not_exist/duplicate",
        json={"repository": "spaceless/copy"},
        headers={"Authorization": f"Bearer {server.user('spaceless')}"},
    )
    assert (r.status_code, r.headers["X-Error-Code"]) == (404, "RepoNotFound")
    with pytest.raises(RepositoryNotFoundError):
        api.space_info("spaceless/app")
    assert not api.repo_exists("spaceless/app", repo_type="space")
    with pytest.raises(HfHubHTTPError, match="hosts models and datasets"):
        api.create_repo("spaceless/app", repo_type="space", space_sdk="static")
