"""Which blob store a hub uses, from its settings."""

from __future__ import annotations

from pathlib import Path

from ..settings import Settings
from .blobs import BlobStore, LocalBlobStore


def open_blob_store(settings: Settings) -> BlobStore:
    """Pick the blob backend from settings: ``blob_store`` unset or a path is a local
    folder (default ``<data_dir>/blobs``); ``s3://bucket/prefix`` is an object store
    (``s3.py``)."""
    where = settings.blob_store
    if where and where.startswith("s3://"):
        from .s3 import S3BlobStore, S3Location
        from .s3send import make_client

        client = make_client(
            settings.s3_endpoint_url,
            settings.s3_region,
            timeout=settings.s3_timeout_seconds,
            attempts=settings.s3_attempts,
        )
        return S3BlobStore(S3Location.parse(where), client, settings.data_dir / "scratch")
    if where and "://" in where:
        raise ValueError(f"blob_store: {where!r} is neither a folder nor s3://bucket/prefix")
    return LocalBlobStore(Path(where) if where else settings.blob_dir, direct=settings.direct_io)
