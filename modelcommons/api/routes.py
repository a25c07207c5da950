"""The API's routes: every path the clients call, mapped to its handler.

Routes match the raw path (see :mod:`modelcommons.server.routing`); the pages come
after these (:mod:`modelcommons.web.routes`), so that an API path always wins.
"""

from __future__ import annotations

from ..server.routing import PREFIX, REPO, REV, Router, T
from . import (
    access_requests,
    audit,
    bare_ids,
    collections,
    discussions,
    files,
    git,
    history,
    lfs_files,
    likes,
    lineage,
    preupload,
    refs,
    releases,
    repos,
    uploads,
    webhooks,
    xet,
)
from .provenance import add_routes as add_provenance_routes


def add_routes(r: Router) -> None:
    api = f"/api/{T}/{REPO}"
    r.add("GET", "/api/whoami-v2", repos.whoami)
    r.add("POST", "/api/repos/create", repos.create)
    r.add("DELETE", "/api/repos/delete", repos.delete)
    r.add("POST", "/api/repos/move", repos.move)
    r.add("POST", "/api/validate-yaml", repos.validate_yaml)
    r.add("GET", f"/api/{T}", repos.list_repos)
    r.add("GET", api, repos.info)
    r.add("GET", f"{api}/revision/{REV}", repos.info)
    r.add("PUT", f"{api}/settings", repos.settings)
    r.add("GET", f"{api}/auth-check", repos.auth_check)
    uar = f"{api}/user-access-request"
    r.add("GET", f"{uar}/(?P<status>pending|accepted|rejected)", access_requests.list_requests)
    r.add("POST", f"{uar}/handle", access_requests.handle)
    r.add("POST", f"{uar}/grant", access_requests.grant)
    plan = f"{api}/release-plan"
    r.add("GET", plan, releases.get_plan)
    r.add("PUT", plan, releases.put_plan)
    r.add("DELETE", plan, releases.delete_plan)
    r.add("POST", f"{plan}/(?P<action>promote|pause|resume|rollback|approve)", releases.decide)
    r.add("GET", f"{api}/tree/{REV}", files.tree)
    r.add("GET", f"{api}/tree/{REV}/(?P<path>.*)", files.tree)
    r.add("POST", f"{api}/paths-info/{REV}", files.paths_info)
    r.add("GET", f"{api}/refs", refs.list_refs)
    r.add("POST", f"{api}/branch/(?P<branch>[^/]+)", refs.create_branch)
    r.add("DELETE", f"{api}/branch/(?P<branch>[^/]+)", refs.delete_branch)
    r.add("POST", f"{api}/tag/{REV}", refs.create_tag)
    r.add("DELETE", f"{api}/tag/{REV}", refs.delete_tag)
    r.add("GET", f"{api}/commits/{REV}", refs.list_commits)
    r.add("POST", f"{api}/super-squash/{REV}", history.squash)
    r.add("GET", f"{api}/lfs-files", lfs_files.list_files)
    r.add("POST", f"{api}/lfs-files/batch", lfs_files.delete_files)
    r.add("POST", f"{api}/preupload/{REV}", preupload.preupload)
    r.add("POST", f"{api}/commit/{REV}", uploads.commit)
    xet.add_routes(r, api)
    lfs = f"/{PREFIX}{REPO}\\.git/info/lfs"
    r.add("POST", f"{lfs}/objects/batch", uploads.lfs_batch)
    r.add("POST", f"{lfs}/objects/verify", uploads.lfs_verify)
    # git over HTTP: the repository's URL as a git remote, with or without ".git".
    r.add("GET", f"/{PREFIX}{REPO}/info/refs", git.info_refs, plain=True)
    r.add("POST", f"/{PREFIX}{REPO}/git-upload-pack", git.upload_pack, plain=True)
    r.add("POST", f"/{PREFIX}{REPO}/git-receive-pack", git.receive_pack, plain=True)
    r.add("PUT", "/lfs/upload/(?P<token>[^/]+)", uploads.lfs_upload)
    r.add("PUT", "/lfs/part/(?P<token>[^/]+)/(?P<part>[0-9]{1,6})", uploads.lfs_part)
    r.add("POST", "/lfs/complete/(?P<token>[^/]+)", uploads.lfs_complete)
    r.add("GET", "/lfs/objects/(?P<token>[^/]+)", uploads.lfs_download)
    r.add("GET", f"/{PREFIX}{REPO}/resolve/{REV}/(?P<path>.+)", files.resolve)
    r.add("GET", f"/{PREFIX}{REPO}/raw/{REV}/(?P<path>.+)", files.resolve)
    r.add("POST", f"{api}/like", likes.like)
    r.add("DELETE", f"{api}/like", likes.unlike)
    r.add("GET", f"{api}/likers", likes.likers)
    r.add("GET", "/api/users/(?P<user>[^/]+)/likes", likes.user_likes)
    r.add("GET", f"{api}/audit-log", audit.repo_log)
    r.add("GET", f"{api}/lineage", lineage.lineage_of)
    r.add("GET", "/api/audit-log/(?P<namespace>[^/]+)", audit.namespace_log)
    add_provenance_routes(r)  # signed revisions, signing keys, bills of materials
    add_discussion_routes(r, api)
    add_webhook_routes(r)
    add_collection_routes(r)
    r.add("GET POST PUT PATCH DELETE", f"/api/spaces/{REPO}/(?P<rest>.+)", repos.no_spaces)
    bare_ids.add_routes(r)  # last: ids without a namespace are never a real route's


