"""Hostile pushes: packs that lie, cheat or blow up, and refs that break the rules.

Each is sent as a raw receive-pack request with a write token. Every one must be
refused with a reason in the report (or a 4xx for malformed protocol), move no
ref, and leave the hub serving; a pack may never link an object of another
repository by its id.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from huggingface_hub import HfApi

from . import packs
from .conftest import Server
from .packs import BLOB, COMMIT, OFS_DELTA, REF_DELTA, TAG, TREE, ZERO

_n = itertools.count()


@dataclass
class World:
    server: Server
    token: str
    repo: str
    head: str
    secret_blob: str  # a file of another, private repository
    secret_tree: str


@pytest.fixture(scope="module")
def world(server: Server) -> World:
    token = server.user("hostile")
    api = HfApi(endpoint=server.url, token=token)
    repo, other = f"hostile/target{next(_n)}", f"hostile/private{next(_n)}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"keep\n", path_in_repo="keep.txt", repo_id=repo)
    api.create_repo(other, private=True)
    api.upload_file(path_or_fileobj=b"top secret\n", path_in_repo="s/secret.txt", repo_id=other)
    tree = {f.path: f for f in api.list_repo_tree(other, recursive=True)}
    return World(
        server,
        token,
        repo,
        api.model_info(repo).sha or "",
        tree["s/secret.txt"].blob_id,
        tree["s"].tree_id,
    )


GOOD = b"good\n"
GOOD_ID = packs.object_id("blob", GOOD)
FILE = b"100644"
DIR = b"40000"


def _tree_with(*items: tuple[bytes, bytes, str]) -> tuple[str, bytes]:
    raw = packs.tree(*items)
    return packs.object_id("tree", raw), raw


def _commit_on(w: World, tree_id: str, *parents: str) -> tuple[str, bytes]:
    raw = packs.commit(tree_id, *(parents or (w.head,)))
    return packs.object_id("commit", raw), raw


def _branch(w: World, entries: list[bytes], new: str, *, ref: str = "") -> bytes:
    ref = ref or f"refs/heads/h{next(_n)}"
    return packs.push_body([(ZERO, new, ref)], packs.pack(entries))


def case_bad_checksum(w: World) -> bytes:
    tid, traw = _tree_with((FILE, b"a.txt", GOOD_ID))
    cid, craw = _commit_on(w, tid)
    body = _branch(
        w, [packs.entry(BLOB, GOOD), packs.entry(TREE, traw), packs.entry(COMMIT, craw)], cid
    )
    return body[:-1] + bytes([body[-1] ^ 1])


def case_truncated(w: World) -> bytes:
    tid, traw = _tree_with((FILE, b"a.txt", GOOD_ID))
    cid, craw = _commit_on(w, tid)
    return _branch(
        w, [packs.entry(BLOB, GOOD), packs.entry(TREE, traw), packs.entry(COMMIT, craw)], cid
    )[:-30]


def case_more_objects_declared(w: World) -> bytes:
    cid, craw = _commit_on(w, packs.object_id("tree", b""))
    return packs.push_body(
        [(ZERO, cid, "refs/heads/x")], packs.pack([packs.entry(COMMIT, craw)], count=5)
    )


def case_thin_delta(w: World) -> bytes:
    delta = packs.insert_delta(5, b"made\n")
    made = packs.object_id("blob", b"made\n")
    tid, traw = _tree_with((FILE, b"a.txt", made))
    cid, craw = _commit_on(w, tid)
    base = bytes.fromhex(packs.object_id("blob", b"elsewhere"))
    entries = [
        packs.entry(REF_DELTA, delta, base=base),
        packs.entry(TREE, traw),
        packs.entry(COMMIT, craw),
    ]
    return _branch(w, entries, cid)


def case_delta_cycle(w: World) -> bytes:
    a, b = b"aaaa\n", b"bbbb\n"
    ida, idb = packs.object_id("blob", a), packs.object_id("blob", b)
    entries = [
        packs.entry(REF_DELTA, packs.insert_delta(5, a), base=bytes.fromhex(idb)),
        packs.entry(REF_DELTA, packs.insert_delta(5, b), base=bytes.fromhex(ida)),
    ]
    return _branch(w, entries, ida)


def case_self_delta(w: World) -> bytes:
    # An offset delta whose base is itself (offset 0).
    return _branch(w, [packs.entry(OFS_DELTA, packs.insert_delta(0, b"x"), base=b"\x00")], GOOD_ID)


def case_huge_declared_object(w: World) -> bytes:
    return _branch(w, [packs.entry(BLOB, b"x" * 100, declared=1 << 40)], GOOD_ID)


def case_delta_bomb(w: World) -> bytes:
    bomb = packs.varint(len(GOOD)) + packs.varint(1 << 40) + bytes([0x90, 0x05])
    entries = [packs.entry(BLOB, GOOD), packs.entry(OFS_DELTA, bomb, base=packs.varint(1))]
    return _branch(w, entries, GOOD_ID)


def _bad_name(name: bytes, mode: bytes = FILE) -> Callable[[World], bytes]:
    def case(w: World) -> bytes:
        tid, traw = _tree_with((mode, name, GOOD_ID))
        cid, craw = _commit_on(w, tid)
        entries = [packs.entry(BLOB, GOOD), packs.entry(TREE, traw), packs.entry(COMMIT, craw)]
        return _branch(w, entries, cid)

    return case


def case_unsorted_tree(w: World) -> bytes:
    tid, traw = _tree_with((FILE, b"b", GOOD_ID), (FILE, b"a", GOOD_ID))
    cid, craw = _commit_on(w, tid)
    return _branch(
        w, [packs.entry(BLOB, GOOD), packs.entry(TREE, traw), packs.entry(COMMIT, craw)], cid
    )


def case_file_and_folder_of_one_name(w: World) -> bytes:
    sub_id, sub = _tree_with((FILE, b"x", GOOD_ID))
    tid, traw = _tree_with((FILE, b"a", GOOD_ID), (FILE, b"a.b", GOOD_ID), (DIR, b"a", sub_id))
    cid, craw = _commit_on(w, tid)
    entries = [
        packs.entry(BLOB, GOOD),
        packs.entry(TREE, sub),
        packs.entry(TREE, traw),
        packs.entry(COMMIT, craw),
    ]
    return _branch(w, entries, cid)


def case_unknown_parent(w: World) -> bytes:
    tid, traw = _tree_with((FILE, b"a.txt", GOOD_ID))
    cid, craw = _commit_on(w, tid, "1" * 40)
    return _branch(
        w, [packs.entry(BLOB, GOOD), packs.entry(TREE, traw), packs.entry(COMMIT, craw)], cid
    )


def case_missing_tree(w: World) -> bytes:
    cid, craw = _commit_on(w, "2" * 40)
    return _branch(w, [packs.entry(COMMIT, craw)], cid)


def case_other_repos_file(w: World) -> bytes:
    tid, traw = _tree_with((FILE, b"stolen.txt", w.secret_blob))
    cid, craw = _commit_on(w, tid)
    return _branch(w, [packs.entry(TREE, traw), packs.entry(COMMIT, craw)], cid)


def case_other_repos_folder(w: World) -> bytes:
    tid, traw = _tree_with((DIR, b"stolen", w.secret_tree))
    cid, craw = _commit_on(w, tid)
    return _branch(w, [packs.entry(TREE, traw), packs.entry(COMMIT, craw)], cid)


def case_blob_as_folder(w: World) -> bytes:
    tid, traw = _tree_with((DIR, b"d", GOOD_ID))
    cid, craw = _commit_on(w, tid)
    return _branch(
        w, [packs.entry(BLOB, GOOD), packs.entry(TREE, traw), packs.entry(COMMIT, craw)], cid
    )


def case_ref_to_blob(w: World) -> bytes:
    return _branch(w, [packs.entry(BLOB, GOOD)], GOOD_ID)


def case_ref_to_annotated_tag(w: World) -> bytes:
    raw = f"object {w.head}\ntype commit\ntag t\ntagger M <m@e> 1700000000 +0000\n\nt\n".encode()
    return _branch(w, [packs.entry(TAG, raw)], packs.object_id("tag", raw), ref="refs/tags/t")


def case_bad_ref_name(w: World) -> bytes:
    return _branch(w, [], w.head, ref="refs/heads/a..b")


def case_foreign_ref(w: World) -> bytes:
    return _branch(w, [], w.head, ref="refs/notes/commits")


def case_stale_old_value(w: World) -> bytes:
    tid, traw = _tree_with((FILE, b"a.txt", GOOD_ID))
    cid, craw = _commit_on(w, tid)
    entries = [packs.entry(BLOB, GOOD), packs.entry(TREE, traw), packs.entry(COMMIT, craw)]
    return packs.push_body([("3" * 40, cid, "refs/heads/main")], packs.pack(entries))


def case_lfs_pointer_not_uploaded(w: World) -> bytes:
    pointer = (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{'cd' * 32}\nsize 9\n".encode()
    )
    pid = packs.object_id("blob", pointer)
    tid, traw = _tree_with((FILE, b"w.bin", pid))
    cid, craw = _commit_on(w, tid)
    return _branch(
        w, [packs.entry(BLOB, pointer), packs.entry(TREE, traw), packs.entry(COMMIT, craw)], cid
    )


CASES: dict[str, tuple[Callable[[World], bytes], str]] = {
    "bad-checksum": (case_bad_checksum, "checksum"),
    "truncated": (case_truncated, "unpack"),
    "more-objects-declared": (case_more_objects_declared, "unpack"),
    "thin-delta": (case_thin_delta, "does not hold"),
    "delta-cycle": (case_delta_cycle, "does not hold"),
    "self-delta": (case_self_delta, "malformed"),
    "huge-object": (case_huge_declared_object, "limit"),
    "delta-bomb": (case_delta_bomb, "limit"),
    "dotdot": (_bad_name(b".."), ""),
    "dot-git": (_bad_name(b".git"), ""),
    "dot-GIT": (_bad_name(b".GiT"), "reserved"),
    "backslash": (_bad_name(b"a\\b"), "backslash"),
    "control-char": (_bad_name(b"a\x1bb"), "control"),
    "slash-in-name": (_bad_name(b"a/b"), ""),
    "symlink": (_bad_name(b"link", b"120000"), "symbolic links"),
    "submodule": (_bad_name(b"sub", b"160000"), "submodules"),
    "odd-mode": (_bad_name(b"f", b"100664"), "mode"),
    "unsorted-tree": (case_unsorted_tree, "sorted"),
    "file-and-folder": (case_file_and_folder_of_one_name, "twice"),
    "unknown-parent": (case_unknown_parent, "neither in the pack nor in this repository"),
    "missing-tree": (case_missing_tree, "neither in the pack nor in this repository"),
    "other-repos-file": (case_other_repos_file, "neither in the pack nor in this repository"),
    "other-repos-folder": (case_other_repos_folder, "neither in the pack nor in this repository"),
    "blob-as-folder": (case_blob_as_folder, "is a folder"),
    "ref-to-blob": (case_ref_to_blob, "not a commit"),
    "annotated-tag": (case_ref_to_annotated_tag, "annotated tags"),
    "bad-ref-name": (case_bad_ref_name, "Invalid branch"),
    "foreign-ref": (case_foreign_ref, "only branches"),
    "stale-old-value": (case_stale_old_value, "fetch first"),
    "lfs-not-uploaded": (case_lfs_pointer_not_uploaded, "has not been uploaded"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_push_is_refused_whole(world: World, name: str) -> None:
    make, reason = CASES[name]
    w = world
    api = HfApi(endpoint=w.server.url, token=w.token)
    before = api.list_repo_refs(w.repo)
    r = httpx.post(
        f"{w.server.url}/{w.repo}/git-receive-pack",
        content=make(w),
        headers={"Authorization": f"Bearer {w.token}"},
        timeout=60,
    )
    if r.status_code == 200:
        lines = packs.report(r.content)
        assert lines and any(line.startswith("ng ") for line in lines), lines
        assert not any(line.startswith("ok ") for line in lines), lines
        assert reason in "\n".join(lines), lines
    else:
        assert 400 <= r.status_code < 500 and r.headers.get("x-error-code"), r.text
        assert reason in r.text, r.text
    after = api.list_repo_refs(w.repo)
    assert after.branches == before.branches and after.tags == before.tags
    assert httpx.get(f"{w.server.url}/api/health").status_code == 200


def test_a_good_hand_made_push_lands(world: World) -> None:
    """The same machinery with honest bytes: a delta-compressed pack lands."""
    w = world
    text = b"made by a delta\n"
    delta = packs.insert_delta(len(GOOD), text)
    made = packs.object_id("blob", text)
    tid, traw = _tree_with((FILE, b"a.txt", GOOD_ID), (FILE, b"b.txt", made))
    cid, craw = _commit_on(w, tid)
    entries = [packs.entry(BLOB, GOOD)]
    entries.append(packs.entry(OFS_DELTA, delta, base=packs.varint(len(entries[0]))))
    entries += [packs.entry(TREE, traw), packs.entry(COMMIT, craw)]
    r = httpx.post(
        f"{w.server.url}/{w.repo}/git-receive-pack",
        content=packs.push_body([(ZERO, cid, "refs/heads/good")], packs.pack(entries)),
        headers={"Authorization": f"Bearer {w.token}"},
    )
    assert packs.report(r.content) == ["unpack ok", "ok refs/heads/good"], r.content
    got = httpx.get(f"{w.server.url}/{w.repo}/resolve/good/b.txt")
    assert got.content == text
