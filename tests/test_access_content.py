"""The access matrix, content part: every content route agrees with ``access.content``.

`tests/test_access.py` checks every route's *access level* for every kind of caller.
This module checks *what* each content route reveals. For a public and a private
repository that is gated, follows a staged plan that controls a file glob, a branch
and a tag (tests/content_world.py), every content route is asked about every
revision spelling (branch, ``refs/heads/``, tag, ``refs/tags/``, short and full
commit ids, of open and closed refs) and every path, as every kind of caller, and
its answer is compared with what the one access function decides for that caller:

- API: resolve (GET, HEAD), raw, tree (recursive, and by folder), paths-info,
  model_info at a revision (siblings), commits, the bill of materials and the
  signature state, the LFS batch download and its signed URL, auth-check;
- pages: the file page and its preview, the tree, the history, the commit and its
  diff, the revision switch.

The decision is read from ``access.content`` itself, in this process, on the
server's database (a second :class:`~modelcommons.hub.Hub` over the same data dir),
for the very principal each client authenticates as; so a route that answers on
its own (a listing that forgets to filter, a page that resolves a revision by
itself) fails here. `test_the_access_function_follows_the_rules` checks the
function against expectations written from the rules (README: Gated access,
Staged releases).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from modelcommons import accounts
from modelcommons.accounts import browser_sessions
from modelcommons.errors import HubError
from modelcommons.governance import access
from modelcommons.hub import Hub
from modelcommons.settings import Settings
from modelcommons.storage import repos
from modelcommons.storage.trees import TreeReader
from modelcommons.web import sessions
from modelcommons.web.previews import diffs

from . import content_world as world
from .conftest import Server

PASSWORD = "a long enough password"
CSRF = "m" * 40
FOLDERS = ("staged", "xl")

#: Who asks. "api" is how the API client authenticates, "page" how the page client
#: does (tokens count for nothing on pages, so a token-only caller browses anonymously).
CALLERS = {
    "anonymous": ("none", "none"),
    "stranger": ("token", "session"),
    "partner": ("token", "session"),  # in the audience of the opened stage
    "accepted": ("token", "session"),  # holds an accepted access request
    "member": ("token", "session"),  # reads the organisation's repositories
    "scoped": ("token", "none"),  # a fine-grained read token naming both repositories
    "elsewhere": ("token", "none"),  # a fine-grained token naming another repository
    "admin": ("session", "session"),  # administers the organisation, in a browser
}


@dataclasses.dataclass
class Place:
    server: Server
    hub: Hub  # over the server's database, to ask access.content directly
    org: str
    repos: dict[bool, world.ContentRepo]  # private? -> repository
    clients: dict[str, tuple[httpx.Client, httpx.Client]]  # caller -> (api, page)


def _person(srv: Server, name: str) -> tuple[str, httpx.Cookies]:
    out = srv.cli("user", "create", name, "--token", "write", input=f"{PASSWORD}\n")
    with httpx.Client(base_url=srv.url, cookies={"commons_csrf": CSRF}) as c:
        login = {"csrf_token": CSRF, "username": name, "password": PASSWORD}
        assert c.post("/login", data=login).status_code == 303
        return out.stdout.split()[-1], c.cookies


@pytest.fixture(scope="module")
def place(server: Server) -> Iterator[Place]:
    org = f"cm{secrets.token_hex(3)}"
    people = {c: _person(server, f"{org}-{c}") for c in CALLERS if c != "anonymous"}
    server.cli("org", "create", org, f"--member={org}-admin:admin", f"--member={org}-member:read")
    admin_token = people["admin"][0]
    built = {
        private: world.build(
            server.url,
            admin_token,
            f"{org}/content-{'private' if private else 'public'}",
            private=private,
            partner=f"{org}-partner",
        )
        for private in (False, True)
    }
    tokens = {c: t for c, (t, _) in people.items()}
    scope = [f"--scope=model:{r.repo}" for r in built.values()]
    tokens["scoped"] = server.cli(
        "token", "create", f"{org}-admin", "--name", "scoped", *scope, "--permission=read"
    ).stdout.split()[-1]
    tokens["elsewhere"] = server.cli(
        "token", "create", f"{org}-admin", "--name", "elsewhere",
        f"--scope=model:{org}/nowhere", "--permission=admin",
    ).stdout.split()[-1]  # fmt: skip
    for r in built.values():
        grant = httpx.post(
            f"{server.url}/api/models/{r.repo}/user-access-request/grant",
            json={"user": f"{org}-accepted"},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        assert grant.status_code == 200, grant.text
    clients = {}
    for caller, (api_kind, page_kind) in CALLERS.items():
        made = []
        for kind in (api_kind, page_kind):
            c = httpx.Client(base_url=server.url)
            if kind == "token":
                c.headers["Authorization"] = f"Bearer {tokens[caller]}"
            elif kind == "session":
                c.cookies = people[caller][1]
                c.headers["X-CSRF-Token"] = CSRF  # cookie-authenticated API POSTs need it
            made.append(c)
        clients[caller] = (made[0], made[1])
    settings = Settings(
        data_dir=server.data_dir,
        database_url=server.pg.url if server.pg else None,
        task_queue="memory",
    )
    hub = Hub(settings)
    try:
        yield Place(server, hub, org, built, clients)
    finally:
        hub.close()
        for pair in clients.values():
            for c in pair:
                c.close()


# ------------------------------------------------------------------ the decision


@dataclasses.dataclass
class Decision:
    """What access.content decides for one caller, repository and revision."""

    refused: int | None = None  # every revision route's status when not open
    commit: str = ""
    files: dict[str, bool] = dataclasses.field(default_factory=dict)  # path -> listed
    folders: dict[str, bool] = dataclasses.field(default_factory=dict)
    download: dict[str, int] = dataclasses.field(default_factory=dict)  # path -> status
    #: The commit page's changes: (path, listed, readable, stored in LFS).
    changes: list[tuple[str, bool, bool, bool]] = dataclasses.field(default_factory=list)
    everything: int = 200  # LFS by hash and auth-check


def principal_of(hub: Hub, client: httpx.Client) -> accounts.Principal | None:
    with hub.db.read() as session:
        header = client.headers.get("Authorization")
        if header:
            return accounts.authenticate(session, header.split()[1], hub.clock.now())[0]
        cookie = client.cookies.get(sessions.SESSION_COOKIE)
        return browser_sessions.principal_for(session, cookie) if cookie else None


def decide(hub: Hub, who: accounts.Principal | None, repo_id: str, rev: str) -> Decision:
    d = Decision()
    with hub.db.read() as session:
        repo = repos.get_repo(session, "model", *repo_id.split("/"))
        try:
            content = access.content(session, who, repo)
        except HubError as exc:
            return Decision(refused=exc.status, everything=exc.status)
        try:
            content.require_download_all()
        except HubError as exc:
            d.everything = exc.status
        try:
            view = content.at(rev)
        except HubError as exc:
            d.refused = exc.status
            return d
        d.commit = view.sha
        reader = TreeReader(session, hub.tree_cache)
        for path, entry in reader.walk(view.commit.tree_oid, "", recursive=True):
            if entry.is_dir:
                d.folders[path] = view.listable_dir(reader, path, entry.oid)
            else:
                d.files[path] = view.listable(path)
        for path in world.PATHS:
            try:
                view.require_download(path)
                d.download[path] = 200 if path in d.files else 404
            except HubError as exc:
                d.download[path] = exc.status
        parent = view.commit.parents.split()[0]
        old = repos.canonical(session, repo, parent)
        old_tree = content.at(old.commit).commit.tree_oid if content.revision_open(old) else None
        for path, a, b in diffs.changed_paths(reader, old_tree, view.commit.tree_oid):
            entry = b or a
            assert entry is not None
            info = reader.describe([(path, entry)])[0]
            lfs = bool(getattr(info, "lfs", False))
            d.changes.append((path, view.listable(path), view.downloadable(path), lfs))
    return d


# ------------------------------------------------------------------ the routes


def revisions(c: world.ContentRepo) -> list[str]:
    return [
        "main", "refs/heads/main", c.main[:7], c.main, "v1", "refs/tags/v1",
        "xl", "refs/heads/xl", c.xl[:7], c.xl, "xl-v1", "refs/tags/xl-v1", "xl-alias",
        "nope",
    ]  # fmt: skip


_LINK = re.compile(r'<a (?:class="dir" )?href="[^"]*/(?:blob|tree)/[^"/]+/([^"]+)">')


def _text(r: httpx.Response) -> str:
    """A page's text without its markup (highlighting splits words into spans)."""
    return re.sub(r"<[^>]*>", "", r.text)


