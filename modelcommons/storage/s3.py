"""Blobs in an S3-compatible object store (``COMMONS_BLOB_STORE=s3://bucket/prefix``).

The client is boto3: the reference implementation of the S3 protocol, maintained by
AWS, with the standard credential chain (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``,
instance roles), SigV4, retries, presigned URLs and conditional writes, and it is
synchronous, which suits the hub's blocking storage calls on worker threads.
obstore (Rust) moves bytes faster, but the hub hashes every byte it sends anyway, and
its API for conditional multipart completion and presigning offers nothing boto3
lacks; one fewer native wheel.

Layout under the prefix: ``objects/ab/cd/<sha256>`` (the blobs), ``touched/<sha256>``
(an empty object whose time says the blob was promoted again), ``uploads/<id>/``
(parts of multipart LFS uploads, ``s3parts.py``), ``gc/`` (blobs being collected) and
``quarantine/``. Bytes being received stay in a local scratch folder until the upload
is verified; nothing there outlives a request, so a replica needs no persistent disk.

**The integrity rule** (``blobs.py``): an object under name X always hashes to X.

1. ``promote`` sends the bytes to the object's final key with a multipart upload (or
   one ``PutObject`` when small), hashing exactly the bytes it sends. An unfinished
   multipart upload is invisible; it is completed only if the sent bytes hash to the
   name, and otherwise aborted.
2. Completion and ``PutObject`` carry ``If-None-Match: *``: a stored blob is never
   replaced, not even by the same bytes. The store answers 412 when the name exists,
   and the stored blob is kept (and refreshed, below).

**Garbage collection** (``remove_if_older``) keeps the rule the local store keeps: a
promote of bytes already stored refreshes them, and a refreshed blob is never removed.
S3 has no rename, so the dance is done with keys. Promote: see the blob, write its
``touched`` marker, see the blob again (gone: store a copy). Collection: copy the blob
to ``gc/``, delete it, then read the marker; when it is younger than the cutoff, copy
the blob back. A promote that saw the blob the second time did so before the delete,
so its marker is there before the collector reads it. A collector that dies in
between leaves the copy in ``gc/``, which ``cleanup_staging`` puts back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

from .blobs import StoredObject
from .s3parts import S3MultipartUpload
from .s3send import SendingObject, SentBlob, missing
from .staging import LocalStagedBlob

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from .blobs import Promotable

MiB = 1024 * 1024
READ_BYTES = 8 * MiB


@dataclasses.dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or ending with "/"

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"blob_store: {url!r} is not s3://bucket[/prefix]")
        prefix = parts.path.strip("/")
        return cls(parts.netloc, f"{prefix}/" if prefix else "")


class _Reader(io.RawIOBase):
    """A blob's bytes as a file, streamed from one GET."""

    def __init__(self, body: Any) -> None:
        super().__init__()
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()
        super().close()


