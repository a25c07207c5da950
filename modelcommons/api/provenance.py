"""Signed revisions, signing keys and bills of materials over HTTP.

``GET /api/{t}/{repo}/signature?revision=R``: the revision's signature state (anyone
who may see the revision). ``POST`` the same path with a signature bundle as the
body (``model_signing sign key`` output, made by the caller with a key the hub never
sees): the hub verifies it against a registered key and the revision's files, then
commits it as ``model.sig`` on that branch (``?branch=`` when the revision is a tag
or commit; the branch must still point at it). ``GET /api/signing-keys/{account}``
lists an account's public keys; ``POST /api/signing-keys`` (``{"key": PEM, "title":
..., "account": ...}``) and ``DELETE /api/signing-keys/{fingerprint}`` manage them.
``GET /api/{t}/{repo}/sbom?revision=R&format=cyclonedx``: a CycloneDX 1.6 ML-BOM.
"""

from __future__ import annotations

from starlette.responses import Response

from ..accounts.users import get_account
from ..errors import BadRequest, Forbidden, Unauthorized
from ..governance import access
from ..provenance import checks as _checks  # noqa: F401  (registers the "signed" check)
from ..provenance import keys, sbom, signatures
from ..server.responses import json_response
from ..server.routing import REPO, Ctx, Router, T
from .common import load_repo, read_body, read_json


def _revision(ctx: Ctx) -> str:
    rev = ctx.request.query_params.get("revision") or "main"
    if len(rev) > 256:
        raise BadRequest("'revision' is too long.")
    return rev


def signature_state(ctx: Ctx) -> Response:
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        at = access.content(session, ctx.principal, repo).at(_revision(ctx))
        state = signatures.verify_revision(session, ctx.hub, repo, at.sha)
        return json_response({"revision": at.sha, **state.to_json(at.listable)})


async def post_signature(ctx: Ctx) -> Response:
    def authorize() -> None:
        with ctx.hub.db.read() as session:
            load_repo(session, ctx, mode="write")

    await ctx.run(authorize)
    raw = await read_body(ctx, signatures.MAX_SIGNATURE_BYTES)
    revision = _revision(ctx)
    branch = ctx.request.query_params.get("branch")

    def work() -> Response:
        with ctx.hub.db.read() as session:
            repo = load_repo(session, ctx, mode="write")
            at = access.content(session, ctx.principal, repo).at(revision)
            files = signatures.revision_files(session, ctx.hub, at.commit)
            state = signatures.require_valid(session, raw, files)
            target = branch or (at.revision.name if at.revision.kind == "branch" else None)
            if target is None:
                raise BadRequest(
                    f"{revision} is a {at.revision.kind}: say which branch (?branch=) "
                    "to commit the signature to (it must point at that commit)."
                )
        assert ctx.principal is not None
        oid = signatures.commit_signature(
            ctx.hub,
            repo,
            target,
            at.sha,
            raw,
            ctx.principal.name,
            summary=f"Sign {at.sha[:12]} ({state.signed_files} files, {state.signer})",
        )
        return json_response({"commitOid": oid, "signedRevision": at.sha, **state.to_json()})

    return await ctx.run(work)


def list_keys(ctx: Ctx) -> Response:
    with ctx.hub.db.read() as session:
        account = get_account(session, ctx.params["account"])
        rows = keys.list_keys(session, account)
        return json_response([keys.describe(session, row) for row in rows])


async def add_key(ctx: Ctx) -> Response:
    if ctx.principal is None:
        raise Unauthorized("Sign in to register a signing key.")
    body = await read_json(ctx, 64 * 1024)
    pem, title = body.get("key"), body.get("title", "")
    account_name = body.get("account") or ctx.principal.name
    if not isinstance(pem, str) or not isinstance(title, str) or not isinstance(account_name, str):
        raise BadRequest("Send {'key': PEM public key, 'title': text, 'account': name}.")
    keys.load_public_key(pem)  # a clear 400 before anything else

    def work() -> Response:
        principal = ctx.principal
        assert principal is not None
        with ctx.hub.db.write() as session:
            account = get_account(session, account_name)
            if not keys.may_manage(session, principal, account):
                raise Forbidden(f"You may not manage the signing keys of {account.name}.")
            row = keys.add_key(ctx.hub, session, account.name, pem, title, principal.name)
            return json_response(keys.describe(session, row))

    return await ctx.run(work)


async def delete_key(ctx: Ctx) -> Response:
    if ctx.principal is None:
        raise Unauthorized("Sign in to remove a signing key.")

    def work() -> Response:
        with ctx.hub.db.write() as session:
            principal = ctx.principal
            assert principal is not None
            row = keys.remove_key(
                ctx.hub, session, principal, ctx.params["fingerprint"], principal.name
            )
            return json_response({"removed": row.fingerprint})

    return await ctx.run(work)


def bill_of_materials(ctx: Ctx) -> Response:
    fmt = ctx.request.query_params.get("format", "cyclonedx")
    if fmt != "cyclonedx":
        raise BadRequest("format must be 'cyclonedx' (CycloneDX 1.6 JSON).")
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        at = access.content(session, ctx.principal, repo).at(_revision(ctx))
        doc = sbom.cyclonedx(session, ctx.hub, ctx.principal, repo, at, base_url=ctx.url(""))
    name = f"{repo.namespace}_{repo.name}_{at.sha[:12]}.cdx.json"
    return json_response(
        doc,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def add_routes(r: Router) -> None:
    api = f"/api/{T}/{REPO}"
    r.add("GET", f"{api}/signature", signature_state)
    r.add("POST", f"{api}/signature", post_signature)
    r.add("GET", f"{api}/sbom", bill_of_materials)
    r.add("GET", "/api/signing-keys/(?P<account>[^/]+)", list_keys)
    r.add("POST", "/api/signing-keys", add_key)
    r.add("DELETE", "/api/signing-keys/(?P<fingerprint>[^/]+)", delete_key)