def _listed(d: Decision) -> set[str]:
    return {p for p, ok in {**d.files, **d.folders}.items() if ok}


def ask_revision(
    api: httpx.Client, page: httpx.Client, c: world.ContentRepo, rev: str, d: Decision, p: Decision
) -> Iterator[tuple[str, object, object]]:
    """(what, answer, decision) for every content route at one revision; ``d`` is the
    decision for the API client's principal, ``p`` for the page client's."""
    repo, q = c.repo, quote(rev, safe="")
    for path in world.PATHS:
        want = d.refused or d.download[path]
        r = api.get(f"/{repo}/resolve/{q}/{path}")
        yield f"resolve {path}", r.status_code, want
        if r.status_code == 200 and path != ".gitattributes":
            yield f"resolve {path} bytes", r.content, c.expected_bytes(d.commit, path)
        yield f"HEAD resolve {path}", api.head(f"/{repo}/resolve/{q}/{path}").status_code, want
        yield f"raw {path}", api.get(f"/{repo}/raw/{q}/{path}").status_code, want
        want = p.refused or p.download[path]
        r = page.get(f"/{repo}/blob/{q}/{path}")
        yield f"file page {path}", r.status_code, want
        branch = "xl" if p.commit == c.xl and path in world.XL_FILES else "main"
        shown = world.marker(repo, path, branch) in _text(r)
        yield f"file page {path} shows it", shown, want == 200 and path != ".gitattributes"

    listed = _listed(d)
    r = api.get(f"/api/models/{repo}/tree/{q}", params={"recursive": "true"})
    yield "tree", r.status_code, d.refused or 200
    if r.status_code == 200:
        yield "tree lists", {e["path"] for e in r.json()}, listed
    for folder in FOLDERS:
        r = api.get(f"/api/models/{repo}/tree/{q}/{folder}")
        yield f"tree {folder}", r.status_code, d.refused or (200 if folder in listed else 404)
        if r.status_code == 200:
            inside = {x for x in listed if x.rpartition("/")[0] == folder}
            yield f"tree {folder} lists", {e["path"] for e in r.json()}, inside
    asked = [*world.PATHS, *FOLDERS]
    r = api.post(f"/api/models/{repo}/paths-info/{q}", json={"paths": asked})
    yield "paths-info", r.status_code, d.refused or 200
    if r.status_code == 200:
        yield "paths-info lists", {e["path"] for e in r.json()}, listed & set(asked)
    r = api.get(f"/api/models/{repo}/revision/{q}", params={"blobs": "true"})
    yield "model_info", r.status_code, d.refused or 200
    if r.status_code == 200:
        files = {p for p, ok in d.files.items() if ok}
        yield "model_info siblings", {s["rfilename"] for s in r.json()["siblings"]}, files
    yield "commits", api.get(f"/api/models/{repo}/commits/{q}").status_code, d.refused or 200
    r = api.get(f"/api/models/{repo}/sbom", params={"revision": rev})
    yield "sbom", r.status_code, d.refused or 200
    if r.status_code == 200:
        files = {p for p, ok in d.files.items() if ok}
        named = {x["name"] for x in r.json()["components"] if x["type"] == "file"}
        yield "sbom lists", named, files
    r = api.get(f"/api/models/{repo}/signature", params={"revision": rev})
    yield "signature", r.status_code, d.refused or 200

    r = page.get(f"/{repo}/tree/{q}")
    yield "tree page", r.status_code, p.refused or 200
    if r.status_code == 200:
        root = {x for x in _listed(p) if "/" not in x}
        yield "tree page lists", set(_LINK.findall(r.text.split('class="files"')[1])), root
    yield "history page", page.get(f"/{repo}/commits/{q}").status_code, p.refused or 200
    r = page.get(f"/{repo}/switch", params={"rev": rev})
    yield "switch", r.status_code, p.refused or 303
    r = page.get(f"/{repo}/commit/{q}")
    yield "commit page", r.status_code, p.refused or 200
    if r.status_code == 200:
        text = _text(r)
        for path, shown, readable, lfs in p.changes:
            yield f"commit page lists {path}", f"<code>{path}</code>" in r.text, shown
            marks = [world.marker(repo, path, b) for b in ("main", "xl")]
            # LFS files are never diffed: their contents never show.
            want_shown = shown and readable and not lfs
            yield f"commit page shows {path}'s contents", any(m in text for m in marks), want_shown


