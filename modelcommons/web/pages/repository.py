"""Repository pages: the card, files, a file, history and one commit."""

from __future__ import annotations

import dataclasses
from itertools import islice
from typing import Any

from sqlalchemy.orm import Session
from starlette.responses import Response

from ... import audit
from ...accounts import roles
from ...api.common import load_repo
from ...db.schema import Commit, Like, Repo
from ...errors import EntryNotFound, GatedRepo
from ...governance import access, gating, lineage, releases
from ...governance.content import RepoContent, RevisionContent
from ...scanning.results import FileScanStatus
from ...server.routing import Ctx
from ...storage import repos
from ...storage.trees import DirInfo, FileInfo, TreeReader
from ...validation.inputs import query_int
from .. import previews
from ..markdown import render_card
from ..previews import diffs
from ..templating import redirect, render
from ..views import RepoCard, crumbs, path_segment, repo_path, rev_segment
from . import scans
from .provenance import card_extras, signature_view

TREE_PAGE = 100
HISTORY_PAGE = 50
LAST_COMMIT_WALK = 300


def page_context(
    session: Session,
    ctx: Ctx,
    repo: Repo,
    tab: str,
    rev: str,
    *,
    content: RepoContent | None = None,
) -> dict[str, Any]:
    """What every repository page shows: the header, tabs and the revision picker
    (the refs the caller may see, from ``access.content``)."""
    if content is None:
        content = access.content(session, ctx.principal, repo)
    role = roles.repo_role(session, ctx.principal, repo)
    liked = (
        ctx.principal is not None
        and session.get(Like, (ctx.principal.user_id, repo.id)) is not None
    )
    refs = content.visible_refs()
    return {
        "repo": RepoCard.of(repo),
        "tab": tab,
        "rev": rev,
        "rev_q": rev_segment(rev),
        "liked": liked,
        "can_write": role in roles.WRITE_ROLES,
        "can_admin": role == "admin",
        "gated": gating.mode_of(session, repo),
        "refs": {
            "branches": [r.name for r in refs if r.kind == "branch"],
            "tags": [r.name for r in refs if r.kind == "tag"],
        },
        "title": f"{repo.repo_id} · Model Commons",
    }


def _facts(card: dict[str, Any]) -> list[tuple[str, list[str]]]:
    def values(key: str) -> list[str]:
        v = card.get(key)
        if v is None:
            return []
        return [str(x) for x in (v if isinstance(v, list) else [v])][:20]

    facts = [
        ("License", values("license") or values("license_name")),
        ("Task", values("pipeline_tag") or values("task_categories")),
        ("Library", values("library_name")),
        ("Languages", values("language")),
        ("Base model", values("base_model")),
        ("Datasets", values("datasets")),
        ("Tags", values("tags")),
    ]
    return [(label, v) for label, v in facts if v]


def _snippets(ctx: Ctx, repo: Repo) -> list[tuple[str, str]]:
    env = f"export HF_ENDPOINT={ctx.base_url}"
    rid = repo.repo_id
    if repo.kind == "dataset":
        return [
            ("datasets", f'{env}\n\nfrom datasets import load_dataset\nds = load_dataset("{rid}")'),
            (
                "huggingface_hub",
                f"{env}\n\nfrom huggingface_hub import snapshot_download\n"
                f'snapshot_download("{rid}", repo_type="dataset")',
            ),
        ]
    return [
        (
            "transformers",
            f"{env}\n\nfrom transformers import AutoModel\n"
            f'model = AutoModel.from_pretrained("{rid}")',
        ),
        (
            "huggingface_hub",
            f'{env}\n\nfrom huggingface_hub import snapshot_download\nsnapshot_download("{rid}")',
        ),
    ]


