"""Sending bytes to an S3-compatible store, and the client itself (``s3.py`` says why
boto3). :class:`SendingObject` is the one way the hub writes a blob there: hashed as
sent, invisible until completed, completed only with ``If-None-Match: *``."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MiB = 1024 * 1024
#: Part size of the multipart uploads the hub makes (S3 allows 10,000 parts, so
#: larger objects get larger parts). One part is in memory at a time.
PART_BYTES = 16 * MiB
MAX_PARTS = 10_000


def make_client(
    endpoint_url: str | None = None,
    region: str | None = None,
    *,
    pool: int = 32,
    timeout: int = 60,
    attempts: int = 5,
) -> S3Client:
    """A client with the standard AWS credential chain; path-style addressing when an
    endpoint is given (MinIO, moto and most S3-compatible servers want it)."""
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        retries={"max_attempts": max(attempts, 1), "mode": "standard"},
        max_pool_connections=pool,
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        connect_timeout=min(timeout, 10),
        read_timeout=timeout,
    )
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def missing(exc: BaseException) -> bool:
    return error_code(exc) in ("404", "NoSuchKey", "NotFound")


def precondition(exc: BaseException) -> bool:
    # 409 ConditionalRequestConflict: another conditional write to the key is running.
    return error_code(exc) in ("412", "PreconditionFailed", "ConditionalRequestConflict")


class SendingObject:
    """Bytes on their way to one key, hashed as they are sent. Invisible until
    :meth:`commit`, which stores them only if nothing is stored under the key yet."""

    def __init__(
        self, client: S3Client, bucket: str, key: str, size_hint: int | None = None
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.hasher = hashlib.sha256()
        self.size = 0
        self.part_bytes = max(PART_BYTES, -(-(size_hint or 0) // MAX_PARTS))
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []

    def feed(self, data: bytes | memoryview) -> None:
        self.hasher.update(data)
        self.size += len(data)
        self._buffer += data
        while len(self._buffer) >= self.part_bytes:
            self._send_part(self.part_bytes)

    def _send_part(self, length: int) -> None:
        client, bucket = self.client, self.bucket
        if self._upload_id is None:
            self._upload_id = client.create_multipart_upload(Bucket=bucket, Key=self.key)[
                "UploadId"
            ]
        number = len(self._parts) + 1
        body = bytes(memoryview(self._buffer)[:length])
        del self._buffer[:length]
        answer = client.upload_part(
            Bucket=bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def sha256(self) -> str:
        return self.hasher.hexdigest()

    def commit(self) -> bool:
        """Make the bytes visible under the key; False (and nothing sent is kept) when
        a blob is stored there already."""
        client, bucket = self.client, self.bucket
        try:
            if self._upload_id is None:
                digest = base64.b64encode(self.hasher.digest()).decode()
                # The store checks ChecksumSHA256 against what it received, too.
                client.put_object(
                    Bucket=bucket,
                    Key=self.key,
                    Body=bytes(self._buffer),
                    IfNoneMatch="*",
                    ChecksumSHA256=digest,
                )
                self._buffer = bytearray()
                return True
            if self._buffer or not self._parts:
                self._send_part(len(self._buffer))
            client.complete_multipart_upload(
                Bucket=bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
                IfNoneMatch="*",
            )
            self._upload_id = None
            return True
        except Exception as exc:
            if not precondition(exc):
                self.abort()
                raise
        self.abort()
        return False

    def abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=upload_id
                )


class SentBlob:
    """A multipart LFS upload assembled into a :class:`SendingObject` (``s3parts.py``):
    what ``promote`` completes. Only ``sha256``, ``size``, ``close`` and ``discard`` of
    :class:`~modelcommons.storage.blobs.StagedBlob` make sense for it."""

    def __init__(self, sending: SendingObject) -> None:
        self.sending = sending

    @property
    def size(self) -> int:
        return self.sending.size

    def sha256(self) -> str:
        return self.sending.sha256()

    def close(self) -> None:
        pass

    def discard(self) -> None:
        self.sending.abort()