def ask_repository(
    api: httpx.Client, c: world.ContentRepo, d: Decision
) -> Iterator[tuple[str, object, object]]:
    """The routes that name no revision: LFS by hash and auth-check."""
    data = world.body(c.repo, "weights.bin")
    objects = [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}]
    r = api.post(
        f"/{c.repo}.git/info/lfs/objects/batch",
        json={"operation": "download", "objects": objects},
    )
    yield "lfs batch", r.status_code, d.everything
    if r.status_code == 200:
        href = r.json()["objects"][0]["actions"]["download"]["href"]
        yield "lfs object", httpx.get(href).content, data
    yield "auth-check", api.get(f"/api/models/{c.repo}/auth-check").status_code, d.everything


def test_content_routes_agree_with_access_content(place: Place) -> None:
    failures: list[str] = []
    decisions: dict[tuple[Any, ...], Decision] = {}

    def decision(who: accounts.Principal | None, c: world.ContentRepo, rev: str) -> Decision:
        key = (who.credential if who else None, c.repo, rev)
        if key not in decisions:
            decisions[key] = decide(place.hub, who, c.repo, rev)
        return decisions[key]

    for caller, (api, page) in place.clients.items():
        api_who, page_who = principal_of(place.hub, api), principal_of(place.hub, page)
        for private, c in place.repos.items():
            where = f"{caller} on {'private' if private else 'public'}"
            for what, got, want in ask_repository(api, c, decision(api_who, c, "main")):
                if got != want:
                    failures.append(f"{where}: {what}: {got!r}, access.content says {want!r}")
            for rev in revisions(c):
                d_api, d_page = decision(api_who, c, rev), decision(page_who, c, rev)
                for what, got, want in ask_revision(api, page, c, rev, d_api, d_page):
                    if got != want:
                        failures.append(
                            f"{where} at {rev}: {what}: {got!r}, access.content says {want!r}"
                        )
    assert failures == [], f"{len(failures)} answers differ:\n" + "\n".join(failures[:60])