def card_page(ctx: Ctx) -> Response:
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        content = access.content(session, ctx.principal, repo)
        try:
            view: RevisionContent | None = content.at(repos.DEFAULT_BRANCH)
        except GatedRepo:
            view = None  # main itself is not released to this caller: no card
        card_html = ""
        if view is not None and view.downloadable("README.md"):
            tree = view.commit.tree_oid
            readme = TreeReader(session, ctx.hub.tree_cache).file(tree, "README.md")
            if readme is not None and not readme.lfs:
                with ctx.hub.blobs.open(readme.sha256) as f:
                    card_html = render_card(f.read(1024 * 1024).decode("utf-8", "replace"))
        card = repos.card_of(repo)
        state = "none"
        if ctx.principal is not None:
            state = gating.describe(gating.newest(session, repo, ctx.principal.user_id), card)
        plan = releases.plan_of(session, repo)
        release = releases.describe(session, ctx.hub, repo, plan) if plan is not None else None
        extras = card_extras(session, ctx, repo, view, card)  # signature, framework
        return render(
            ctx,
            "repo/card.html",
            **page_context(session, ctx, repo, "card", "main", content=content),
            access_state=state,
            release=release,
            card_html=card_html,
            facts=extras.facts(_facts(repos.card_of(repo))),
            snippets=extras.snippets + _snippets(ctx, repo),
            provenance=extras,
            sha=view.sha if view else None,
            updated=view.commit.created_at if view else None,
            lineage=lineage.view(session, ctx.principal, repo),
            scan_summary=(
                scans.summary(session, TreeReader(session, ctx.hub.tree_cache), repo, view)
                if view is not None
                else None
            ),
        )


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    url: str
    is_dir: bool
    size: int
    lfs: bool
    last: Commit | None
    scan: FileScanStatus | None = None


def tree_page(ctx: Ctx) -> Response:
    rev, path = ctx.params["rev"], ctx.params.get("path", "").strip("/")
    offset = query_int(ctx.request.query_params, "offset", 0)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        content = access.content(session, ctx.principal, repo)
        view = content.at(rev)
        reader = TreeReader(session, ctx.hub.tree_cache)
        node = view.folder(reader, path)
        if node is None:
            raise EntryNotFound(f"No folder {path!r} at {rev}.")
        base = repo_path(repo)
        prefix = f"{path}/" if path else ""
        walked = view.listed(reader, reader.walk(node.oid, prefix, recursive=False))
        items = list(islice(walked, offset, offset + TREE_PAGE + 1))
        entries = reader.describe(items[:TREE_PAGE])
        changed = {e.path: e.oid for e in entries}
        last = repos.last_changes(session, reader, repo, view.sha, changed, limit=LAST_COMMIT_WALK)
        scanned = scans.for_entries(session, repo, view.sha, entries)
        rows = []
        for e in entries:
            kind = "tree" if isinstance(e, DirInfo) else "blob"
            rows.append(
                Row(
                    name=e.path.rsplit("/", 1)[-1],
                    url=f"{base}/{kind}/{rev_segment(rev)}/{path_segment(e.path)}",
                    is_dir=isinstance(e, DirInfo),
                    size=e.size if isinstance(e, FileInfo) else 0,
                    lfs=isinstance(e, FileInfo) and e.lfs,
                    last=last.get(e.path),
                    scan=scanned.get(e.path),
                )
            )
        next_url = f"{ctx.raw_path}?offset={offset + TREE_PAGE}" if len(items) > TREE_PAGE else None
        return render(
            ctx,
            "repo/tree.html",
            **page_context(session, ctx, repo, "files", rev, content=content),
            entries=rows,
            crumbs=crumbs(base, rev, path),
            next_url=next_url,
            view="tree",
            path=path,
        )


