"""Generated hostile input at every route of a real ``commons serve``: never a 5xx.

The routes come from the OpenAPI description the hub serves at
``/api/openapi.json`` (written from the router, so a new route is fuzzed without
anyone listing it). For each operation, Hypothesis draws path segments (a
working value, or hostile text, odd percent-encodings and NULs), the documented
query parameters and a few others (huge, negative, non-numeric), and a body of
the documented kind (JSON nested past any limit, huge numbers, NaN, wrong types,
NUL characters; NDJSON commits; bytes; forms). Any 5xx, a 4xx outside the error
shape, or a dropped connection fails the test.

Run only these with ``pytest -m fuzz``; ``COMMONS_FUZZ_EXAMPLES`` sets examples
per operation (default 5), and the examples are the same on every run unless
``COMMONS_FUZZ_RANDOM=1``.
"""

from __future__ import annotations

import json
import os
import string
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from huggingface_hub import HfApi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelcommons.app import build_router
from modelcommons.server.openapi import describe, handler_name

from .conftest import Server

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("COMMONS_FUZZ_EXAMPLES", "5"))
#: Set COMMONS_FUZZ_RANDOM=1 to explore new examples on each run.
RANDOM = os.environ.get("COMMONS_FUZZ_RANDOM") == "1"
DESCRIPTION = describe(build_router())
OPERATIONS = [
    (method.upper(), template, op)
    for template, item in DESCRIPTION["paths"].items()
    for method, op in item.items()
    if method != "head"
]

# --- hostile values -----------------------------------------------------------

ODD = [
    "",
    ".",
    "..",
    "%",
    "%00",
    "%2F",
    "%%",
    "%zz",
    "%C0%AE",
    "%ff%fe",
    "%2e%2e",
    "\x00",
    "a\x00b",
    "\r\nX-Injected: 1",
    "\x1b[31m",
    "\ud7ff\ufffe",
    "\u202e",
    "refs/pr/99999999999999999999",
    "refs/convert/parquet",
    "-1",
    "9" * 40,
    "1e309",
    "NaN",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "a" * 3000,
]
texts = st.one_of(
    st.sampled_from(ODD),
    st.text(max_size=40),
    st.text(alphabet=string.printable, min_size=1, max_size=20),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
)


def _deep(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, texts),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)
    ),
    max_leaves=12,
)
deep_json = st.builds(_deep, st.integers(60, 3000), st.sampled_from(["list", "dict"]))


def _dumps(value: Any) -> bytes:
    try:
        return json.dumps(value).encode()
    except RecursionError:  # deeper than the client's own json can write
        return b"[" * 5000 + b"]" * 5000