#: Which rules apply to each caller, through its API and its page client.
KINDS = {
    "anonymous": ("anonymous", "anonymous"),
    "stranger": ("stranger", "stranger"),
    "partner": ("partner", "partner"),
    "accepted": ("accepted", "accepted"),
    "member": ("owner", "owner"),
    "scoped": ("owner", "anonymous"),
    "elsewhere": ("stranger", "anonymous"),
    "admin": ("owner", "owner"),
}


def by_the_rules(kind: str, private: bool, c: world.ContentRepo, rev: str) -> Decision:
    """The decision written from the rules (README: Gated access, Staged releases),
    for the paths of world.PATHS."""
    owner = kind == "owner"
    no = 401 if kind == "anonymous" else 403
    if private and not owner:
        return Decision(refused=404, everything=404)  # private means invisible
    d = Decision(everything=200 if owner else no)  # something is closed to everyone else
    closed = {"xl", "refs/heads/xl", "xl-v1", "refs/tags/xl-v1", "xl-alias", c.xl, c.xl[:7]}
    if rev == "nope":
        d.refused = 404
    elif rev in closed and not owner:
        d.refused = no  # no stage has opened xl to anyone yet, by any name
    if d.refused:
        return d
    on_xl = rev in closed
    d.commit = c.xl if on_xl else c.main
    there = {".gitattributes", *world.MAIN_FILES, *(world.XL_FILES if on_xl else ())}
    for path in there:
        # staged/* is released to the partners only; gating hides no names.
        d.files[path] = owner or not path.startswith("staged/") or kind == "partner"
    for path in world.PATHS:
        if path.startswith("staged/") and not (owner or kind == "partner"):
            d.download[path] = no
        elif owner or kind == "accepted" or path == "README.md":
            d.download[path] = 200 if path in there else 404
        else:
            d.download[path] = no  # gated, whether or not it exists
    return d


def test_the_access_function_follows_the_rules(place: Place) -> None:
    failures = []
    for caller, (api, page) in place.clients.items():
        for client, kind in zip((api, page), KINDS[caller], strict=True):
            who = principal_of(place.hub, client)
            for private, c in place.repos.items():
                for rev in revisions(c):
                    got = decide(place.hub, who, c.repo, rev)
                    want = by_the_rules(kind, private, c, rev)
                    found = (got.refused, got.commit, got.files, got.download, got.everything)
                    ruled = (want.refused, want.commit, want.files, want.download, want.everything)
                    if found != ruled:
                        failures.append(f"{caller} ({kind}) {private=} {rev}: {found} != {ruled}")
    assert failures == [], "\n".join(failures[:20])