def blob_page(ctx: Ctx) -> Response:
    rev, path = ctx.params["rev"], ctx.params["path"]
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        content = access.content(session, ctx.principal, repo)
        view = content.at(rev)
        # Asked before the file is looked up: a refusal says nothing of whether it exists.
        audited = view.require_download(path)
        info = TreeReader(session, ctx.hub.tree_cache).file(view.commit.tree_oid, path)
        if info is None:
            raise EntryNotFound(f"No file {path!r} at {rev}.")
        table = None
        highlighted = None
        no_preview = "No preview for this file."
        with ctx.hub.blobs.open(info.sha256) as f:
            try:
                table = previews.table_for(path, f)
            except previews.NoPreview as refused:
                no_preview = str(refused)
            else:
                if table is None and info.size <= previews.MAX_TEXT_BYTES:
                    f.seek(0)
                    highlighted = previews.text_preview(path, f.read())
                elif table is None:
                    no_preview = "This file is too large to preview; download it instead."
        if audited and (table is not None or highlighted is not None):
            _audit_preview(ctx, repo.id, view.sha, info.path)
        base = repo_path(repo)
        directory = path.rsplit("/", 1)[0] if "/" in path else ""
        resolve = f"{base}/resolve/{rev_segment(rev)}/{path_segment(path)}"
        return render(
            ctx,
            "repo/blob.html",
            **page_context(session, ctx, repo, "files", rev, content=content),
            file=info,
            name=path.rsplit("/", 1)[-1],
            crumbs=crumbs(base, rev, directory),
            raw_url=resolve,
            download_url=resolve + "?download=true",
            table=table,
            highlighted=highlighted,
            no_preview=no_preview,
            view="blob",
            path=path,
            scan=scans.for_file(session, repo, view.sha, info),
        )


def _audit_preview(ctx: Ctx, repo_pk: int, sha: str, path: str) -> None:
    """A gated or staged file's contents shown in the page are a gated download too;
    a page that shows none of its contents (no preview) is not."""
    with ctx.hub.db.write() as session:
        repo = session.get(Repo, repo_pk)
        assert repo is not None
        name = ctx.principal.name if ctx.principal else None
        ctx.hub.audit.record(session, audit.gated_download(repo, name, path, sha))


def commits_page(ctx: Ctx) -> Response:
    rev = ctx.params["rev"]
    page = query_int(ctx.request.query_params, "p", 0)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        content = access.content(session, ctx.principal, repo)
        # A closed revision's history is closed too, whatever name it is asked by.
        view = content.at(rev)
        rows = list(
            islice(
                repos.history(session, repo, view.sha),
                page * HISTORY_PAGE,
                (page + 1) * HISTORY_PAGE + 1,
            )
        )
        return render(
            ctx,
            "repo/commits.html",
            **page_context(session, ctx, repo, "history", rev, content=content),
            commits=rows[:HISTORY_PAGE],
            page=page,
            has_more=len(rows) > HISTORY_PAGE,
            view="commits",
            path="",
        )


def commit_page(ctx: Ctx) -> Response:
    """One commit and its diff: only the paths the caller may see listed, and the
    contents of only those it may download."""
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        content = access.content(session, ctx.principal, repo)
        view = content.at(ctx.params["rev"])
        commit = view.commit
        parent_oid = commit.parents.split()[0] if commit.parents else None
        parent = session.get(Commit, (repo.id, parent_oid)) if parent_oid else None
        reader = TreeReader(session, ctx.hub.tree_cache)
        changes = diffs.describe(
            reader,
            ctx.hub.blobs,
            parent.tree_oid if parent else None,
            commit.tree_oid,
            listed=view.listable,
            readable=view.downloadable,
        )
        body = commit.message[len(commit.title) :].strip()
        return render(
            ctx,
            "repo/commit.html",
            **page_context(session, ctx, repo, "history", view.sha, content=content),
            commit=commit,
            body=body,
            parent=parent_oid,
            changes=changes,
            signature=signature_view(session, ctx, repo, view),
        )


def switch(ctx: Ctx) -> Response:
    """The revision picker's target: redirect to the same view at another revision."""
    q = ctx.request.query_params
    view = q.get("view") if q.get("view") in ("tree", "blob", "commits") else "tree"
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        rev = q.get("rev") or repos.DEFAULT_BRANCH
        access.content(session, ctx.principal, repo).at(rev)
        url = f"{repo_path(repo)}/{view}/{rev_segment(rev)}"
    path = (q.get("path") or "").strip("/")
    if path and view != "commits":
        url += "/" + path_segment(path)
    return redirect(ctx, url)
