#!/usr/bin/env python3
"""What signing and verifying a revision costs (modelcommons/provenance/signatures.py).

Run it from the repository root with the project's virtual environment::

    .venv/bin/python benchmarks/signing.py [--files 1000 10000] [--big-mib 256]

In-process, on a throwaway SQLite hub in a temporary folder: for revisions of N small
files, the time to sign (from the stored sha256, as ``commons sign`` does), to verify
cold (listing and comparing every file) and warm (the verdict cache), and to answer
an unsigned revision. Then one file of ``--big-mib`` MiB: the hub signs it without
reading it, where the standard ``model_signing sign key`` CLI hashes every byte of a
downloaded folder. Results go to ``benchmarks/SIGNING_RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from modelcommons.accounts.users import create_user, get_account  # noqa: E402
from modelcommons.db.schema import Commit, Repo  # noqa: E402
from modelcommons.hub import Hub  # noqa: E402
from modelcommons.provenance import keys, signatures  # noqa: E402
from modelcommons.settings import Settings  # noqa: E402
from modelcommons.storage import repos  # noqa: E402
from modelcommons.storage.commits import (  # noqa: E402
    AddFile,
    CommitRequest,
    StoredContent,
    initial_commit,
)
from modelcommons.storage.gitobjects import blob_hasher  # noqa: E402
from modelcommons.storage.trees import TreeCache  # noqa: E402

MODEL_SIGNING = str(Path(sys.executable).with_name("model_signing"))


def stored(hub: Hub, data: bytes) -> StoredContent:
    sha = hub.store_bytes(data)
    h = blob_hasher(len(data))
    h.update(data)
    return StoredContent(sha, len(data), h.hexdigest())


def new_repo(hub: Hub, name: str) -> Repo:
    with hub.db.write() as session:
        account = get_account(session, "bench")
        repo = repos.new_repo(session, "model", "bench", name, account.id, private=False)
        initial_commit(session, hub, repo, "bench")
        return repo


def sign_head(hub: Hub, repo: Repo, key: Path) -> tuple[float, str]:
    """Seconds to sign main's files from stored hashes; the signature's commit."""
    with hub.db.read() as session:
        head = repos.resolve(session, repo, "main")
        commit = session.get(Commit, (repo.id, head))
        assert commit is not None
        start = time.perf_counter()
        files = signatures.revision_files(session, hub, commit)
        digests = signatures.signed_set(files, (signatures.SIGNATURE_PATH, signatures.CLIENT_CACHE))
        bundle = signatures.sign_files(digests, key, model_name=repo.name)
        took = time.perf_counter() - start
    return took, signatures.commit_signature(hub, repo, "main", head, bundle, "bench")


def verify(hub: Hub, repo: Repo, commit: str) -> tuple[str, float]:
    with hub.db.read() as session:
        start = time.perf_counter()
        state = signatures.verify_revision(session, hub, repo, commit)
        return state.status, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--big-mib", type=int, default=256)
    args = parser.parse_args()
    # Imported before timing: the library (and sigstore under it) takes a second to load.
    import model_signing._signing.sign_ec_key  # noqa: F401

    work = Path(tempfile.mkdtemp(prefix="signing-bench-"))
    hub = Hub(Settings.from_env(None, data_dir=str(work / "hub"), database_url=None))
    hub.migrate()
    private = ec.generate_private_key(ec.SECP256R1())
    key = work / "key.pem"
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with hub.db.write() as session:
        create_user(session, "bench")
        keys.add_key(hub, session, "bench", public.decode(), "", "bench")
    rows = []
    for n in args.files:
        repo = new_repo(hub, f"files{n}")
        ops = [
            AddFile(f"d{i % 50}/f{i}.txt", content=stored(hub, f"file {i}\n".encode()))
            for i in range(n)
        ]
        head = hub.committer.commit(repo.id, "main", "bench", CommitRequest("files", "", ops))
        _, unsigned = verify(hub, repo, head)
        signing, signed = sign_head(hub, repo, key)
        hub.tree_cache = TreeCache()
        signatures._VERDICTS = signatures._Verdicts()
        status, cold = verify(hub, repo, signed)
        _, warm = verify(hub, repo, signed)
        assert status == "verified", status
        rows.append(
            f"| {n} small files | {signing:.2f} s | {cold:.2f} s | {warm * 1000:.1f} ms "
            f"| {unsigned * 1000:.1f} ms |"
        )

    # One big file: the hub signs from its stored hash; the CLI hashes the bytes.
    size = args.big_mib * 1024 * 1024
    folder = work / "big"
    folder.mkdir()
    chunk = os.urandom(1024 * 1024)
    with open(folder / "weights.bin", "wb") as f:
        for _ in range(args.big_mib):
            f.write(chunk)
    staged = hub.blobs.stage()
    with open(folder / "weights.bin", "rb") as f:
        while block := f.read(4 * 1024 * 1024):
            staged.write(block)
    sha = staged.sha256()
    hub.blobs.promote(staged, sha)
    repo = new_repo(hub, "big")
    op = AddFile("weights.bin", content=StoredContent(sha, size, None))
    hub.committer.commit(repo.id, "main", "bench", CommitRequest("big", "", [op]))
    hub_sign, _ = sign_head(hub, repo, key)
    start = time.perf_counter()
    subprocess.run(
        [MODEL_SIGNING, "sign", "key", "--private_key", str(key), "--signature",
         str(work / "cli.sig"), str(folder)],
        check=True, capture_output=True,
    )  # fmt: skip
    cli_sign = time.perf_counter() - start
    hub.close()

    lines = [
        "# Signing and verifying revisions",
        "",
        f"`benchmarks/signing.py` on {platform.node()} ({os.cpu_count()} CPUs), "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d}, SQLite, in-process. Measured while other "
        "work shared the machine's two cores, so read the figures as upper bounds.",
        "",
        "| revision | sign (hub, from stored hashes) | verify, cold | verify, cached "
        "| unsigned revision |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"One file of {args.big_mib} MiB: the hub signs it in {hub_sign:.2f} s (it reads "
        f"no byte); `model_signing sign key` over a folder holding it takes {cli_sign:.2f} s "
        "(it hashes every byte; that time includes starting the CLI).",
        "",
    ]
    out = ROOT / "benchmarks" / "SIGNING_RESULTS.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
