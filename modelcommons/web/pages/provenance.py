"""Provenance on the pages: the signing keys page (/settings/keys), and what the card page
shows of a revision's signature, its bill of materials and its framework (Keras,
TensorFlow: library and "Use this model" snippets, also when the card names none)."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from ...accounts.users import get_account, org_roles
from ...db.schema import Account, Repo
from ...errors import BadRequest, HubError
from ...governance.cards import library_of
from ...governance.content import RevisionContent
from ...provenance import keys, signatures
from ...server.routing import Ctx
from ...storage.trees import TreeReader
from ..forms import field, read_form, require_user
from ..templating import redirect, render

SIGNATURE_WORDS = {
    "verified": "verified",
    "mismatch": "no longer matches",
    "unknown-key": "unknown key",
    "invalid": "invalid",
    "unsupported": "cannot check",
    "unsigned": "not signed",
}


# ---------------------------------------------------------------- the card page


def snippets(ctx: Ctx, repo: Repo, library: str | None, names: set[str]) -> list[tuple[str, str]]:
    """Keras and TensorFlow ways to load the repository (the page adds the others)."""
    env = f"export HF_ENDPOINT={ctx.base_url}"
    rid = repo.repo_id
    out: list[tuple[str, str]] = []
    if library == "keras":
        out.append(
            (
                "keras",
                f"{env}\n\nimport keras\n"
                f'model = keras.saving.load_model("hf://{rid}")\n\n'
                "# Without TensorFlow installed (hf:// uses its file system):\n"
                "from huggingface_hub import snapshot_download\n"
                f'model = keras.saving.load_model(snapshot_download("{rid}"))',
            )
        )
    if library in ("keras", "tensorflow") and "tf_model.h5" in names:
        out.append(
            (
                "transformers (TensorFlow)",
                f"{env}\n\nfrom transformers import TFAutoModel\n"
                f'model = TFAutoModel.from_pretrained("{rid}")',
            )
        )
    if library in ("keras", "tensorflow") and "saved_model.pb" in names:
        out.append(
            (
                "tensorflow",
                f"{env}\n\nimport tensorflow as tf\nfrom huggingface_hub import snapshot_download\n"
                f'model = tf.saved_model.load(snapshot_download("{rid}"))',
            )
        )
    return out


@dataclasses.dataclass
class CardExtras:
    library: str | None = None
    snippets: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    signature: dict[str, Any] | None = None

    def facts(self, facts: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
        """The card's facts, with the library the files show when the card names none."""
        if self.library and not any(label == "Library" for label, _ in facts):
            return [*facts, ("Library", [self.library])]
        return facts


def card_extras(
    session: Session, ctx: Ctx, repo: Repo, view: RevisionContent | None, card: dict[str, Any]
) -> CardExtras:
    """What the card page adds for provenance, at the revision it shows."""
    if view is None:
        return CardExtras()
    reader = TreeReader(session, ctx.hub.tree_cache)
    top = reader.walk(view.commit.tree_oid, "", recursive=False)
    names = {path for path, entry in view.listed(reader, top) if not entry.is_dir}
    library = library_of(card, names)
    signature = signature_view(session, ctx, repo, view)
    return CardExtras(library, snippets(ctx, repo, library, names), signature)


def signature_view(session: Session, ctx: Ctx, repo: Repo, view: RevisionContent) -> dict[str, Any]:
    """A revision's signature state as the pages show it (card and commit pages)."""
    state = signatures.verify_revision(session, ctx.hub, repo, view.sha)
    return {
        "status": state.status,
        "word": SIGNATURE_WORDS.get(state.status, state.status),
        "summary": state.summary,
        "detail": state.detail,
        "signer": state.signer,
        "key": keys.short(state.key) if state.key else None,
        "changed": [p for p in (*state.changed, *state.missing, *state.extra) if view.listable(p)],
    }


# ---------------------------------------------------------------- /settings/keys


def _accounts(session: Session, user_id: int, name: str) -> list[str]:
    """The accounts whose keys the user manages: their own, and organisations they admin."""
    admin = sorted(org for org, role in org_roles(session, user_id).items() if role == "admin")
    return [name, *admin]


def _page(ctx: Ctx, *, error: str | None = None, status: int = 200) -> Response:
    me = require_user(ctx)
    with ctx.hub.db.read() as session:
        owners = _accounts(session, me.user_id, me.name)
        rows = []
        for owner in owners:
            account = session.scalar(select(Account).where(Account.name == owner))
            if account is not None:
                rows += [keys.describe(session, row) for row in keys.list_keys(session, account)]
    return render(
        ctx,
        "account/keys.html",
        status=status,
        title="Signing keys",
        keys=rows,
        owners=owners,
        error=error,
    )


def keys_page(ctx: Ctx) -> Response:
    return _page(ctx)


async def add_key(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)
    pem, title, owner = field(form, "key"), field(form, "title"), field(form, "account", me.name)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            if owner not in _accounts(session, me.user_id, me.name):
                raise BadRequest(f"You may not manage the signing keys of {owner}.")
            account = get_account(session, owner)
            if not keys.may_manage(session, me, account):
                raise BadRequest(f"You may not manage the signing keys of {owner}.")
            keys.add_key(ctx.hub, session, owner, pem, title, me.name)
        return redirect(ctx, "/settings/keys")

    try:
        return await ctx.run(work)
    except HubError as exc:
        if exc.status >= 500:
            raise
        message = exc.message
    return await ctx.run(lambda: _page(ctx, error=message, status=400))


async def remove_key(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)
    fingerprint = field(form, "fingerprint")

    def work() -> Response:
        with ctx.hub.db.write() as session:
            keys.remove_key(ctx.hub, session, me, fingerprint, me.name)
        return redirect(ctx, "/settings/keys")

    return await ctx.run(work)