def documented_objects(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Objects with the documented properties, each a hostile value."""
    props = schema.get("properties") or {}
    if not props:
        return st.dictionaries(texts, json_values, max_size=4)
    return st.fixed_dictionaries(
        {}, optional={name: st.one_of(json_values, deep_json) for name in props}
    )


# --- the hub under attack -----------------------------------------------------


@pytest.fixture(scope="module")
def hub(server: Server) -> dict[str, str]:
    """A user, a model with files, a dataset, a branch, and LFS upload tokens:
    working values for every path parameter, so generated input reaches the code
    past the lookups."""
    token = server.user("fuzzer")
    api = HfApi(endpoint=server.url, token=token)
    api.create_repo("fuzzer/target", exist_ok=True)
    api.upload_file(
        path_or_fileobj=b"---\nlicense: mit\n---\n# T\n",
        path_in_repo="README.md",
        repo_id="fuzzer/target",
    )
    api.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="d/x.csv", repo_id="fuzzer/target")
    api.create_branch("fuzzer/target", branch="fuzzbranch", exist_ok=True)
    api.create_repo("fuzzer/data", repo_type="dataset", exist_ok=True)
    batch = httpx.post(
        f"{server.url}/fuzzer/target.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": [{"oid": "a" * 64, "size": 1}, {"oid": "b" * 64, "size": 2**30}],
        },
    ).json()["objects"]
    basic = batch[0]["actions"]["upload"]["href"]
    multipart = batch[1]["actions"]["upload"]
    return {
        "token": token,
        "ns": "fuzzer",
        "name": "target",
        "t": "models",
        "rev": "main",
        "path": "d/x.csv",
        "branch": "fuzzbranch",
        "user": "fuzzer",
        "namespace": "fuzzer",
        "status": "pending",
        "action": "approve",
        "file": "commons.css",
        "part": "1",
        "upload": basic.rsplit("/", 1)[-1],
        "part_token": multipart["header"]["1"].rsplit("/", 2)[-2],
        "complete": multipart["href"].rsplit("/", 1)[-1],
    }


def _working(name: str, template: str, hub: dict[str, str]) -> str:
    if name == "token":
        if "/lfs/part/" in template:
            return hub["part_token"]
        return hub["complete"] if "/lfs/complete/" in template else hub["upload"]
    return hub.get(name, "x")


def _segment(value: str, raw: bool) -> str:
    """One path segment: percent-encoded as clients do, or sent as drawn (odd escapes)."""
    if raw:
        return "".join(
            c if c.isascii() and c.isprintable() and c not in "/?#" else quote(c) for c in value
        )
    return quote(value, safe="")


EXTRA_QUERY = [
    "p",
    "cursor",
    "limit",
    "offset",
    "expand",
    "search",
    "sort",
    "q",
    "format",
    "recursive",
    "rev",
    "path",
    "next",
    "direction",
    "filter",
    "author",
]


@st.composite
def requests(
    draw: st.DrawFn, method: str, template: str, op: dict[str, Any], hub: dict[str, str]
) -> dict[str, Any]:
    path = template
    for param in op["parameters"]:
        if param["in"] != "path":
            continue
        name = param["name"]
        value = draw(st.one_of(st.just(_working(name, template, hub)), texts))
        path = path.replace("{" + name + "}", _segment(value, draw(st.booleans())), 1)
    query: dict[str, str] = {}
    names = [p["name"] for p in op["parameters"] if p["in"] == "query"]
    for name in draw(st.lists(st.sampled_from(names + EXTRA_QUERY), max_size=4, unique=True)):
        query[name] = draw(st.one_of(texts, numbers.map(str)))
    headers = {}
    if draw(st.integers(0, 4)):  # mostly as the owner, sometimes with a hostile credential
        headers["Authorization"] = f"Bearer {hub['token']}"
    else:
        headers["Authorization"] = draw(
            st.sampled_from(
                ["Bearer", "Basic %%%", "Bearer \x7f", "Digest x", "Basic " + "A" * 5000]
            )
        )
    content = b""
    body = op.get("requestBody", {}).get("content", {})
    for media, spec in body.items():
        headers["Content-Type"] = media
        if media == "application/x-ndjson":
            lines = draw(
                st.lists(
                    st.one_of(
                        st.fixed_dictionaries(
                            {
                                "key": st.sampled_from(
                                    ["header", "file", "lfsFile", "deletedFile", "deletedFolder"]
                                ),
                                "value": st.one_of(
                                    json_values,
                                    documented_objects(
                                        {
                                            "properties": dict.fromkeys(
                                                [
                                                    "path",
                                                    "content",
                                                    "oid",
                                                    "size",
                                                    "summary",
                                                    "parentCommit",
                                                    "encoding",
                                                ]
                                            )
                                        }
                                    ),
                                ),
                            }
                        ),
                        json_values,
                        deep_json,
                    ),
                    min_size=1,
                    max_size=4,
                )
            )
            content = b"\n".join(_dumps(line) for line in lines)
        elif media == "application/octet-stream":
            content = draw(st.binary(max_size=64))
        elif media.startswith("application/x-git-"):  # pkt-lines, odd ones, and bytes
            packet = st.one_of(
                st.binary(max_size=60).map(lambda b: f"{len(b) + 4:04x}".encode() + b),
                st.sampled_from([b"0000", b"0001", b"0002", b"0003", b"fff0", b"zzzz"]),
                st.sampled_from(
                    [b"0014command=ls-refs\n", b"0012command=fetch\n", b"PACK\0\0\0\2"]
                ),
            )
            content = draw(st.one_of(st.lists(packet, max_size=8).map(b"".join), st.binary()))
        elif media == "application/x-www-form-urlencoded":
            form = draw(
                st.dictionaries(
                    st.sampled_from(
                        ["csrf_token", "name", "password", "content", "rationale", "visibility"]
                    ),
                    texts,
                    max_size=4,
                )
            )
            content = urlencode(form).encode()
        else:
            value = draw(st.one_of(documented_objects(spec["schema"]), json_values, deep_json))
            content = _dumps(value)
        if draw(st.integers(0, 9)) == 0:
            content = draw(st.sampled_from([b"{", b"\xff\xfe", b"null", b"[]", b'"x"', b"NaN"]))
    return {"method": method, "path": path, "query": query, "headers": headers, "content": content}


def _send(server: Server, client: httpx.Client, req: dict[str, Any], op: dict[str, Any]) -> None:
    url = server.url + req["path"]
    if req["query"]:
        url += "?" + urlencode(req["query"])
    try:
        r = client.request(req["method"], url, headers=req["headers"], content=req["content"])
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError) as exc:
        raise AssertionError(f"connection dropped: {exc!r} for {req}") from exc
    except httpx.InvalidURL:
        return  # the client itself will not send this
    assert r.status_code < 500, (r.status_code, r.text[:300], req)
    if 400 <= r.status_code < 500:
        assert r.headers.get("x-error-code"), (r.status_code, r.text[:200], req)
        if "api" in op["tags"] and req["method"] != "HEAD" and r.status_code != 405:
            media = r.headers.get("content-type", "")
            if media.startswith("application/json"):
                assert set(r.json()) >= {"error", "code"} or "message" in r.json(), req


def test_the_description_covers_every_route(server: Server) -> None:
    served = httpx.get(server.url + "/api/openapi.json").json()
    assert served["servers"] == [{"url": server.url}]
    assert {k: v for k, v in served.items() if k != "servers"} == DESCRIPTION
    described = {
        (method.upper(), op["x-handler"])
        for item in served["paths"].values()
        for method, op in item.items()
    }
    missing = [
        f"{sorted(route.methods)} {route.pattern.pattern}"
        for route in build_router().routes
        if any((m, handler_name(route.handler)) not in described for m in route.methods)
    ]
    assert missing == [], "routes missing from /api/openapi.json:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    ("method", "template", "op"), OPERATIONS, ids=[op["operationId"] for *_, op in OPERATIONS]
)
def test_hostile_input_never_gets_a_5xx(
    server: Server, hub: dict[str, str], method: str, template: str, op: dict[str, Any]
) -> None:
    with httpx.Client(timeout=60) as client:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=not RANDOM,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(req=requests(method, template, op, hub))
        def attack(req: dict[str, Any]) -> None:
            _send(server, client, req, op)

        attack()
    assert httpx.get(server.url + "/api/health").status_code == 200
