"""Repository lifecycle and metadata through the real huggingface_hub client."""

from __future__ import annotations

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from .conftest import Server


def test_whoami_and_org_membership(server: Server) -> None:
    token = server.user("wendy")
    server.user("olaf")
    server.cli("org", "create", "wendy-lab", "--member", "wendy:admin", "--member", "olaf:read")
    me = HfApi(endpoint=server.url, token=token).whoami()
    assert me["name"] == "wendy"
    assert [o["name"] for o in me["orgs"]] == ["wendy-lab"]
    assert me["auth"]["accessToken"]["role"] == "write"


def test_invalid_token_is_refused(server: Server) -> None:
    with pytest.raises(HfHubHTTPError) as info:
        HfApi(endpoint=server.url, token="mc_not-a-token").whoami()
    assert info.value.response.status_code == 401


def test_create_info_list_move_delete(server: Server, repo_name: str) -> None:
    api = HfApi(endpoint=server.url, token=server.user("alice"))
    url = api.create_repo(f"alice/{repo_name}")
    assert url == f"{server.url}/alice/{repo_name}"
    # exist_ok reads the url from the 409 body
    assert api.create_repo(f"alice/{repo_name}", exist_ok=True) == url
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo(f"alice/{repo_name}")
    assert conflict.value.response.status_code == 409

    info = api.model_info(f"alice/{repo_name}")
    assert info.id == f"alice/{repo_name}"
    assert info.sha is not None and len(info.sha) == 40
    assert [s.rfilename for s in info.siblings or []] == [".gitattributes"]
    assert info.private is False

    assert repo_name in [m.id.split("/")[1] for m in api.list_models(search=repo_name)]
    assert [m.id for m in api.list_models(author="alice", search=repo_name)] == [
        f"alice/{repo_name}"
    ]

    api.move_repo(f"alice/{repo_name}", f"alice/{repo_name}-moved")
    # The old id redirects to the new one (tests/test_client_compat.py has the rules).
    assert api.model_info(f"alice/{repo_name}").id == f"alice/{repo_name}-moved"
    assert api.model_info(f"alice/{repo_name}-moved").sha == info.sha

    api.delete_repo(f"alice/{repo_name}-moved")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(f"alice/{repo_name}-moved")
    api.delete_repo(f"alice/{repo_name}-moved", missing_ok=True)


def test_dataset_repos_are_separate(server: Server, repo_name: str) -> None:
    api = HfApi(endpoint=server.url, token=server.user("alice"))
    url = api.create_repo(f"alice/{repo_name}", repo_type="dataset")
    assert url == f"{server.url}/datasets/alice/{repo_name}"
    assert api.dataset_info(f"alice/{repo_name}").id == f"alice/{repo_name}"
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(f"alice/{repo_name}")
    assert f"alice/{repo_name}" in [d.id for d in api.list_datasets(search=repo_name)]


def test_private_repo_is_invisible(server: Server, repo_name: str) -> None:
    owner = HfApi(endpoint=server.url, token=server.user("alice"))
    owner.create_repo(f"alice/{repo_name}", private=True)
    owner.upload_file(path_or_fileobj=b"secret", path_in_repo="s.txt", repo_id=f"alice/{repo_name}")
    assert owner.model_info(f"alice/{repo_name}").private is True

    anonymous = HfApi(endpoint=server.url, token=False)
    stranger = HfApi(endpoint=server.url, token=server.user("mallory"))
    for api in (anonymous, stranger):
        with pytest.raises(RepositoryNotFoundError):
            api.model_info(f"alice/{repo_name}")
        with pytest.raises(RepositoryNotFoundError):
            api.list_repo_files(f"alice/{repo_name}")
        assert repo_name not in {m.id.split("/")[1] for m in api.list_models(search=repo_name)}

    # Answers are identical to those for a repository that does not exist.
    missing = httpx.get(f"{server.url}/api/models/alice/no-such-{repo_name}")
    hidden = httpx.get(f"{server.url}/api/models/alice/{repo_name}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.headers["x-error-code"] == missing.headers["x-error-code"] == "RepoNotFound"
    hidden_file = httpx.get(f"{server.url}/alice/{repo_name}/resolve/main/s.txt")
    assert hidden_file.status_code == 404 and hidden_file.headers["x-error-code"] == "RepoNotFound"

    # Writes are refused the same way, and going public makes it readable.
    with pytest.raises(RepositoryNotFoundError):
        stranger.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id=f"alice/{repo_name}")
    owner.update_repo_settings(f"alice/{repo_name}", private=False)
    assert anonymous.model_info(f"alice/{repo_name}").private is False