def add_discussion_routes(r: Router, api: str) -> None:
    """Discussions and pull requests (``api/discussions.py``)."""
    one = f"{api}/discussions/(?P<num>[0-9]{{1,9}})"
    r.add("GET", f"{api}/discussions", discussions.list_discussions)
    r.add("POST", f"{api}/discussions", discussions.create)
    r.add("GET", one, discussions.details)
    r.add("POST", f"{one}/comment", discussions.comment)
    r.add("POST", f"{one}/comment/(?P<comment>[0-9a-fA-F]{{1,24}})/edit", discussions.edit_comment)
    r.add("POST", f"{one}/comment/(?P<comment>[0-9a-fA-F]{{1,24}})/hide", discussions.hide_comment)
    r.add("POST", f"{one}/title", discussions.rename)
    r.add("POST", f"{one}/status", discussions.change_status)
    r.add("POST", f"{one}/merge", discussions.merge)


def add_collection_routes(r: Router) -> None:
    """Collections (``api/collections.py``)."""
    coll = "/api/collections/(?P<owner>[^/]+)/(?P<slug>[^/]+)"
    r.add("GET", "/api/collections", collections.list_collections)
    r.add("POST", "/api/collections", collections.create_collection)
    r.add("GET", coll, collections.get_collection)
    r.add("PATCH", coll, collections.update_collection)
    r.add("DELETE", coll, collections.delete_collection)
    r.add("POST", f"{coll}/items", collections.add_item)
    r.add("PATCH", f"{coll}/items/(?P<item>[^/]+)", collections.update_item)
    r.add("DELETE", f"{coll}/items/(?P<item>[^/]+)", collections.delete_item)


def add_webhook_routes(r: Router) -> None:
    """A user's webhooks (``api/webhooks.py``)."""
    base = "/api/settings/webhooks"
    one = f"{base}/(?P<id>[0-9a-f]{{1,24}})"
    r.add("GET", base, webhooks.list_webhooks)
    r.add("POST", base, webhooks.create)
    r.add("GET", one, webhooks.get_webhook)
    r.add("POST", one, webhooks.update)
    r.add("DELETE", one, webhooks.delete)
    r.add("POST", f"{one}/enable", webhooks.enable)
    r.add("POST", f"{one}/disable", webhooks.disable)