class S3BlobStore:
    """Blobs as objects under ``s3://bucket/prefix/objects/ab/cd/<sha256>``."""

    def __init__(self, location: S3Location, client: S3Client, scratch: Path) -> None:
        self.bucket = location.bucket
        self.prefix = location.prefix
        self.client = client
        self.staging = scratch
        scratch.mkdir(parents=True, exist_ok=True)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, sha256: str) -> str:
        if not _is_sha256(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return f"{self.prefix}objects/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def _touched(self, sha256: str) -> str:
        return f"{self.prefix}touched/{sha256}"

    # -- writing ---------------------------------------------------------------

    def stage(self) -> LocalStagedBlob:
        return LocalStagedBlob.create(self.staging / f"up-{secrets.token_hex(12)}")

    def multipart(self, upload_id: str) -> S3MultipartUpload:
        return S3MultipartUpload(self, upload_id)

    def sending(self, sha256: str, size_hint: int | None = None) -> SendingObject:
        return SendingObject(self.client, self.bucket, self.key(sha256), size_hint)

    def promote(self, staged: Promotable, sha256: str) -> None:
        key = self.key(sha256)
        if self._refresh(sha256):
            staged.discard()
            return
        try:
            if isinstance(staged, SentBlob):
                sending = staged.sending
            else:
                assert isinstance(staged, LocalStagedBlob)
                staged.close()  # waits for a running write; nothing can write to it now
                sending = self.sending(sha256, staged.size)
                with open(staged.path, "rb") as f:
                    while chunk := f.read(READ_BYTES):
                        sending.feed(chunk)
            if sending.key != key or sending.sha256() != sha256:
                sending.abort()
                raise ValueError(f"the bytes sent do not hash to {sha256}")
            stored = sending.commit()
        finally:
            staged.discard()
        if stored:
            self._touch(sha256)  # a multipart object is dated from its start
        elif not self._refresh(sha256):
            raise RuntimeError(f"{sha256} was reported stored and then not found")

    def _touch(self, sha256: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._touched(sha256), Body=b"")

    def _refresh(self, sha256: str) -> bool:
        """Make a stored blob young again; False if it is not stored (module doc)."""
        if not self.exists(sha256):
            return False
        self._touch(sha256)
        return self.exists(sha256)

    # -- reading ---------------------------------------------------------------

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=key))
        except Exception as exc:
            if missing(exc):
                return None
            raise

    def exists(self, sha256: str) -> bool:
        return self._head(self.key(sha256)) is not None

    def size(self, sha256: str) -> int | None:
        head = self._head(self.key(sha256))
        return None if head is None else int(head["ContentLength"])

    def local_path(self, sha256: str) -> Path | None:
        return None

    def open(self, sha256: str) -> BinaryIO:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as exc:
            if missing(exc):
                raise FileNotFoundError(sha256) from exc
            raise
        return io.BufferedReader(_Reader(answer["Body"]), READ_BYTES)

    def read_range(self, sha256: str, start: int, end: int, chunk: int) -> Iterator[bytes]:
        """Bytes ``start``..``end`` (inclusive) of a blob, a piece at a time."""
        answer = self.client.get_object(
            Bucket=self.bucket, Key=self.key(sha256), Range=f"bytes={start}-{end}"
        )
        body = answer["Body"]
        try:
            yield from body.iter_chunks(chunk)
        finally:
            body.close()

    def presigned_url(self, sha256: str, seconds: int, filename: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(sha256)}
        if filename:
            params["ResponseContentDisposition"] = _attachment(filename)
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)

    def list_objects(self) -> Iterator[list[StoredObject]]:
        """One batch per listing page (up to 1,000 blobs), in sha256 order."""
        start = f"{self.prefix}objects/"
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start
        ):
            batch = []
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1]
                if _is_sha256(name) and item["Key"] == self.key(name):
                    modified = item["LastModified"].timestamp()
                    batch.append(StoredObject(name, int(item["Size"]), modified))
            if batch:
                yield batch

    # -- removing --------------------------------------------------------------

    def _modified(self, sha256: str, head: dict[str, Any]) -> float:
        touched = self._head(self._touched(sha256))
        times = [head["LastModified"]] + ([touched["LastModified"]] if touched else [])
        return float(max(t.timestamp() for t in times))

    def remove_if_older(self, sha256: str, cutoff: float) -> int | None:
        key = self.key(sha256)
        head = self._head(key)
        if head is None or self._modified(sha256, head) > cutoff:
            return None
        doomed = f"{self.prefix}gc/{sha256}.{secrets.token_hex(4)}"
        if not self._copy(key, doomed):
            return None
        self.client.delete_object(Bucket=self.bucket, Key=key)
        touched = self._head(self._touched(sha256))
        if touched is not None and touched["LastModified"].timestamp() > cutoff:
            self._put_back(doomed, sha256)
            return None
        self.client.delete_object(Bucket=self.bucket, Key=doomed)
        with contextlib.suppress(Exception):
            self.client.delete_object(Bucket=self.bucket, Key=self._touched(sha256))
        return int(head["ContentLength"])

    def _copy(self, source: str, target: str) -> bool:
        """Server-side copy (multipart for large objects); False if source is gone."""
        try:
            self.client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, target)
        except Exception as exc:
            if missing(exc):
                return False
            raise
        return True

    def _put_back(self, doomed: str, sha256: str) -> None:
        # A promote may have stored the same bytes meanwhile: those stay.
        if not self.exists(sha256):
            self._copy(doomed, self.key(sha256))
        self.client.delete_object(Bucket=self.bucket, Key=doomed)

    def quarantine(self, sha256: str) -> str | None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = f"{self.prefix}quarantine/{sha256}.{stamp}.{secrets.token_hex(4)}"
        if not self._copy(self.key(sha256), target):
            return None
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        return f"s3://{self.bucket}/{target}"

    def cleanup_staging(self, older_than_seconds: float) -> int:
        """Local scratch files and, in the bucket, multipart parts and unfinished
        multipart uploads older than that; blobs left in ``gc/`` go back."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in self.staging.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.lstat().st_mtime < cutoff:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink()
                    removed += 1
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}gc/"):
            for item in page.get("Contents", []):
                sha256 = item["Key"].rsplit("/", 1)[-1].split(".", 1)[0]
                if _is_sha256(sha256):
                    self._put_back(item["Key"], sha256)
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}uploads/"):
            for item in page.get("Contents", []):
                if item["LastModified"].timestamp() < cutoff:
                    self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                    removed += 1
        uploads = self.client.get_paginator("list_multipart_uploads")
        for listing in uploads.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for upload in listing.get("Uploads", []):
                if upload["Initiated"].timestamp() < cutoff:
                    with contextlib.suppress(Exception):
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                    removed += 1
        return removed

    def check(self) -> None:
        """Raise unless the bucket answers (for ``/api/health``)."""
        self.client.head_bucket(Bucket=self.bucket)

    def audit_anchors(self) -> S3Anchors:
        return S3Anchors(self)


class S3Anchors:
    """Audit anchors (``audit/chain.py``) as objects ``audit-anchors/<seq>`` holding
    the entry's hash: outside the database like the file they replace, and shared by
    every replica. Keys sort by sequence number (zero-padded)."""

    def __init__(self, store: S3BlobStore) -> None:
        self.store = store
        self.folder = f"{store.prefix}audit-anchors/"

    def append(self, seq: int, digest: str) -> None:
        self.store.client.put_object(
            Bucket=self.store.bucket, Key=f"{self.folder}{seq:020d}", Body=digest.encode()
        )

    def recent(self, count: int) -> list[tuple[int, str]]:
        keys: list[str] = []
        paginator = self.store.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.store.bucket, Prefix=self.folder):
            keys += [item["Key"] for item in page.get("Contents", [])]
            keys = keys[-count:]
        out = []
        for key in keys:
            seq = key.rsplit("/", 1)[-1]
            body = self.store.client.get_object(Bucket=self.store.bucket, Key=key)["Body"]
            digest = body.read(128).decode("ascii", "replace")
            if seq.isdigit() and len(digest) == 64:
                out.append((int(seq), digest))
        return out


def _attachment(filename: str) -> str:
    from urllib.parse import quote

    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:200]
    return f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(filename)}"


def _is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)
