"""The Xet CAS against hostile input and the wrong callers: every refusal is a clear
4xx and leaves nothing behind; tokens work only for what they were issued for."""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from huggingface_hub import HfApi

from modelcommons.xet import hashing

from . import xet_wire
from .conftest import Server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cas_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = Server(request.param, regular_upload_max_bytes=1_000_000)
    srv.start()
    yield srv
    srv.close()


def xet_token(
    srv: Server, hub_token: str | None, repo: str, scope: str
) -> tuple[int, dict[str, str]]:
    headers = {"Authorization": f"Bearer {hub_token}"} if hub_token else {}
    r = httpx.get(f"{srv.url}/api/models/{repo}/xet-{scope}-token/main", headers=headers)
    if r.status_code != 200:
        return r.status_code, {}
    body = r.json()
    assert body["casUrl"] == f"{srv.url}/cas" and body["exp"] > time.time()
    assert r.headers["x-xet-access-token"] == body["accessToken"]
    return 200, {"Authorization": f"Bearer {body['accessToken']}"}


def left_behind(srv: Server) -> list[str]:
    return [p.name for p in (srv.data_dir / "blobs" / "staging").iterdir()]


def chunks(seed: int, n: int = 3) -> list[bytes]:
    return [hashlib.sha256(f"{seed}-{i}".encode()).digest() * 300 for i in range(n)]


