"""Signed revisions: OpenSSF Model Signing (OMS) signatures, made and checked per revision.

A signature is the file ``model.sig`` in the revision itself, a Sigstore bundle in
the format the ``model-signing`` library and its ``model_signing`` CLI write: a DSSE
envelope over an in-toto statement whose predicate lists every signed file with its
sha256, and the paths left out (``ignore_paths``). So ``snapshot_download`` followed
by ``model_signing verify key --signature model.sig --public_key key.pub DIR``, the
standard tool unchanged, verifies a revision with no help from the hub.

**Signing** (:func:`sign_files`) builds the library's manifest from the sha256 the
hub already stores for every file, so no byte is read again, and has the library's
elliptic-curve signer sign it: the same statement, envelope and bundle the CLI
writes for a folder holding the revision. The paths the CLI leaves out are left out
(git's files, the signature itself), plus ``.cache/huggingface``, where
``snapshot_download(local_dir=...)`` keeps its own metadata.

**Verifying** (:func:`verify_revision`) follows the format, reading nothing but the
signature and the stored hashes: the envelope's signature is checked with the
registered key its ``publicKey.hint`` names (:mod:`.keys`), then the statement's
resources are compared with the revision's files. A later commit that changes,
adds or removes a signed file keeps a valid signature that no longer matches:
``mismatch``, naming the files.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import pathlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from cryptography import exceptions as crypto_errors
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.schema import Account, Commit, Repo
from ..errors import BadRequest, Unprocessable
from ..storage.commits import AddFile, CommitRequest, StoredContent
from ..storage.gitobjects import blob_hasher
from ..storage.trees import FileInfo, TreeReader
from ..validation.inputs import loads_json
from .keys import load_public_key, short
from .tables import SigningKey

if TYPE_CHECKING:
    from ..hub import Hub

SIGNATURE_PATH = "model.sig"
#: Left out by the standard tool unless told otherwise (``--ignore-git-paths``).
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
#: Where ``snapshot_download(local_dir=...)`` writes its metadata beside the files.
CLIENT_CACHE = ".cache/huggingface"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
MAX_SIGNATURE_BYTES = 16 * 1024 * 1024

_HASHES: dict[int, Callable[[], hashes.HashAlgorithm]] = {
    256: hashes.SHA256,
    384: hashes.SHA384,
    521: hashes.SHA512,
}


@dataclasses.dataclass
class SignatureState:
    """What the hub makes of a revision's signature.

    ``status``: ``unsigned`` (no ``model.sig``), ``verified`` (a registered key
    signed exactly these files), ``mismatch`` (a registered key signed, but files
    changed since), ``unknown-key`` (no registered key matches), ``invalid`` (not a
    signature the key made, or not one at all) or ``unsupported`` (signed in a mode
    the hub cannot check from stored hashes: shards, another hash, a certificate).
    """

    status: str
    detail: str
    path: str = SIGNATURE_PATH
    signer: str | None = None
    key: str | None = None  # full fingerprint
    key_title: str | None = None
    signed_files: int = 0
    changed: list[str] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)
    extra: list[str] = dataclasses.field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    @property
    def summary(self) -> str:
        """One line for people: "signed by alice, key SHA256:…, verified"."""
        if self.status == "unsigned":
            return "not signed"
        if self.signer and self.key:
            who = f"signed by {self.signer}, key {short(self.key)}"
            word = {"verified": "verified", "mismatch": "no longer matches the files"}
            return f"{who}, {word.get(self.status, self.status)}"
        return self.detail

    def to_json(self, listable: Callable[[str], bool] | None = None) -> dict[str, Any]:
        seen = listable or (lambda _path: True)
        return {
            "status": self.status,
            "verified": self.verified,
            "summary": self.summary,
            "detail": self.detail,
            "path": self.path,
            "signer": self.signer,
            "key": self.key,
            "keyShort": short(self.key) if self.key else None,
            "keyTitle": self.key_title,
            "signedFiles": self.signed_files,
            "changed": [p for p in self.changed if seen(p)],
            "missing": [p for p in self.missing if seen(p)],
            "extra": [p for p in self.extra if seen(p)],
        }


# ---------------------------------------------------------------- the files


def revision_files(session: Session, hub: Hub, commit: Commit) -> dict[str, FileInfo]:
    """Every file of a commit by path, with the sha256 the hub stores for it."""
    reader = TreeReader(session, hub.tree_cache)
    items = [(p, e) for p, e in reader.walk(commit.tree_oid, "", recursive=True) if not e.is_dir]
    return {e.path: e for e in reader.describe(items) if isinstance(e, FileInfo)}


def ignored(path: str, ignore_paths: Iterable[str]) -> bool:
    """Whether the standard tool leaves ``path`` out: it is, or is under, one of them."""
    for ignore in ignore_paths:
        ignore = ignore.strip("/")
        if ignore and (path == ignore or path.startswith(ignore + "/")):
            return True
    return False


def signed_set(files: dict[str, FileInfo], ignore_paths: Iterable[str]) -> dict[str, str]:
    """path -> sha256 of the files a signature over these files covers."""
    ignore = [*GIT_PATHS, *ignore_paths]
    return {p: f.sha256 for p, f in files.items() if not ignored(p, ignore)}


# ---------------------------------------------------------------- signing


def sign_files(
    digests: dict[str, str],
    private_key: pathlib.Path,
    *,
    model_name: str,
    password: str | None = None,
    ignore_paths: Iterable[str] = (SIGNATURE_PATH, CLIENT_CACHE),
) -> bytes:
    """A ``model-signing`` bundle over files given by path and sha256, signed with the
    PEM private key at ``private_key`` (the library's elliptic-curve signer)."""
    # The library's own classes, so the statement is the one its CLI writes.
    from model_signing import manifest
    from model_signing._hashing.hashing import Digest
    from model_signing._signing.sign_ec_key import Signer
    from model_signing._signing.signing import Payload

    items = [
        manifest.FileManifestItem(
            path=pathlib.PurePosixPath(path), digest=Digest("sha256", bytes.fromhex(sha))
        )
        for path, sha in sorted(digests.items())
    ]
    serialization = manifest._FileSerialization(
        "sha256", False, [pathlib.Path(p) for p in (*GIT_PATHS, *ignore_paths)]
    )
    try:
        signer = Signer(private_key, password)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"Cannot use this private key: {exc}") from exc
    signature = signer.sign(Payload(manifest.Manifest(model_name, items, serialization)))
    text: str = signature.bundle.to_json()  # type: ignore[attr-defined]
    return text.encode()


