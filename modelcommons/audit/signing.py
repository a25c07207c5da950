"""Signed checkpoints of the audit chain, and offline verification of an export.

The hash chain (:mod:`.chain`) shows any edit that is not carried through to
every later entry and to the anchors file; whoever can write both the database
and the data dir could rewrite all three consistently. A *checkpoint* is an
Ed25519 signature over one entry's sequence number and hash (which, through the
chain, commits to every entry before it) and the time it was made. The signing
key lives outside the database (``audit_key_file``, by default
``audit-signing.key`` in the data dir, 0600, made on first use); its public key
(``commons audit-log key``) is all a third party needs to check an export.

Ed25519 comes from ``cryptography`` (pyca), the well-kept binding to OpenSSL;
this module holds no cryptography of its own. Nothing here touches the database,
so ``commons audit-log verify --export`` runs anywhere with the public key.

The signed message, in UTF-8::

    model-commons audit checkpoint v1\\n{seq}\\n{hash}\\n{at}\\n
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

GENESIS = "0" * 64
EXPORT_FORMAT = "model-commons-audit-export"
_PREFIX = "ed25519:"


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    #: When it was signed: ``2026-01-31T12:00:00.000000Z``.
    at: str
    #: Base64 of the 64-byte Ed25519 signature over :func:`message`.
    signature: str

    def as_json(self) -> dict[str, Any]:
        return {"checkpoint": dataclasses.asdict(self)}


def message(seq: int, digest: str, at: str) -> bytes:
    return f"model-commons audit checkpoint v1\n{seq}\n{digest}\n{at}\n".encode()


def canonical_hash(body: dict[str, Any]) -> str:
    """An entry's hash: sha256 of its fields (all but ``hash``) as compact JSON with
    sorted keys and non-ASCII characters as they are, in UTF-8."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- keys ----------------------------------------------------------------------


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at ``path``, made (0600, PKCS#8 PEM) if there is none yet.

    A new key is written to a private temporary file and linked into place, so
    two processes starting at once end up with the same key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def public_key_text(key: Ed25519PublicKey) -> str:
    """``ed25519:`` and the base64 of the 32-byte raw public key: one line to note down."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _PREFIX + base64.b64encode(raw).decode()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key as ``commons audit-log key`` prints it, or as PEM; or a file of either."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    value = text.strip()
    if not value.startswith((_PREFIX, "-----BEGIN")) and Path(value).is_file():
        value = Path(value).read_text().strip()
    if value.startswith(_PREFIX):
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(value[len(_PREFIX) :]))
    key = serialization.load_pem_public_key(value.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, seq: int, digest: str, at: str) -> Checkpoint:
    signature = base64.b64encode(key.sign(message(seq, digest, at))).decode()
    return Checkpoint(seq, digest, at, signature)


def signature_holds(key: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        raw = base64.b64decode(checkpoint.signature, validate=True)
        key.verify(raw, message(checkpoint.seq, checkpoint.hash, checkpoint.at))
    except (InvalidSignature, ValueError):
        return False
    return True


# --- checking ------------------------------------------------------------------


def check_checkpoints(
    key: Ed25519PublicKey,
    checkpoints: Iterable[Checkpoint],
    hashes: dict[int, str],
    *,
    last_seq: int,
    every: int,
) -> list[str]:
    """Problems with the checkpoints of a chain whose entry hashes are ``hashes``.

    Each must be signed by ``key`` and name an entry with that hash; since one
    is made at least every ``every`` entries, a longer stretch without one means
    checkpoints were removed (to rewrite the entries they covered)."""
    problems: list[str] = []
    previous = 0
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        if not signature_holds(key, cp):
            problems.append(
                f"checkpoint at entry {cp.seq}: the signature does not verify with this key "
                "(forged, or signed by another key)"
            )
        elif cp.seq not in hashes:
            problems.append(f"entry {cp.seq} was signed but is missing")
        elif hashes[cp.seq] != cp.hash:
            problems.append(
                f"entry {cp.seq}: differs from its signed checkpoint (the log was rewritten)"
            )
        if previous and cp.seq - previous > every:
            problems.append(
                f"no signed checkpoint between entries {previous} and {cp.seq} "
                f"(one is made at least every {every}): checkpoints were removed"
            )
        previous = max(previous, cp.seq)
    if last_seq and not previous:
        problems.append(
            "no signed checkpoint: the log has never been signed, or its checkpoints "
            "were removed (`commons audit-log checkpoint` signs it now)"
        )
    elif last_seq - previous >= every:
        problems.append(
            f"{last_seq - previous} entries after the last signed checkpoint (at entry "
            f"{previous}; one is made at least every {every}): checkpoints were removed"
        )
    return problems


@dataclasses.dataclass
class _Export:
    hashes: dict[int, str] = dataclasses.field(default_factory=dict)
    checkpoints: list[Checkpoint] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    ends_signed: bool = False


def _read_export(lines: Iterable[str]) -> _Export:
    """An export's entries (checked as a chain) and checkpoints (not yet checked)."""
    out = _Export()
    prev, expected = GENESIS, 1
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            out.problems.append(f"line {number}: not JSON")
            continue
        if not isinstance(item, dict) or item.get("format") == EXPORT_FORMAT:
            continue
        if "checkpoint" in item:
            try:
                out.checkpoints.append(Checkpoint(**item["checkpoint"]))
            except TypeError:
                out.problems.append(f"line {number}: a malformed checkpoint")
            out.ends_signed = bool(out.checkpoints) and out.checkpoints[-1].seq == expected - 1
            continue
        seq = item.get("seq")
        if seq != expected:
            out.problems.append(f"entry {seq}: expected sequence number {expected}")
        if item.get("prev") != prev:
            out.problems.append(f"entry {seq}: does not follow the entry before it")
        if canonical_hash({k: v for k, v in item.items() if k != "hash"}) != item.get("hash"):
            out.problems.append(f"entry {seq}: its content does not match its hash")
        if isinstance(seq, int):
            out.hashes[seq] = str(item.get("hash"))
            expected = seq + 1
        prev, out.ends_signed = str(item.get("hash")), False
    return out


def verify_export(
    lines: Iterable[str], key: Ed25519PublicKey, previous: Iterable[str] | None = None
) -> tuple[list[str], int]:
    """Check a ``commons audit-log export --signed`` file with only the public key:
    (problems, entries). The procedure, step by step, is in the README.

    With ``previous`` (an earlier export of the same log), its checkpoints must
    verify and name entries of this one with the same hashes: the log was only
    appended to in between, not rewritten or cut back."""
    export = _read_export(lines)
    problems = export.problems
    last_seq = max(export.hashes, default=0)
    problems += check_checkpoints(
        key, export.checkpoints, export.hashes, last_seq=last_seq, every=1 << 62
    )
    if last_seq and not export.ends_signed:
        problems.append("the export does not end with a signed checkpoint of its last entry")
    if previous is not None:
        earlier = _read_export(previous)
        for cp in earlier.checkpoints:
            if not signature_holds(key, cp):
                problems.append(f"the previous export's checkpoint at {cp.seq} does not verify")
            elif export.hashes.get(cp.seq) != cp.hash:
                problems.append(
                    f"entry {cp.seq}: differs from (or is missing since) the previous "
                    "export's signed checkpoint: the log was rewritten or cut back"
                )
    return problems, len(export.hashes)
