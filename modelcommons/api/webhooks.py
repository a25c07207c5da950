"""A user's webhooks (``/api/settings/webhooks``), as ``huggingface_hub`` calls them.

Webhooks belong to the signed-in user; another user's are as missing as ones that
do not exist. Changing them needs a credential that may write. What a webhook may
receive is decided at each event (``webhooks/events.py``): only repositories its
owner may read.
"""

from __future__ import annotations

from starlette.responses import Response

from .. import webhooks
from ..accounts import Principal
from ..errors import Forbidden, Unauthorized
from ..server.responses import json_response
from ..server.routing import Ctx
from ..webhooks import store
from .common import read_json


def _me(ctx: Ctx, *, write: bool) -> Principal:
    if ctx.principal is None:
        raise Unauthorized("You must be signed in to manage webhooks.")
    if write and not ctx.principal.allows("write"):
        raise Forbidden("This token may not write; create a token with write access.")
    return ctx.principal


def _hooks(ctx: Ctx) -> webhooks.WebhookSecrets:
    return ctx.hub.webhooks.keys


def list_webhooks(ctx: Ctx) -> Response:
    me = _me(ctx, write=False)
    with ctx.hub.db.read() as session:
        return json_response(
            [store.document(h, _hooks(ctx)) for h in store.mine(session, me.user_id)]
        )


def get_webhook(ctx: Ctx) -> Response:
    me = _me(ctx, write=False)
    with ctx.hub.db.read() as session:
        hook = store.get(session, me.user_id, ctx.params["id"])
        return json_response({"webhook": store.document(hook, _hooks(ctx))})


async def create(ctx: Ctx) -> Response:
    me = _me(ctx, write=True)
    body = await read_json(ctx, 256 * 1024)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            hook = store.create(
                session,
                _hooks(ctx),
                me.user_id,
                url=body.get("url"),
                watched=body.get("watched"),
                domains=body.get("domains"),
                secret=body.get("secret"),
            )
            return json_response({"webhook": store.document(hook, _hooks(ctx))})

    return await ctx.run(work)


async def update(ctx: Ctx) -> Response:
    me = _me(ctx, write=True)
    body = await read_json(ctx, 256 * 1024)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            hook = store.get(session, me.user_id, ctx.params["id"])
            store.update(session, _hooks(ctx), hook, body)
            return json_response({"webhook": store.document(hook, _hooks(ctx))})

    return await ctx.run(work)


def _switch(ctx: Ctx, disabled: bool) -> Response:
    me = _me(ctx, write=True)
    with ctx.hub.db.write() as session:
        hook = store.get(session, me.user_id, ctx.params["id"])
        hook.disabled = disabled
        return json_response({"webhook": store.document(hook, _hooks(ctx))})


def enable(ctx: Ctx) -> Response:
    return _switch(ctx, False)


def disable(ctx: Ctx) -> Response:
    return _switch(ctx, True)


def delete(ctx: Ctx) -> Response:
    me = _me(ctx, write=True)
    with ctx.hub.db.write() as session:
        session.delete(store.get(session, me.user_id, ctx.params["id"]))
    return json_response({})
