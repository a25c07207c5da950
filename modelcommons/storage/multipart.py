"""Multipart LFS uploads on local disk: parts nobody else can write to, assembled in place.

One upload (an LFS batch answer: an oid and a nonce) keeps its parts in a folder,
``staging/parts-<oid>-<nonce>/``. The rule that keeps the store sound (see
``blobs.py``) is that **a request writes only to a file it holds alone, and a
file is given a name that others act on only after its writer closed it**:

``assembly-<k>-<id>``
    The object being assembled, holding parts 1..k at their offsets and nobody
    writing to it. The request that uploads part k+1 claims it by renaming it to
    a name of its own (``held-<k>-<id>-<owner>``; a rename succeeds for one
    request only), writes the part straight into it, closes it, and renames it to
    ``assembly-<k+1>-<id>``. Parts sent in order, as the stock client sends them,
    are therefore written once, into the object itself, and never copied.
    Bytes past part k (left by a part request that failed) count for nothing: the
    next holder overwrites them and the completion truncates them.
``part-<n>``
    A part that arrived while the assembly was elsewhere (out of order, or in
    parallel). It is received into ``tmp-<n>-<owner>`` (created with ``O_EXCL``),
    closed, then renamed to ``part-<n>``, replacing an earlier copy.
``parts-<oid>-<nonce>.closed`` (beside the folder)
    Written first by the completion. A part request that starts, or finishes,
    after it is refused (409); one still running when the completion claims the
    assembly never gets it back.

The completion closes the upload, claims the assembly (the one with most parts),
copies in the parts it lacks with ``os.copy_file_range`` (no bytes through
Python), and hashes. A holder keeps an ``flock`` on the assembly while it holds
it, so a completion can tell a held assembly whose holder died (no lock; it may
take it over) from one still being written (it refuses to finish).

**Hashing as parts arrive.** sha256 does not compose, so the hub keeps one running
hash per assembly, in this process's memory (:class:`HashChains`), keyed by the
upload, the assembly's random id and the number of parts it covers: the request
that writes part k+1 into assembly ``<id>`` advances a chain that covers exactly
its k parts. The completion re-reads only the bytes no chain covers: the parts
that arrived out of order, or everything after a restart or when the parts went
to another process. A chain may cost a re-read when it is missing, never
correctness: it covers bytes that only its own holders wrote.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import hashlib
import os
import secrets
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadRequest, Conflict
from .direct import DirectWrites
from .staging import LocalStagedBlob
from .writeback import Writeback, write_at

if TYPE_CHECKING:
    from .blobs import LocalBlobStore

READ_BYTES = 8 * 1024 * 1024
#: Running hashes kept at most (one per upload; an abandoned one is dropped first).
MAX_CHAINS = 1024


class UploadClosed(Conflict):
    """A part for an upload that was completed (or is being completed)."""

    def __init__(self) -> None:
        super().__init__(
            "This upload has been completed or closed; its parts are no longer accepted. "
            "Ask the LFS batch API for a new upload."
        )


@dataclasses.dataclass
class _Chain:
    parts: int
    hasher: hashlib._Hash  # sha256 of the assembly's first ``parts`` parts


class HashChains:
    """Running sha256s of assemblies, by (upload, assembly id); thread-safe, bounded."""

    def __init__(self, limit: int = MAX_CHAINS) -> None:
        self._chains: collections.OrderedDict[tuple[str, str], _Chain] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def start(self, upload: str, assembly: str) -> None:
        self.put(upload, assembly, 0, hashlib.sha256())

    def continued(self, upload: str, assembly: str, parts: int) -> hashlib._Hash | None:
        """A copy of the chain if it covers exactly ``parts`` parts of that assembly."""
        with self._lock:
            chain = self._chains.get((upload, assembly))
            if chain is None or chain.parts != parts:
                return None
            return chain.hasher.copy()

    def covering(self, upload: str, assembly: str, most: int) -> tuple[int, hashlib._Hash]:
        """The longest chain of that assembly covering at most ``most`` parts."""
        with self._lock:
            chain = self._chains.get((upload, assembly))
            if chain is None or chain.parts > most:
                return 0, hashlib.sha256()
            return chain.parts, chain.hasher.copy()

    def put(self, upload: str, assembly: str, parts: int, hasher: hashlib._Hash) -> None:
        with self._lock:
            self._chains[(upload, assembly)] = _Chain(parts, hasher)
            self._chains.move_to_end((upload, assembly))
            while len(self._chains) > self._limit:
                self._chains.popitem(last=False)

    def forget(self, upload: str) -> None:
        with self._lock:
            for key in [k for k in self._chains if k[0] == upload]:
                del self._chains[key]


class PartWriter:
    """One part request's file: the assembly it holds, or a private part file.

    Writes go to ``offset`` onwards with ``pwrite`` (the part's place in the
    assembly, or 0 in a part file); ``hash`` advances the running
    hash when this part continues a chain (otherwise it does nothing). ``append``
    and ``hash`` may run on worker threads, one call of each at a time.
    """

    def __init__(
        self,
        upload: LocalMultipartUpload,
        number: int,
        fd: int,
        path: Path,
        offset: int,
        *,
        assembly: tuple[int, str] | None,
        hasher: hashlib._Hash | None,
    ) -> None:
        self.upload = upload
        self.number = number
        self.path = path
        self.offset = offset
        self.written = 0
        #: (parts before this one, assembly id) when this request holds the assembly.
        self.assembly = assembly
        self._hasher = hasher
        self._fd = fd
        self._direct = DirectWrites(fd) if upload.store.direct else None
        self._lock = threading.Lock()
        self._writeback = Writeback(offset)

    def append(self, data: bytes | memoryview) -> None:
        self.writev([data])

    def writev(self, chunks: Sequence[bytes | memoryview]) -> None:
        with self._lock:
            if self._fd < 0:
                raise ValueError("the part file is closed")
            at = self.offset + self.written
            self.written += write_at(self._fd, chunks, at, self._direct)
            if self.assembly is not None:  # a part file is copied, then deleted
                self._writeback.wrote(self._fd, self.offset + self.written)

    def hash(self, data: bytes | memoryview) -> None:
        if self._hasher is not None:
            self._hasher.update(data)

    @property
    def hashing(self) -> bool:
        return self._hasher is not None

    def _close(self) -> None:
        with self._lock:  # waits for a write still running on a worker thread
            if self._direct is not None:
                self._direct.close()
            if self._fd >= 0:
                os.close(self._fd)  # also releases the assembly's flock
                self._fd = -1

    def finish(self) -> None:
        """The whole part arrived: close the file, then make it visible to others."""
        self._close()
        up = self.upload
        if up.closed():
            self.abort()
            raise UploadClosed()
        try:
            if self.assembly is None:
                os.rename(self.path, up.folder / f"part-{self.number}")
                return
            before, ident = self.assembly
            if self._hasher is not None:
                # Before the rename, so the next part finds it. Should the rename fail,
                # no assembly ever holds before+1 parts under this id and the chain is
                # never used (the completion takes only chains within what it holds).
                up.store.chains.put(up.upload_id, ident, before + 1, self._hasher)
            os.rename(self.path, up.folder / f"assembly-{before + 1}-{ident}")
        except FileNotFoundError:
            raise UploadClosed() from None  # the completion took it meanwhile

    def abort(self) -> None:
        """Give the assembly back as it was, or drop the private part file."""
        with self._lock:
            if self._fd >= 0 and self.assembly is not None:
                os.ftruncate(self._fd, self.offset)  # free what this part wrote
        self._close()
        with contextlib.suppress(FileNotFoundError):
            if self.assembly is None:
                self.path.unlink()
            else:
                before, ident = self.assembly
                os.rename(self.path, self.upload.folder / f"assembly-{before}-{ident}")


class LocalMultipartUpload:
    """The parts of one multipart upload in the local store (see the module doc)."""

    def __init__(self, store: LocalBlobStore, upload_id: str) -> None:
        if not upload_id.replace("-", "").isalnum():
            raise ValueError(f"bad upload id {upload_id!r}")
        self.store = store
        self.upload_id = upload_id
        self.folder = store.staging / f"parts-{upload_id}"
        self.marker = store.staging / f"parts-{upload_id}.closed"

    def closed(self) -> bool:
        return self.marker.exists()

    # -- part requests ---------------------------------------------------------

    def open_part(self, number: int, offset: int) -> PartWriter:
        """Where part ``number`` (at byte ``offset``) goes: straight into the
        assembly when it holds parts 1..number-1 and nobody holds it, else a
        private part file."""
        if self.closed():
            raise UploadClosed()
        self.folder.mkdir(exist_ok=True)
        owner = secrets.token_hex(8)
        if number == 1 and not self._assemblies():
            ident = secrets.token_hex(8)
            path = self.folder / f"held-0-{ident}-{owner}"
            fd = _locked(os.open(path, _NEW_FILE, 0o600))
            self.store.chains.start(self.upload_id, ident)
            return self._writer(number, fd, path, offset, 0, ident)
        for name in self._names(f"assembly-{number - 1}-"):
            ident = name.split("-")[2]
            path = self.folder / f"held-{number - 1}-{ident}-{owner}"
            try:
                os.rename(self.folder / name, path)  # the claim: one request wins
                fd = _locked(os.open(path, os.O_WRONLY | _CLOEXEC))
            except FileNotFoundError:
                if self.closed():  # a completion took it over: see _claim_assembly
                    raise UploadClosed() from None
                continue
            return self._writer(number, fd, path, offset, number - 1, ident)
        path = self.folder / f"tmp-{number}-{owner}"
        fd = os.open(path, _NEW_PART, 0o600)
        return PartWriter(self, number, fd, path, 0, assembly=None, hasher=None)

    def _writer(
        self, number: int, fd: int, path: Path, offset: int, before: int, ident: str
    ) -> PartWriter:
        hasher = self.store.chains.continued(self.upload_id, ident, before)
        return PartWriter(self, number, fd, path, offset, assembly=(before, ident), hasher=hasher)

    def _names(self, prefix: str) -> list[str]:
        try:
            return [n for n in os.listdir(self.folder) if n.startswith(prefix)]
        except FileNotFoundError:
            return []

    def _assemblies(self) -> list[str]:
        return self._names("assembly-") + self._names("held-")

    # -- the completion --------------------------------------------------------

    def close(self) -> bool:
        """Refuse every part from now on. False if the upload was closed already."""
        try:
            fd = os.open(self.marker, _NEW_FILE, 0o600)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def mark_stored(self) -> None:
        """Note that this upload stored its object, for a completion sent again."""
        self.marker.write_bytes(_STORED)

    def stored(self) -> bool:
        try:
            return self.marker.read_bytes() == _STORED
        except FileNotFoundError:
            return False

    def assemble(self, size: int, chunk: int) -> tuple[LocalStagedBlob, str, int]:
        """After :meth:`close`: the whole object in a file only the caller holds,
        with its sha256 and size. Raises a 4xx HubError when a part is missing or
        still being written."""
        count = -(-size // chunk)
        fd, path, have, ident = self._claim_assembly(count)
        staged = LocalStagedBlob(path, fd)
        try:
            # Drop what a failed part request left past the parts it holds.
            os.ftruncate(fd, min(have * chunk, size))
            writeback = Writeback(have * chunk)
            for number in range(have + 1, count + 1):
                offset = (number - 1) * chunk
                length = min(chunk, size - offset)
                self._copy_part(fd, number, offset, length)
                writeback.wrote(fd, offset + length)  # disk works while we hash
            covered, hasher = (
                self.store.chains.covering(self.upload_id, ident, have)
                if ident
                else (0, hashlib.sha256())
            )
            start = min(covered * chunk, size)  # the last part may be short
            length = start + _hash_from(fd, start, hasher)
        except BaseException:
            staged.discard()
            raise
        return staged, hasher.hexdigest(), length

    def _claim_assembly(self, count: int) -> tuple[int, Path, int, str]:
        """(fd, path, parts it holds, assembly id): the assembly with most parts,
        renamed to a name of ours, or a new empty file when there is none."""
        owner = secrets.token_hex(8)
        candidates = []
        for name in self._assemblies():
            fields = name.split("-")
            if len(fields) >= 3 and fields[1].isdigit():
                candidates.append((int(fields[1]), name, fields[2]))
        for have, name, ident in sorted(candidates, reverse=True):
            if have > count:
                continue
            path = self.folder / f"final-{have}-{ident}-{owner}"
            if name.startswith("assembly-"):
                try:
                    os.rename(self.folder / name, path)
                except FileNotFoundError:
                    continue
                return os.open(path, os.O_RDWR | _CLOEXEC), path, have, ident
            # Held: take it over only if its holder is gone (its flock went with it).
            try:
                fd = os.open(self.folder / name, os.O_RDWR | _CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.rename(self.folder / name, path)
            except BlockingIOError:
                os.close(fd)
                raise Conflict(
                    f"Part {have + 1} of this upload is still being received; complete the "
                    "upload once every part has been answered."
                ) from None
            except FileNotFoundError:
                os.close(fd)  # its holder finished and renamed it: look again
                return self._claim_assembly(count)
            return fd, path, have, ident
        self.folder.mkdir(exist_ok=True)
        path = self.folder / f"final-0-new-{owner}"
        return os.open(path, _NEW_FILE, 0o600), path, 0, ""

    def _copy_part(self, fd: int, number: int, offset: int, length: int) -> None:
        try:
            source = os.open(self.folder / f"part-{number}", os.O_RDONLY | _CLOEXEC)
        except FileNotFoundError:
            raise BadRequest(f"Part {number} of this upload was not received.") from None
        try:
            if os.fstat(source).st_size != length:
                raise BadRequest(f"Part {number} does not have the {length} bytes expected.")
            _copy(source, fd, offset, length)
        finally:
            os.close(source)

    def part_url(self, number: int, length: int, seconds: int) -> str | None:
        return None  # parts reach a folder through the hub only

    def remove(self) -> None:
        """Drop the parts (the closed marker stays until staging cleanup)."""
        self.store.chains.forget(self.upload_id)
        shutil.rmtree(self.folder, ignore_errors=True)


def _copy(source: int, target: int, offset: int, length: int) -> None:
    """Copy a whole part file into ``target`` at ``offset``, inside the kernel
    (``copy_file_range``: a reflink on filesystems that share extents), or with
    reads and writes where the kernel cannot."""
    done = 0
    try:
        while done < length:
            n = os.copy_file_range(source, target, length - done, done, offset + done)
            if n == 0:
                break
            done += n
    except OSError:
        pass  # not supported here (another filesystem, an old kernel): copy it ourselves
    while done < length:
        data = os.pread(source, min(READ_BYTES, length - done), done)
        if not data:
            raise BadRequest("A part file ended early.")
        os.pwrite(target, data, offset + done)
        done += len(data)


def _hash_from(fd: int, start: int, hasher: hashlib._Hash) -> int:
    """Feed ``hasher`` the file's bytes from ``start`` to its end; how many."""
    buffer = bytearray(READ_BYTES)
    view = memoryview(buffer)
    position = start
    while n := os.preadv(fd, [view], position):
        hasher.update(view[:n])
        position += n
    return position - start


def _locked(fd: int) -> int:
    """Take the holder's lock on a newly claimed assembly. Only a completion that
    found it held and is taking it over can have it first: the upload is closed."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UploadClosed() from None
    return fd


_STORED = b"stored\n"
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NEW_FILE = os.O_RDWR | os.O_CREAT | os.O_EXCL | _CLOEXEC
_NEW_PART = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC
