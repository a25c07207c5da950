"""Collections through the client's collection API (``HfApi.*_collection*``).

The rules (who sees a private collection, which items each caller is shown) are in
:mod:`modelcommons.governance.collections`; these handlers only read requests and
write answers.
"""

from __future__ import annotations

from starlette.responses import Response

from ..errors import BadRequest, Unauthorized
from ..governance import collections
from ..server.responses import json_response
from ..server.routing import Ctx
from .common import flag, next_cursor, read_json, read_page

PAGE = 100
#: Items shown per collection in a listing, as on the Hub (``get_collection`` has all).
LISTED_ITEMS = 4


def _slug(ctx: Ctx) -> str:
    return f"{ctx.params['owner']}/{ctx.params['slug']}"


def list_collections(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    offset, limit = read_page(ctx, PAGE)
    with ctx.hub.db.read() as session:
        found = collections.listed(
            session,
            ctx.principal,
            owner=q.get("owner"),
            item=q.get("item"),
            offset=offset,
            limit=limit + 1,
        )
        docs = [
            # A listing gives no position: the client numbers the collections itself.
            {
                k: v
                for k, v in collections.document(
                    session, ctx.principal, c, ctx.base_url, max_items=LISTED_ITEMS
                ).items()
                if k != "position"
            }
            for c in found[:limit]
        ]
    headers = next_cursor(ctx, offset + limit) if len(found) > limit else {}
    return json_response(docs, headers=headers)


def get_collection(ctx: Ctx) -> Response:
    with ctx.hub.db.read() as session:
        collection = collections.find(session, ctx.principal, _slug(ctx))
        return json_response(collections.document(session, ctx.principal, collection, ctx.base_url))


async def create_collection(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    if ctx.principal is None:
        raise Unauthorized("You must be signed in to create a collection.")
    namespace = body.get("namespace") or ctx.principal.name
    if not isinstance(namespace, str):
        raise BadRequest("'namespace' must be a user or organisation name.")

    def work() -> Response:
        with ctx.hub.db.write() as session:
            collection = collections.create(
                session,
                ctx.principal,
                namespace,
                body.get("title"),
                description=body.get("description"),
                private=flag(str(body.get("private", ""))),
            )
            doc = collections.document(session, ctx.principal, collection, ctx.base_url)
        return json_response(doc)

    return await ctx.run(work)


async def update_collection(ctx: Ctx) -> Response:
    body = await read_json(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            collection = collections.find_to_change(session, ctx.principal, _slug(ctx))
            collections.update_metadata(collection, body)
            session.flush()
            doc = collections.document(session, ctx.principal, collection, ctx.base_url)
        return json_response({"success": True, "data": doc})

    return await ctx.run(work)


def delete_collection(ctx: Ctx) -> Response:
    with ctx.hub.db.write() as session:
        collection = collections.find_to_change(session, ctx.principal, _slug(ctx))
        session.delete(collection)
    return json_response({"success": True})


async def add_item(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    item = body.get("item")
    if not isinstance(item, dict):
        raise BadRequest('The body needs an item: {"item": {"id": ..., "type": ...}}.')

    def work() -> Response:
        with ctx.hub.db.write() as session:
            collection = collections.find_to_change(session, ctx.principal, _slug(ctx))
            collections.add_item(
                session,
                ctx.principal,
                collection,
                item.get("type"),
                item.get("id"),
                body.get("note"),
            )
            doc = collections.document(session, ctx.principal, collection, ctx.base_url)
        return json_response(doc)

    return await ctx.run(work)


async def update_item(ctx: Ctx) -> Response:
    body = await read_json(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            collection = collections.find_to_change(session, ctx.principal, _slug(ctx))
            collections.update_item(session, collection, ctx.params["item"], body)
        return json_response({"success": True})

    return await ctx.run(work)


def delete_item(ctx: Ctx) -> Response:
    with ctx.hub.db.write() as session:
        collection = collections.find_to_change(session, ctx.principal, _slug(ctx))
        collections.delete_item(session, collection, ctx.params["item"])
    return json_response({"success": True})
