"""One file chunked by ``hf_xet`` and uploaded to a CAS, in a process of its own.

``python -m modelcommons.xet.chunker`` reads one JSON line on standard input
(``endpoint``, ``token``, ``exp``, ``sha256``, ``size``), then exactly ``size`` bytes
of the file, and uploads them through the reference client library. It writes one
JSON line on standard output: its peak resident memory, in KiB.

Why a process: ``hf_xet`` holds whole xorbs (64 MiB) while it builds and sends them,
several at a time, and its runtime keeps memory once used; inside ``commons serve`` it
grew the server by 235 to 343 MB for a 512 MB file and left it 83 to 93 MB larger
(``benchmarks/XET_RESULTS.md``). Here its memory goes back to the system when the
file is done, and a fault in the library ends this process, not the hub.

If its input ends before ``size`` bytes, or before it has answered (the hub that
fed it died), it exits at once: xorbs already sent stay unreferenced (``commons gc``
collects them), and the file is registered only if its shard was already accepted
(the CAS verified it whole: ``commons xet migrate`` then removes the blob left).

Imports nothing from the hub: it starts fast, and it sees no setting or secret but
the token it is given.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
from typing import BinaryIO

#: Bytes read from standard input and handed to the chunker at a time.
BLOCK = 4 * 1024 * 1024

#: ``hf_xet`` settings for conversions on the hub: no telemetry, at most two xorbs in
#: flight (its adaptive concurrency may otherwise open up to 64), and three attempts
#: per request rather than five (3 + 9 s of waiting, not up to six minutes: a CAS
#: that does not answer fails the job soon, the file staying whole until a retry).
CONFIG: dict[str, object] = {
    "telemetry.enabled": False,
    "client.retry_max_attempts": 3,
    "client.enable_adaptive_concurrency": False,
    "client.ac_initial_upload_concurrency": 2,
    "client.ac_max_upload_concurrency": 2,
    "data.max_concurrent_file_ingestion": 1,
}


def main() -> None:
    import hf_xet

    stdin = sys.stdin.buffer
    header = json.loads(stdin.readline())
    left = int(header["size"])
    done = threading.Event()
    session = hf_xet.XetSession(hf_xet.XetConfig().with_config(CONFIG))
    with session.new_upload_commit(
        endpoint=str(header["endpoint"]),
        token=str(header["token"]),
        token_expiry_unix_secs=int(header["exp"]),
    ) as commit:
        stream = commit.start_upload_stream(name=header["sha256"], sha256=header["sha256"])
        while left:
            block = stdin.read(min(left, BLOCK))
            if not block:
                # Leaving the block would commit a truncated file: end here instead.
                sys.stderr.write(f"input ended {left} bytes early; nothing committed\n")
                sys.stderr.flush()
                os._exit(3)
            stream.write(block)
            left -= len(block)
        threading.Thread(target=_watch, args=(stdin, done), daemon=True).start()
        stream.finish()
    done.set()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.write(json.dumps({"peak_rss_kb": peak}) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # Not a normal exit: the watcher thread is blocked reading standard input, which
    # interpreter shutdown would wait on (and abort).
    os._exit(0)


def _watch(stdin: BinaryIO, done: threading.Event) -> None:
    """The hub keeps its end of the pipe open until this process has answered: an end
    of input before that means it died, and nothing more is to be committed."""
    stdin.read()
    if not done.is_set():
        sys.stderr.write("the hub went away before the file was committed; stopping\n")
        sys.stderr.flush()
        os._exit(3)


if __name__ == "__main__":
    main()