def commit_signature(
    hub: Hub,
    repo: Repo,
    branch: str,
    parent: str,
    bundle: bytes,
    author: str,
    *,
    summary: str = "Sign this revision",
) -> str:
    """Commit ``bundle`` as ``model.sig`` on ``branch``, on top of ``parent`` only
    (``412`` if the branch moved: the signature covers ``parent``'s files)."""
    sha256 = hub.store_bytes(bundle)
    git_oid = None
    if len(bundle) < hub.settings.lfs_threshold_bytes:
        h = blob_hasher(len(bundle))
        h.update(bundle)
        git_oid = h.hexdigest()
    content = StoredContent(sha256=sha256, size=len(bundle), git_oid=git_oid)
    request = CommitRequest(
        summary, "", [AddFile(SIGNATURE_PATH, content=content)], parent_commit=parent
    )
    return hub.committer.commit(repo.id, branch, author, request)


# ---------------------------------------------------------------- verifying


@dataclasses.dataclass(frozen=True)
class Checked:
    """A signature whose envelope a registered key verified."""

    key: SigningKey
    signer: str
    resources: dict[str, str]  # path -> sha256
    ignore_paths: list[str]


def _json(raw: bytes, what: str) -> Any:
    """Parsed with the hub's bounds on hostile JSON (depth, NaN, NUL), as ValueError."""
    try:
        return loads_json(raw, what)
    except BadRequest as exc:
        raise ValueError(exc.message.rstrip(".")) from exc


def _pae(payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding, what the envelope's signature signs."""
    return b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload), payload)


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{what} is not base64") from exc


class Unsupported(ValueError):
    """A well-formed signature the hub cannot check from stored hashes."""


def check_bundle(session: Session, raw: bytes) -> Checked:
    """Verify a bundle's envelope with the registered key it names. Raises
    ``LookupError`` (no such key), ``Unsupported`` or ``ValueError`` (invalid)."""
    bundle = _json(raw, "the signature")
    if not isinstance(bundle, dict):
        raise ValueError("not a Sigstore bundle")
    material = bundle.get("verificationMaterial")
    envelope = bundle.get("dsseEnvelope")
    if not isinstance(material, dict) or not isinstance(envelope, dict):
        raise ValueError("not a Sigstore bundle with a DSSE envelope")
    public = material.get("publicKey")
    if not isinstance(public, dict):
        raise Unsupported("signed with a certificate or Sigstore identity, not a key")
    hint = public.get("hint")
    if not isinstance(hint, str) or not hint:
        raise Unsupported("the signature does not name its key (an old model-signing format)")
    row = session.scalar(select(SigningKey).where(SigningKey.fingerprint == hint.lower()))
    if row is None:
        raise LookupError(hint.lower())
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise ValueError("the envelope does not hold an in-toto statement")
    payload = _b64(envelope.get("payload"), "the payload")
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or not sigs or not isinstance(sigs[0], dict):
        raise ValueError("the envelope has no signature")
    sig = _b64(sigs[0].get("sig"), "the signature")
    key = load_public_key(row.pem)
    try:
        key.verify(sig, _pae(payload), ec.ECDSA(_HASHES[key.curve.key_size]()))
    except crypto_errors.InvalidSignature as exc:
        raise ValueError(f"the signature was not made by key {short(row.fingerprint)}") from exc
    resources, ignore_paths = _statement(payload)
    account = session.get(Account, row.account_id)
    return Checked(row, account.name if account else "?", resources, ignore_paths)


def _statement(payload: bytes) -> tuple[dict[str, str], list[str]]:
    statement = _json(payload, "the signed statement")
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise ValueError("the signed statement is not an in-toto statement")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise Unsupported(f"unknown predicate type {statement.get('predicateType')!r}")
    predicate = statement.get("predicate")
    serialization = predicate.get("serialization") if isinstance(predicate, dict) else None
    if not isinstance(predicate, dict) or not isinstance(serialization, dict):
        raise ValueError("the statement has no serialization")
    if serialization.get("method") != "files" or serialization.get("hash_type") != "sha256":
        raise Unsupported(
            f"signed by {serialization.get('method')!r} with {serialization.get('hash_type')!r}"
            "; the hub checks file-by-file sha256 signatures (the default)"
        )
    ignore = serialization.get("ignore_paths") or []
    items = predicate.get("resources")
    if not isinstance(ignore, list) or not isinstance(items, list):
        raise ValueError("the statement's resources are malformed")
    resources: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict) or item.get("algorithm") != "sha256":
            raise ValueError("a resource is malformed")
        name, digest = item.get("name"), item.get("digest")
        if not isinstance(name, str) or not isinstance(digest, str):
            raise ValueError("a resource is malformed")
        resources[name] = digest.lower()
    return resources, [str(p) for p in ignore]


def compare(checked: Checked, files: dict[str, FileInfo]) -> SignatureState:
    """The state of a verified envelope against a revision's files."""
    # The standard verifier leaves the signature file out whatever the signer listed.
    current = signed_set(files, [*checked.ignore_paths, SIGNATURE_PATH])
    signed = checked.resources
    state = SignatureState(
        status="verified",
        detail="",
        signer=checked.signer,
        key=checked.key.fingerprint,
        key_title=checked.key.title,
        signed_files=len(signed),
        changed=sorted(p for p in signed.keys() & current.keys() if signed[p] != current[p]),
        missing=sorted(signed.keys() - current.keys()),
        extra=sorted(current.keys() - signed.keys()),
    )
    if state.changed or state.missing or state.extra:
        state.status = "mismatch"
        parts = [
            f"{len(state.changed)} changed" if state.changed else "",
            f"{len(state.missing)} removed" if state.missing else "",
            f"{len(state.extra)} added" if state.extra else "",
        ]
        state.detail = "Files differ from what was signed: " + ", ".join(p for p in parts if p)
    else:
        state.detail = f"All {len(signed)} signed files match."
    return state