def put_xorb(srv: Server, auth: dict[str, str], name: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{srv.url}/cas/v1/xorbs/default/{name}", content=body, headers=auth)


def put_shard(srv: Server, auth: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(f"{srv.url}/cas/v1/shards", content=body, headers=auth)


def test_tokens_go_to_who_may_have_them(cas_server: Server, repo_name: str) -> None:
    srv = cas_server
    alice, bob = srv.user("alice"), srv.user("bob")
    reader = srv.user("alice", write=False)
    api = HfApi(endpoint=srv.url, token=alice)
    api.create_repo(f"alice/{repo_name}", private=True)
    api.create_repo(f"alice/{repo_name}-pub")
    assert xet_token(srv, alice, f"alice/{repo_name}", "write")[0] == 200
    assert xet_token(srv, reader, f"alice/{repo_name}", "write")[0] == 403
    assert xet_token(srv, reader, f"alice/{repo_name}", "read")[0] == 200
    assert xet_token(srv, bob, f"alice/{repo_name}", "read")[0] == 404
    assert xet_token(srv, None, f"alice/{repo_name}-pub", "read")[0] == 200
    assert xet_token(srv, None, f"alice/{repo_name}-pub", "write")[0] == 401
    assert xet_token(srv, bob, f"alice/{repo_name}-pub", "write")[0] == 403
    # A read token uploads nothing; a hub token is not a Xet token.
    _, read = xet_token(srv, alice, f"alice/{repo_name}", "read")
    name, body = xet_wire.xorb(chunks(1))
    assert put_xorb(srv, read, name, body).status_code == 403
    assert put_xorb(srv, {"Authorization": f"Bearer {alice}"}, name, body).status_code == 401
    assert put_xorb(srv, {}, name, body).status_code == 401


def test_hostile_xorbs_are_refused_and_leave_nothing(cas_server: Server, repo_name: str) -> None:
    srv = cas_server
    alice = srv.user("alice")
    HfApi(endpoint=srv.url, token=alice).create_repo(f"alice/{repo_name}")
    _, auth = xet_token(srv, alice, f"alice/{repo_name}", "write")
    good = chunks(2)
    name, body = xet_wire.xorb(good)
    other, _ = xet_wire.xorb(chunks(3))
    lz4_garbage = b"\0" + (10).to_bytes(3, "little") + b"\1" + (100).to_bytes(3, "little")
    cases = {
        "hash of other chunks": (other, body),
        "truncated": (name, body[:-5]),
        "extended": (name, body + b"junk that is no footer"),
        "corrupt lz4": (name, lz4_garbage + b"\x04\x22\x4d\x18garbag"),
        "chunk too large": (name, b"\0" + (1 << 23).to_bytes(3, "little") + b"\0" * 4),
        "empty": (name, b""),
        "bad hash": ("XYZ", body),
    }
    for label, (h, b) in cases.items():
        r = put_xorb(srv, auth, h, b)
        assert r.status_code == 400, (label, r.status_code, r.text)
        assert r.headers["x-error-message"]
    # A huge declared size is refused before a byte of it is stored.
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.putrequest("POST", f"/cas/v1/xorbs/default/{name}")
    conn.putheader("Authorization", auth["Authorization"])
    conn.putheader("Content-Length", str(1 << 40))
    conn.endheaders(b"x")
    assert conn.getresponse().status == 413
    conn.close()
    assert put_xorb(srv, auth, name, body).json() == {"was_inserted": True}
    assert put_xorb(srv, auth, name, body).json() == {"was_inserted": False}
    assert left_behind(srv) == []


def test_hostile_shards_are_refused_and_nothing_lands(cas_server: Server, repo_name: str) -> None:
    srv = cas_server
    alice, bob = srv.user("alice"), srv.user("bob")
    api = HfApi(endpoint=srv.url, token=alice)
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    HfApi(endpoint=srv.url, token=bob).create_repo(f"bob/{repo_name}-secret", private=True)
    _, auth = xet_token(srv, alice, repo, "write")
    _, bob_auth = xet_token(srv, bob, f"bob/{repo_name}-secret", "write")
    mine = chunks(4, 5)
    name, body = xet_wire.xorb(mine)
    assert put_xorb(srv, auth, name, body).status_code == 200
    secret = chunks(5, 2)
    secret_name, secret_body = xet_wire.xorb(secret)
    assert put_xorb(srv, bob_auth, secret_name, secret_body).status_code == 200
    missing, _ = xet_wire.xorb(chunks(6))
    data = b"".join(mine)
    sha = hashlib.sha256(data).hexdigest()
    cases = {
        "unknown xorb": xet_wire.shard([(mine, "", [(missing, 0, 5)])]),
        "past the end": xet_wire.shard([(mine, "", [(name, 0, 6)])]),
        "empty range": xet_wire.shard([(mine, "", [(name, 3, 3)])]),
        "wrong verification": xet_wire.shard([(mine, "", [(name, 0, 5)])], verification=b"\1" * 32),
        "wrong sha256": xet_wire.shard([(mine, "", [(name, 0, 5)])], sha256="ab" * 32),
        "someone else's private xorb": xet_wire.shard([(secret, "", [(secret_name, 0, 2)])]),
        "wrong file hash": xet_wire.shard([(mine[:4], "", [(name, 0, 5)])]),
        "not a shard": b"hello" * 20,
        "truncated": xet_wire.shard([(mine, "", [(name, 0, 5)])])[:100],
    }
    for label, shard in cases.items():
        r = put_shard(srv, auth, shard)
        assert r.status_code == 400, (label, r.status_code, r.text)
    assert left_behind(srv) == []
    # Nothing landed: a commit naming the bytes by the claimed or the real sha256 fails.
    for oid in ("ab" * 32, sha):
        with pytest.raises(RuntimeError, match="has not been uploaded"):
            _lfs_commit(srv, alice, repo, oid, len(data))
    # The genuine shard lands, and the commit with the hub-computed sha256 with it.
    assert put_shard(srv, auth, xet_wire.shard([(mine, "", [(name, 0, 5)])])).status_code == 200
    _lfs_commit(srv, alice, repo, sha, len(data))
    got = httpx.get(
        f"{srv.url}/{repo}/resolve/main/w.bin", headers={"Authorization": f"Bearer {alice}"}
    )
    assert got.content == data


def _lfs_commit(srv: Server, token: str, repo: str, oid: str, size: int) -> None:
    lines = [
        {"key": "header", "value": {"summary": "xet"}},
        {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": size}},
    ]
    r = httpx.post(
        f"{srv.url}/api/models/{repo}/commit/main",
        content="\n".join(json.dumps(x) for x in lines),
        headers={"Authorization": f"Bearer {token}"},
    )
    if r.status_code != 200:
        raise RuntimeError(r.text)


def test_dedup_and_reconstruction_stay_within_what_the_caller_may_read(
    cas_server: Server, repo_name: str
) -> None:
    srv = cas_server
    alice, bob = srv.user("alice"), srv.user("bob")
    repo = f"alice/{repo_name}"
    HfApi(endpoint=srv.url, token=alice).create_repo(repo, private=True)
    HfApi(endpoint=srv.url, token=bob).create_repo(f"bob/{repo_name}")
    _, auth = xet_token(srv, alice, repo, "write")
    mine = chunks(7, 4)
    name, body = xet_wire.xorb(mine)
    assert put_xorb(srv, auth, name, body).status_code == 200
    assert put_shard(srv, auth, xet_wire.shard([(mine, "", [(name, 0, 4)])])).status_code == 200
    first = hashing.to_hex(hashing.chunk_hash(mine[0]))
    # Alice's own token finds her chunk; the answer hides the raw chunk hashes.
    r = httpx.get(f"{srv.url}/cas/v1/chunks/default-merkledb/{first}", headers=auth)
    assert r.status_code == 200
    assert hashing.chunk_hash(mine[0]) not in r.content
    key = r.content[-200 + 9 * 8 : -200 + 9 * 8 + 32]
    assert hashing.keyed(hashing.chunk_hash(mine[0]), key) in r.content
    # Bob, on his own repository, learns nothing of alice's private chunks or files.
    _, bob_auth = xet_token(srv, bob, f"bob/{repo_name}", "write")
    r = httpx.get(f"{srv.url}/cas/v1/chunks/default-merkledb/{first}", headers=bob_auth)
    assert r.status_code == 404
    file_id = xet_wire.file_id(mine)
    r = httpx.get(f"{srv.url}/cas/v1/reconstructions/{file_id}", headers=bob_auth)
    assert r.status_code == 404
    r = httpx.get(f"{srv.url}/cas/v1/reconstructions/{file_id}", headers=auth)
    assert r.status_code == 200
    recon = r.json()
    assert [t["range"] for t in recon["terms"]] == [{"start": 0, "end": 4}]
    fetch = recon["fetch_info"][name][0]
    url, rng = fetch["url"], fetch["url_range"]
    ranged = {"Range": f"bytes={rng['start']}-{rng['end']}"}
    assert httpx.get(url, headers=ranged).content == body
    # The URL serves its range only.
    assert httpx.get(url).status_code == 403
    assert httpx.get(url, headers={"Range": "bytes=0-"}).status_code == 403
    # Byte ranges of the file map to chunk ranges.
    size = len(mine[0])
    r = httpx.get(
        f"{srv.url}/cas/v1/reconstructions/{file_id}",
        headers={**auth, "Range": f"bytes={size + 5}-{2 * size + 1}"},
    )
    assert r.json()["offset_into_first_range"] == 5
    assert [t["range"] for t in r.json()["terms"]] == [{"start": 1, "end": 3}]
    # The v2 form (which hf_xet asks first): the same terms, fetch entries per xorb.
    r2 = httpx.get(
        f"{srv.url}/cas/v2/reconstructions/{file_id}",
        headers={**auth, "Range": f"bytes={size + 5}-{2 * size + 1}"},
    )
    assert r2.status_code == 200
    v1, v2 = r.json(), r2.json()
    assert (v2["offset_into_first_range"], v2["terms"]) == (
        v1["offset_into_first_range"],
        v1["terms"],
    )
    [entry] = v2["xorbs"][name]
    [fetched] = v1["fetch_info"][name]
    assert entry["ranges"] == [{"chunks": fetched["range"], "bytes": fetched["url_range"]}]
    b = entry["ranges"][0]["bytes"]
    got = httpx.get(entry["url"], headers={"Range": f"bytes={b['start']}-{b['end']}"})
    assert got.content == body[b["start"] : b["end"] + 1]
    r = httpx.get(f"{srv.url}/cas/v2/reconstructions/{file_id}", headers=bob_auth)
    assert r.status_code == 404
    r = httpx.get(
        f"{srv.url}/cas/v1/reconstructions/{file_id}",
        headers={**auth, "Range": f"bytes={4 * size}-"},
    )
    assert r.status_code == 416
    # A shard of bob's may not build on alice's private xorb.
    stolen = xet_wire.shard([(mine, "", [(name, 0, 4)])])
    assert put_shard(srv, bob_auth, stolen).status_code == 400


def test_gated_files_need_access_through_xet_too(cas_server: Server, repo_name: str) -> None:
    srv = cas_server
    alice, bob = srv.user("alice"), srv.user("bob")
    repo = f"alice/{repo_name}"
    api = HfApi(endpoint=srv.url, token=alice)
    api.create_repo(repo)
    _, auth = xet_token(srv, alice, repo, "write")
    mine = chunks(8, 3)
    name, body = xet_wire.xorb(mine)
    assert put_xorb(srv, auth, name, body).status_code == 200
    assert put_shard(srv, auth, xet_wire.shard([(mine, "", [(name, 0, 3)])])).status_code == 200
    _lfs_commit(srv, alice, repo, hashlib.sha256(b"".join(mine)).hexdigest(), 3 * len(mine[0]))
    api.update_repo_settings(repo, gated="manual")
    status, bob_read = xet_token(srv, bob, repo, "read")
    assert status == 200
    file_id = xet_wire.file_id(mine)
    r = httpx.get(f"{srv.url}/cas/v1/reconstructions/{file_id}", headers=bob_read)
    assert r.status_code in (401, 403) and r.headers["x-error-code"] == "GatedRepo"
    _, alice_read = xet_token(srv, alice, repo, "read")
    r = httpx.get(f"{srv.url}/cas/v1/reconstructions/{file_id}", headers=alice_read)
    assert r.status_code == 200


def test_expired_and_forged_tokens_are_refused(repo_name: str) -> None:
    srv = Server("sqlite", xet_token_ttl_seconds=1)
    srv.start()
    try:
        alice = srv.user("alice")
        HfApi(endpoint=srv.url, token=alice).create_repo(f"alice/{repo_name}")
        _, auth = xet_token(srv, alice, f"alice/{repo_name}", "write")
        name, body = xet_wire.xorb(chunks(9))
        time.sleep(2.5)
        r = put_xorb(srv, auth, name, body)
        assert r.status_code == 401 and "expired" in r.headers["x-error-message"]
        forged = {"Authorization": auth["Authorization"][:-4] + "AAAA"}
        assert put_xorb(srv, forged, name, body).status_code == 401
    finally:
        srv.close()


PLAN = {
    "stages": [
        {"name": "owners", "audience": "owners", "opens": {"files": ["staged/*"]}},
        {"name": "everyone", "audience": "public", "opens": {"files": ["staged/*"]}},
    ],
    "rationale": "a staged release",
}


def test_release_plans_and_revoked_credentials_hold_for_xet(
    cas_server: Server, repo_name: str
) -> None:
    srv = cas_server
    alice, bob = srv.user("alice"), srv.user("bob")
    repo = f"alice/{repo_name}"
    HfApi(endpoint=srv.url, token=alice).create_repo(repo)
    _, auth = xet_token(srv, alice, repo, "write")
    mine = chunks(10, 3)
    name, body = xet_wire.xorb(mine)
    assert put_xorb(srv, auth, name, body).status_code == 200
    assert put_shard(srv, auth, xet_wire.shard([(mine, "", [(name, 0, 3)])])).status_code == 200
    data = b"".join(mine)
    lines = [
        {"key": "header", "value": {"summary": "staged"}},
        {
            "key": "lfsFile",
            "value": {
                "path": "staged/w.bin",
                "algo": "sha256",
                "oid": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            },
        },
    ]
    r = httpx.post(
        f"{srv.url}/api/models/{repo}/commit/main",
        content="\n".join(json.dumps(x) for x in lines),
        headers={"Authorization": f"Bearer {alice}"},
    )
    assert r.status_code == 200, r.text
    r = httpx.put(
        f"{srv.url}/api/models/{repo}/release-plan",
        json=PLAN,
        headers={"Authorization": f"Bearer {alice}"},
    )
    assert r.status_code == 200, r.text
    file_id = xet_wire.file_id(mine)
    # Bob may read the repository but not the staged file: not through Xet either.
    status, bob_read = xet_token(srv, bob, repo, "read")
    assert status == 200
    r = httpx.get(f"{srv.url}/cas/v1/reconstructions/{file_id}", headers=bob_read)
    assert r.status_code in (403, 404), r.text
    resolve = httpx.get(
        f"{srv.url}/{repo}/resolve/main/staged/w.bin", headers={"Authorization": f"Bearer {bob}"}
    )
    assert resolve.status_code in (403, 404)
    # A Xet token dies with the hub token it was issued on.
    spare = srv.cli("token", "create", "alice", "--write", "--name", f"s{repo_name}")
    spare_token = spare.stdout.strip().splitlines()[-1]
    _, spare_auth = xet_token(srv, spare_token, repo, "read")
    r = httpx.get(f"{srv.url}/cas/v1/reconstructions/{file_id}", headers=spare_auth)
    assert r.status_code == 200
    srv.cli("token", "revoke", "alice", f"s{repo_name}")
    r = httpx.get(f"{srv.url}/cas/v1/reconstructions/{file_id}", headers=spare_auth)
    assert r.status_code == 401


def test_gc_removes_xorbs_no_file_uses(cas_server: Server, repo_name: str) -> None:
    srv = cas_server
    alice = srv.user("alice")
    repo = f"alice/{repo_name}"
    api = HfApi(endpoint=srv.url, token=alice)
    api.create_repo(repo)
    _, auth = xet_token(srv, alice, repo, "write")
    used, orphan = chunks(20, 3), chunks(21, 2)
    used_name, used_body = xet_wire.xorb(used)
    orphan_name, orphan_body = xet_wire.xorb(orphan)
    assert put_xorb(srv, auth, used_name, used_body).status_code == 200
    assert put_xorb(srv, auth, orphan_name, orphan_body).status_code == 200
    assert (
        put_shard(srv, auth, xet_wire.shard([(used, "", [(used_name, 0, 3)])])).status_code == 200
    )
    _lfs_commit(srv, alice, repo, hashlib.sha256(b"".join(used)).hexdigest(), 3 * len(used[0]))
    srv.cli("gc", "--grace-hours", "0")
    url = f"{srv.url}/{repo}/resolve/main/w.bin"
    assert httpx.get(url).content == b"".join(used)  # used: kept, still reconstructs
    assert put_xorb(srv, auth, orphan_name, orphan_body).json() == {"was_inserted": True}
    assert put_xorb(srv, auth, used_name, used_body).json() == {"was_inserted": False}
    # Once the repository is gone, its file and xorbs go too.
    api.delete_repo(repo)
    srv.cli("gc", "--grace-hours", "0")
    api.create_repo(repo)
    _, auth = xet_token(srv, alice, repo, "write")
    assert put_xorb(srv, auth, used_name, used_body).json() == {"was_inserted": True}
    srv.cli("fsck")