def test_org_members_write_by_role(server: Server, repo_name: str) -> None:
    server.user("orga")
    writer = server.user("orgw")
    reader = server.user("orgr")
    server.cli(
        "org",
        "create",
        f"o{repo_name[:20]}",
        "--member",
        "orga:admin",
        "--member",
        "orgw:write",
        "--member",
        "orgr:read",
    )
    org = f"o{repo_name[:20]}"
    w = HfApi(endpoint=server.url, token=writer)
    w.create_repo(f"{org}/{repo_name}", private=True)
    w.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id=f"{org}/{repo_name}")
    r = HfApi(endpoint=server.url, token=reader)
    assert "a.txt" in r.list_repo_files(f"{org}/{repo_name}")  # members see private repos
    with pytest.raises(HfHubHTTPError) as denied:
        r.upload_file(path_or_fileobj=b"x", path_in_repo="b.txt", repo_id=f"{org}/{repo_name}")
    assert denied.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError):  # write members cannot delete; admins can
        w.delete_repo(f"{org}/{repo_name}")
    HfApi(endpoint=server.url, token=server.user("orga")).delete_repo(f"{org}/{repo_name}")


def test_read_token_cannot_write(server: Server, repo_name: str) -> None:
    HfApi(endpoint=server.url, token=server.user("alice")).create_repo(f"alice/{repo_name}")
    ro = HfApi(endpoint=server.url, token=server.user("alice", write=False))
    assert ro.model_info(f"alice/{repo_name}").id == f"alice/{repo_name}"
    with pytest.raises(HfHubHTTPError) as denied:
        ro.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id=f"alice/{repo_name}")
    assert denied.value.response.status_code == 403


def test_card_metadata_and_filters(server: Server, repo_name: str) -> None:
    api = HfApi(endpoint=server.url, token=server.user("alice"))
    api.create_repo(f"alice/{repo_name}")
    card = (
        "---\nlicense: apache-2.0\nlibrary_name: transformers\n"
        "pipeline_tag: text-classification\ntags: [tiny, unit-test]\n---\n# Card\n"
    )
    api.upload_file(
        path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=f"alice/{repo_name}"
    )
    info = api.model_info(f"alice/{repo_name}")
    assert info.card_data is not None and info.card_data["license"] == "apache-2.0"
    assert info.pipeline_tag == "text-classification"
    assert {"tiny", "transformers", "license:apache-2.0"} <= set(info.tags or [])
    server.settle(f"alice/{repo_name}")  # the search index follows in a pipeline job
    found = [m.id for m in api.list_models(filter="unit-test", search=repo_name)]
    assert found == [f"alice/{repo_name}"]
    assert [m.id for m in api.list_models(filter="no-such-tag", search=repo_name)] == []


def test_invalid_card_yaml_is_refused(server: Server, repo_name: str) -> None:
    api = HfApi(endpoint=server.url, token=server.user("alice"))
    api.create_repo(f"alice/{repo_name}")
    with pytest.raises(ValueError, match="Invalid metadata"):
        api.upload_file(
            path_or_fileobj=b"---\nkey: [unclosed\n---\n",
            path_in_repo="README.md",
            repo_id=f"alice/{repo_name}",
        )


def test_list_pagination_follows_link(server: Server) -> None:
    api = HfApi(endpoint=server.url, token=server.user("pager"))
    for i in range(5):
        api.create_repo(f"pager/page-{i}", exist_ok=True)
    first = httpx.get(f"{server.url}/api/models", params={"author": "pager", "limit": 2})
    assert len(first.json()) == 2 and 'rel="next"' in first.headers["link"]
    assert sorted(m.id for m in api.list_models(author="pager")) == [
        f"pager/page-{i}" for i in range(5)
    ]


def test_sort_by_downloads(server: Server, repo_name: str) -> None:
    api = HfApi(endpoint=server.url, token=server.user("sorter"))
    for suffix in ("a", "b"):
        api.create_repo(f"sorter/{repo_name}-{suffix}")
    for _ in range(3):
        httpx.get(
            f"{server.url}/sorter/{repo_name}-b/resolve/main/.gitattributes"
        ).raise_for_status()
    ids = [m.id for m in api.list_models(author="sorter", search=repo_name, sort="downloads")]
    assert ids == [f"sorter/{repo_name}-b", f"sorter/{repo_name}-a"]
    assert api.model_info(f"sorter/{repo_name}-b").downloads == 3