def read_signature(hub: Hub, files: dict[str, FileInfo]) -> bytes | None:
    info = files.get(SIGNATURE_PATH)
    if info is None:
        return None
    if info.size > MAX_SIGNATURE_BYTES:
        return b""
    with hub.blobs.open(info.sha256) as f:
        return f.read(MAX_SIGNATURE_BYTES)


def assess(session: Session, raw: bytes, files: dict[str, FileInfo]) -> SignatureState:
    """The state of a signature (its bytes) against a revision's files."""
    try:
        checked = check_bundle(session, raw)
    except LookupError as exc:
        return SignatureState(
            "unknown-key",
            f"Signed with key {short(str(exc.args[0]))}, which no account here has registered.",
            key=str(exc.args[0]),
        )
    except Unsupported as exc:
        return SignatureState("unsupported", f"Cannot check this signature: {exc}.")
    except ValueError as exc:
        return SignatureState("invalid", f"Invalid signature: {exc}.")
    return compare(checked, files)


class _Verdicts:
    """Verdicts by (tree, signature blob). Both are content-addressed and never change,
    so only the registration of the key a signature names can change a verdict; it is
    read again on every hit. Spares listing and comparing every file of a large
    signed revision on each page view."""

    def __init__(self, capacity: int = 4096) -> None:
        self._items: OrderedDict[tuple[str, str], tuple[SignatureState, Any]] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[SignatureState, Any] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], value: tuple[SignatureState, Any]) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)


_VERDICTS = _Verdicts()


def _registration(session: Session, fingerprint: str | None) -> tuple[object, ...] | None:
    """What a verdict depends on besides the bytes: the key's row and owner, if any."""
    if not fingerprint:
        return None
    row = session.scalar(select(SigningKey).where(SigningKey.fingerprint == fingerprint))
    if row is None:
        return ("unregistered", fingerprint)
    account = session.get(Account, row.account_id)
    return (row.id, row.fingerprint, account.name if account else None, row.title)


def verify_revision(session: Session, hub: Hub, repo: Repo, commit_oid: str) -> SignatureState:
    """The signature state of a commit of ``repo``."""
    commit = session.get(Commit, (repo.id, commit_oid))
    if commit is None:
        return SignatureState("unsigned", "No such commit.")
    # Most revisions are unsigned: one lookup, before listing every file.
    entry = TreeReader(session, hub.tree_cache).file(commit.tree_oid, SIGNATURE_PATH)
    if entry is None:
        return SignatureState("unsigned", f"This revision has no {SIGNATURE_PATH}.")
    key = (commit.tree_oid, entry.sha256)
    cached = _VERDICTS.get(key)
    if cached is not None and _registration(session, cached[0].key) == cached[1]:
        return copy.deepcopy(cached[0])
    files = revision_files(session, hub, commit)
    raw = read_signature(hub, files)
    if raw is None:
        return SignatureState("unsigned", f"This revision has no {SIGNATURE_PATH}.")
    state = assess(session, raw, files)
    _VERDICTS.put(key, (copy.deepcopy(state), _registration(session, state.key)))
    return state


def require_valid(session: Session, raw: bytes, files: dict[str, FileInfo]) -> SignatureState:
    """A signature received for these files: verified, or ``Unprocessable`` saying why."""
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise Unprocessable(f"A signature is at most {MAX_SIGNATURE_BYTES} bytes.")
    state = assess(session, raw, files)
    if not state.verified:
        if state.status == "unknown-key":
            raise Unprocessable(
                state.detail + " Register the public key first (commons key add, or the "
                "Signing keys section of your settings)."
            )
        raise Unprocessable(f"{state.summary}. {state.detail}".strip())
    return state
