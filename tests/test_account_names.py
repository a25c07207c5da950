"""Account names are one name whatever their letter case, and a name clash never
tells anyone about a repository they cannot read.

Before: ``ALICE`` could sign up beside ``alice`` (impersonation), create
``ALICE/secret-plans``, and read the URL of alice's private ``alice/Secret-Plans``
in the ``409 RepoExists`` answer, since repository names clash case-insensitively.
"""

from __future__ import annotations

import secrets

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from .conftest import Server

CSRF = "names-csrf-token-at-least-32-characters-long"
PASSWORD = "alice's long password"


def _join(server: Server, name: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, cookies={"commons_csrf": CSRF}) as c:
        form = {"csrf_token": CSRF, "username": name, "email": "", "password": PASSWORD}
        return c.post("/join", data=form)


def test_a_name_in_another_case_cannot_sign_up(server: Server) -> None:
    alice = f"alice{secrets.token_hex(3)}"
    server.cli("user", "create", alice, input=f"{PASSWORD}\n")
    for spelling in (alice.upper(), alice.capitalize()):
        # The sign-up page
        page = _join(server, spelling)
        assert page.status_code == 400, page.text[:300]
        assert f"The name &#39;{spelling}&#39; is already taken" in page.text
        assert "names ignore case" in page.text
        assert "commons_session" not in page.cookies
        # The command line, for users and organisations alike
        for kind in ("user", "org"):
            made = server.cli(kind, "create", spelling, check=False)
            assert made.returncode == 1
            assert f"The name {spelling!r} is already taken (by {alice!r}" in made.stderr
    # The organisation's name is taken for users too.
    org = f"Lab{secrets.token_hex(3)}"
    server.cli("org", "create", org)
    assert _join(server, org.lower()).status_code == 400


def test_a_typed_name_means_the_account_in_any_case(server: Server) -> None:
    """Sign-in and the commands take a name as typed; the stored spelling is the
    account's, and the one shown."""
    alice = f"Alice{secrets.token_hex(3)}"
    server.cli("user", "create", alice, input=f"{PASSWORD}\n")
    with httpx.Client(base_url=server.url, cookies={"commons_csrf": CSRF}) as c:
        form = {"csrf_token": CSRF, "username": alice.upper(), "password": PASSWORD}
        assert c.post("/login", data=form).status_code == 303
        assert c.get("/api/whoami-v2").json()["name"] == alice
    token = server.cli("token", "create", alice.lower(), "--write").stdout.split()[-1]
    api = HfApi(endpoint=server.url, token=token)
    assert api.whoami()["name"] == alice
    # A repository created under the namespace as typed lands in the account's.
    made = api.create_repo(f"{alice.lower()}/typed")
    assert made.repo_id == f"{alice}/typed"


@pytest.fixture()
def lab(server: Server) -> tuple[str, str, str, str]:
    """An organisation with a private repository, its admin and a writer."""
    sfx = secrets.token_hex(3)
    admin, writer, org = f"boss{sfx}", f"writer{sfx}", f"acme{sfx}"
    server.user(admin)
    server.user(writer)
    server.cli("org", "create", org, "--member", f"{admin}:admin", "--member", f"{writer}:write")
    HfApi(endpoint=server.url, token=server.user(admin)).create_repo(f"{org}/Roadmap", private=True)
    return org, admin, writer, sfx


def _create(server: Server, token: str, namespace: str, name: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/repos/create",
        json={"name": name, "organization": namespace},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_a_stranger_learns_nothing_from_a_name_clash(
    server: Server, lab: tuple[str, str, str, str]
) -> None:
    org, _admin, _writer, sfx = lab
    stranger = server.user(f"stranger{sfx}")
    # The old way in: a look-alike account, then a create that clashes. No look-alike.
    assert _join(server, org.upper()).status_code == 400
    # Creating in someone else's namespace, in any case, is refused the same way
    # whether or not the name is taken.
    answers = set()
    for namespace in (org, org.upper()):
        for name in ("roadmap", "ROADMAP", "no-such-thing"):
            r = _create(server, stranger, namespace, name)
            assert "Roadmap" not in r.text and "url" not in r.json(), r.text
            answers.add((r.status_code, r.json()["error"].replace(name, "NAME")))
    assert answers == {(403, f"You cannot create repositories under {org!r}.")}


def test_a_clash_names_the_repository_only_to_who_may_read_it(
    server: Server, lab: tuple[str, str, str, str]
) -> None:
    org, admin, writer, _sfx = lab
    # A member who can read it is told which repository holds the name, with its URL,
    # so that the client's exist_ok finds it.
    r = _create(server, server.user(writer), org, "roadmap")
    assert r.status_code == 409 and r.headers["X-Error-Code"] == "RepoExists"
    assert r.json()["url"] == f"{server.url}/{org}/Roadmap"
    found = HfApi(endpoint=server.url, token=server.user(writer)).create_repo(
        f"{org}/ROADMAP", exist_ok=True
    )
    assert found.repo_id == f"{org}/Roadmap"
    # A token that may create there but not read private repositories learns only
    # that the name is taken: not the repository's spelling, not its URL.
    blind = server.cli(
        "token", "create", writer, "--name", "blind", "--scope", f"ns:{org}",
        "--permission", "write",
    ).stdout.split()[-1]  # fmt: skip
    r = _create(server, blind, org, "roadmap")
    assert r.status_code == 403 and "url" not in r.json()
    assert "Roadmap" not in r.text and "Roadmap" not in r.headers["X-Error-Message"]
    assert "cannot read it" in r.json()["error"]
    for exist_ok in (False, True):
        with pytest.raises(HfHubHTTPError) as refused:
            HfApi(endpoint=server.url, token=blind).create_repo(f"{org}/roadmap", exist_ok=exist_ok)
        assert refused.value.response.status_code == 403
    # Moving a repository onto the name: the same rule.
    mover = server.cli(
        "token", "create", admin, "--name", "mover", "--scope", f"ns:{org}",
        "--permission", "write", "--permission", "admin",
    ).stdout.split()[-1]  # fmt: skip
    HfApi(endpoint=server.url, token=server.user(admin)).create_repo(f"{org}/draft")
    moved = httpx.post(
        f"{server.url}/api/repos/move",
        json={"fromRepo": f"{org}/draft", "toRepo": f"{org}/ROADMAP"},
        headers={"Authorization": f"Bearer {mover}"},
    )
    assert moved.status_code == 403 and "Roadmap" not in moved.text
    moved = httpx.post(
        f"{server.url}/api/repos/move",
        json={"fromRepo": f"{org}/draft", "toRepo": f"{org}/ROADMAP"},
        headers={"Authorization": f"Bearer {server.user(admin)}"},
    )
    assert moved.status_code == 409 and f"{org}/Roadmap" in moved.json()["error"]
