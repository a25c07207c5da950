"""Multipart LFS uploads when blobs live in S3: parts any replica may receive.

The local store assembles parts in one folder (``multipart.py``); behind a load
balancer the parts of one upload reach different hub processes, so here every part
becomes an object of its own, ``uploads/<oid>-<nonce>/part-<n>``, and the upload's
state is in the bucket too:

* A part request receives its body into a local scratch file of its own, then sends
  the file to its part key (a part sent again replaces the earlier copy). One that
  finds the upload closed, before or after receiving, is refused (409).
* ``uploads/<oid>-<nonce>.closed`` is written by the completion with
  ``If-None-Match: *``, so exactly one completion closes an upload; it holds
  ``stored`` once that completion stored the object, for a completion sent again.
* The completion reads the parts in order and sends them on to the object's final
  key as one multipart upload (:class:`~modelcommons.storage.s3.SendingObject`),
  hashing exactly the bytes it sends; ``promote`` completes it only if they hash to
  the announced oid. A part replaced while it is read changes nothing: a GET reads
  one version, and the hash is of what was read.

The bytes pass through the hub twice (in, then on to the final key). With
``upload_presigned_parts`` the batch hands out presigned PUT URLs of the part keys
instead (:meth:`S3MultipartUpload.part_url`): the client sends each part straight to
the store, and the hub reads them once, at the completion, to hash and send them on.
A part PUT after the completion closed the upload is not refused then (the store
knows nothing of the marker); it changes nothing, and is left for staging cleanup.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

from boto3.s3.transfer import TransferConfig

from ..errors import BadRequest
from .multipart import UploadClosed
from .s3send import SendingObject, SentBlob, missing, precondition
from .staging import LocalStagedBlob

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

    from .s3 import S3BlobStore

READ_BYTES = 8 * 1024 * 1024
_STORED = b"stored\n"
#: A part file goes up in 8 MiB pieces, at most 4 at once (boto3's default is 10):
#: memory per part request stays at 32 MiB.
_TRANSFER = TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=4)


class S3PartWriter:
    """One part request: a scratch file, sent to the part's key when complete."""

    hashing = False

    def __init__(self, upload: S3MultipartUpload, number: int) -> None:
        self.upload = upload
        self.number = number
        store = upload.store
        self._file = LocalStagedBlob.create(store.staging / f"part-{secrets.token_hex(12)}")

    def append(self, data: bytes | memoryview) -> None:
        self._file.append(data)

    def writev(self, chunks: Sequence[bytes | memoryview]) -> None:
        self._file.writev(chunks)

    def hash(self, data: bytes | memoryview) -> None:
        pass  # the completion hashes what it sends

    def finish(self) -> None:
        self._file.close()
        try:
            if self.upload.closed():
                raise UploadClosed()
            store = self.upload.store
            store.client.upload_file(
                str(self._file.path),
                store.bucket,
                self.upload.part_key(self.number),
                Config=_TRANSFER,
            )
        finally:
            self._file.discard()

    def abort(self) -> None:
        self._file.discard()


class S3MultipartUpload:
    """The parts of one multipart upload in the bucket (see the module doc)."""

    def __init__(self, store: S3BlobStore, upload_id: str) -> None:
        if not upload_id.replace("-", "").isalnum():
            raise ValueError(f"bad upload id {upload_id!r}")
        self.store = store
        self.upload_id = upload_id
        #: The announced oid: the upload id is ``<oid>-<nonce>`` (``api/uploads.py``).
        self.oid = upload_id.split("-", 1)[0]
        self.folder = f"{store.prefix}uploads/{upload_id}/"
        self.marker = f"{store.prefix}uploads/{upload_id}.closed"

    def part_key(self, number: int) -> str:
        return f"{self.folder}part-{number}"

    def _marker(self) -> bytes | None:
        try:
            answer = self.store.client.get_object(Bucket=self.store.bucket, Key=self.marker)
        except Exception as exc:
            if missing(exc):
                return None
            raise
        return answer["Body"].read(64)

    def closed(self) -> bool:
        return self._marker() is not None

    def open_part(self, number: int, offset: int) -> S3PartWriter:
        if self.closed():
            raise UploadClosed()
        return S3PartWriter(self, number)

    def close(self) -> bool:
        """Refuse every part from now on. False if the upload was closed already."""
        try:
            self.store.client.put_object(
                Bucket=self.store.bucket, Key=self.marker, Body=b"", IfNoneMatch="*"
            )
        except Exception as exc:
            if precondition(exc):
                return False
            raise
        return True

    def mark_stored(self) -> None:
        self.store.client.put_object(Bucket=self.store.bucket, Key=self.marker, Body=_STORED)

    def stored(self) -> bool:
        return self._marker() == _STORED

    def assemble(self, size: int, chunk: int) -> tuple[SentBlob, str, int]:
        """After :meth:`close`: the parts sent on to the announced oid's key, not yet
        visible, with the sha256 and size of what was sent."""
        count = -(-size // chunk)
        sending: SendingObject = self.store.sending(self.oid, size)
        try:
            for number in range(1, count + 1):
                length = min(chunk, size - (number - 1) * chunk)
                self._send_part(sending, number, length)
        except BaseException:
            sending.abort()
            raise
        return SentBlob(sending), sending.sha256(), sending.size

    def _send_part(self, sending: SendingObject, number: int, length: int) -> None:
        try:
            answer = self.store.client.get_object(
                Bucket=self.store.bucket, Key=self.part_key(number)
            )
        except Exception as exc:
            if missing(exc):
                raise BadRequest(f"Part {number} of this upload was not received.") from None
            raise
        if int(answer["ContentLength"]) != length:
            answer["Body"].close()
            raise BadRequest(f"Part {number} does not have the {length} bytes expected.")
        body = answer["Body"]
        try:
            for piece in body.iter_chunks(READ_BYTES):
                sending.feed(piece)
        finally:
            body.close()

    def part_url(self, number: int, length: int, seconds: int) -> str | None:
        """A presigned PUT of ``length`` bytes (the length is signed, for stores that
        check it) to the part's key: the bytes go from the client to the store.
        Nothing is trusted of them: the completion reads every part back, checks its
        length and hashes the whole before the object exists."""
        return self.store.client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.store.bucket,
                "Key": self.part_key(number),
                "ContentLength": length,
            },
            ExpiresIn=seconds,
        )

    def remove(self) -> None:
        """Drop the parts (the closed marker stays until staging cleanup)."""
        store = self.store
        paginator = store.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=store.bucket, Prefix=self.folder):
            keys: list[ObjectIdentifierTypeDef] = [
                {"Key": item["Key"]} for item in page.get("Contents", [])
            ]
            if keys:
                with contextlib.suppress(Exception):
                    store.client.delete_objects(Bucket=store.bucket, Delete={"Objects": keys})
