"""Scanner benchmark: the generated corpus's verdicts, throughput, and the time from a
commit to ``scansDone`` on a real ``commons serve``.

Writes ``benchmarks/SCAN_RESULTS.md``. Run from the repository root:

    PYTHONPATH=. .venv/bin/python benchmarks/scan.py [--repo-mib 1024] [--rounds 3]

Parts:

1. Corpus (``tests/scan_corpus``): every malicious and benign file scanned in
   process; the table lists each verdict. Goal: 100 % of malicious files
   ``unsafe``, 0 benign files ``unsafe``.
2. Throughput, in process: pickles (PyTorch zip checkpoints and raw pickles of a
   few MB, the whole stream read) and large safetensors (header only; a sparse file
   of ``--safetensors-gib`` GiB, whose data is never read). Then large raw pickles
   of realistic shapes (dicts of arrays with protocols 2, 4, 5 and joblib, an
   sklearn-style estimator, lists of small objects) at ``--pickle-mib`` sizes (64
   and 256 MiB), against picklescan's own opcode walk on ``--baseline-mib`` (16)
   MiB files in the same run. A few GB of memory while the objects are built.
3. Latency: a repository of small files (the baseline), and one of ``--repo-mib``
   MiB (1024: two safetensors shards, a PyTorch zip checkpoint, config, tokenizer),
   committed with ``huggingface_hub`` ``--rounds`` times (3) with new bytes each
   time; the commit's own time, then the time from its return until
   ``model_info(securityStatus=True)`` says ``scansDone``, with the scan step's queue
   wait and run time from ``pipeline_steps``. About 3 GiB of temporary files, written
   one repository at a time (1.1 GiB at most).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pickle
import platform
import secrets
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modelcommons.scanning.scan import scan_file  # noqa: E402
from tests.scan_corpus.benign import benign  # noqa: E402
from tests.scan_corpus.hostile import malicious  # noqa: E402


def corpus() -> tuple[list[tuple[str, str, str, str, float]], dict[str, int]]:
    rows = []
    for label, files in (("malicious", malicious()), ("benign", benign())):
        for name, data in files.items():
            start = time.perf_counter()
            report = scan_file(io.BytesIO(data), name, len(data))
            ms = (time.perf_counter() - start) * 1000
            why = ""
            dangerous = [f"{i.module}.{i.name}" for i in report.imports if i.safety == "dangerous"]
            if dangerous:
                why = "imports " + ", ".join(dangerous[:3])
            elif report.findings:
                why = report.findings[0].message
            elif report.imports:
                why = ", ".join(f"{i.module}.{i.name}: {i.safety}" for i in report.imports[:2])
            rows.append((label, name, report.status, why[:90], ms))
    counts = {
        "malicious": sum(1 for r in rows if r[0] == "malicious"),
        "malicious_unsafe": sum(1 for r in rows if r[0] == "malicious" and r[2] == "unsafe"),
        "benign": sum(1 for r in rows if r[0] == "benign"),
        "benign_unsafe": sum(1 for r in rows if r[0] == "benign" and r[2] == "unsafe"),
    }
    return rows, counts


def throughput(safetensors_gib: int) -> list[tuple[str, int, int, float]]:
    import torch

    out = []
    torch.manual_seed(0)
    sd = {f"layer{i}.weight": torch.randn(256, 256) for i in range(64)}  # 16 MiB
    buf = io.BytesIO()
    torch.save(sd, buf)
    ckpt = buf.getvalue()
    raw = pickle.dumps({f"k{i}": list(range(100)) for i in range(3000)}, protocol=4)
    for label, name, data, n in (
        ("PyTorch zip checkpoint, 16 MiB", "model.pt", ckpt, 40),
        (f"raw pickle, {len(raw) // 1024} KiB of lists", "data.pkl", raw, 5),
    ):
        start = time.perf_counter()
        for _ in range(n):
            scan_file(io.BytesIO(data), name, len(data))
        out.append((label, n, n * len(data), time.perf_counter() - start))
    header = {
        f"t{i}": {"dtype": "F32", "shape": [1024, 1024], "data_offsets": [i << 22, (i + 1) << 22]}
        for i in range(safetensors_gib * 256)
    }
    raw_header = json.dumps(header).encode()
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as f:
        f.write(struct.pack("<Q", len(raw_header)) + raw_header)
        size = 8 + len(raw_header) + (safetensors_gib << 30)
        f.truncate(size)  # sparse: the scanner must not read the data
        f.flush()
        n = 20
        start = time.perf_counter()
        for _ in range(n):
            with open(f.name, "rb") as g:
                report = scan_file(g, "big.safetensors", size)
            assert report.status == "safe", report
        out.append(
            (
                f"safetensors, {safetensors_gib} GiB (header only)",
                n,
                n * size,
                time.perf_counter() - start,
            )
        )
    return out


def _estimator_class() -> type:
    """A class pickled as ``sklearn.linear_model._base.LinearRegression`` (what a
    fitted sklearn estimator pickles to: its class, then a state dict with BUILD),
    without sklearn installed."""
    import types

    parts = ["sklearn", "linear_model", "_base"]
    for n in range(1, len(parts) + 1):
        sys.modules.setdefault(".".join(parts[:n]), types.ModuleType(".".join(parts[:n])))
    cls = type("LinearRegression", (), {"__module__": "sklearn.linear_model._base"})
    sys.modules["sklearn.linear_model._base"].LinearRegression = cls  # type: ignore[attr-defined]
    return cls


def _shapes(mib: int) -> list[tuple[str, str, Callable[[], object], int | None]]:
    """(label, file name, a maker of the object, pickle protocol or None for
    ``joblib.dump``), each about ``mib`` MiB once pickled. Made one at a time: the
    large ones take a few GB of memory."""
    import numpy as np

    n = mib * 1024 * 1024

    def arrays() -> object:
        rng = np.random.default_rng(mib)
        return {f"layer{i}.weight": rng.random(1 << 20, dtype=np.float32) for i in range(mib // 4)}

    def estimator() -> object:
        model = _estimator_class()()
        model.__dict__.update(
            fit_intercept=True,
            coef_=np.random.default_rng(mib).random(n // 8),  # float64: mib MiB
            intercept_=0.5,
            n_features_in_=n // 8,
            _sklearn_version="1.6.1",
        )
        return model

    def ints() -> object:
        return list(range(60_000)) * (n // 3 // 60_000)  # BININT2: 3 bytes each

    def tuples() -> object:
        return [(i, f"w{i}", 1.5) for i in range(n // 27)]

    def vocab() -> object:
        return {f"tok{i}": i for i in range(n // 18)}

    def pipeline() -> object:
        # A text pipeline: half the bytes a vocabulary, half a float64 array.
        model = estimator()
        model.coef_ = model.coef_[: n // 16]
        model.vocabulary_ = {f"tok{i}": i for i in range(n // 36)}
        return model

    return [
        ("dict of float32 arrays", "arrays.pkl", arrays, 2),
        ("dict of float32 arrays", "arrays.pkl", arrays, 4),
        ("dict of float32 arrays", "arrays.pkl", arrays, 5),
        ("dict of float32 arrays", "arrays.joblib", arrays, None),
        ("sklearn-style estimator, one float64 array", "estimator.pkl", estimator, 4),
        ("sklearn-style estimator, one float64 array", "estimator.pkl", estimator, 5),
        ("sklearn-style estimator, one float64 array", "estimator.joblib", estimator, None),
        ("list of small ints", "ints.pkl", ints, 4),
        ("list of (int, str, float) tuples", "tuples.pkl", tuples, 2),
        ("list of (int, str, float) tuples", "tuples.pkl", tuples, 4),
        ("list of (int, str, float) tuples", "tuples.pkl", tuples, 5),
        ("list of (int, str, float) tuples", "tuples.joblib", tuples, None),
        ("dict of str to int (a vocabulary)", "vocab.pkl", vocab, 4),
        ("list of (int, str, float) tuples", "tuples.pkl", tuples, 0),
        ("sklearn-style pipeline, vocabulary + float64 array", "pipeline.pkl", pipeline, 4),
        ("sklearn-style pipeline, vocabulary + float64 array", "pipeline.joblib", pipeline, None),
    ]


#: (shape, protocol, MiB asked, bytes, scanner seconds, status, picklescan walk
#: seconds or None).
Big = tuple[str, str, int, int, float, str, float | None]


def large_pickles(sizes: list[int], baseline_mib: int) -> list[Big]:
    """Raw pickles of realistic shapes, written to disk and scanned from the file as
    the hub does (``scan_file``). The baseline, in the same run: picklescan's own
    opcode walk (the previous scanner) on the ``baseline_mib`` files, too slow for
    the large ones."""
    import joblib
    from picklescan.scanner import _list_globals

    out: list[Big] = []
    for mib in [baseline_mib, *sizes]:
        for label, name, make, proto in _shapes(mib):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / name
                obj = make()
                if proto is None:
                    joblib.dump(obj, path)
                else:
                    with open(path, "wb") as f:
                        pickle.dump(obj, f, protocol=proto)
                del obj
                size = path.stat().st_size
                start = time.perf_counter()
                with open(path, "rb") as f:
                    report = scan_file(f, name, size)
                seconds = time.perf_counter() - start
                walk = None
                if mib == baseline_mib and proto is not None:
                    start = time.perf_counter()
                    with open(path, "rb") as f, contextlib.suppress(Exception):
                        _list_globals(f)
                    walk = time.perf_counter() - start
            kind = "joblib.dump" if proto is None else f"protocol {proto}"
            out.append((label, kind, mib, size, seconds, report.status, walk))
            print(out[-1], flush=True)
    return out


def _write_repo(folder: Path, mib: int, seed: int) -> None:
    """A model repository of about ``mib`` MiB of new bytes (a fresh ``seed`` each
    round: a blob already scanned is never scanned again): two safetensors shards
    (3/8 each), a PyTorch zip checkpoint (1/4), config, tokenizer and README."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    gen = torch.Generator().manual_seed(seed)
    quarter = mib * 1024 * 1024 // 4 // 4  # float32 values in a quarter of the size
    for i in (1, 2):
        tensors = {
            f"layers.{i}.{k}.weight": torch.randn(quarter // 2, generator=gen) for k in range(3)
        }
        save_file(tensors, str(folder / f"model-0000{i}-of-00002.safetensors"))
        del tensors
    state = {f"layers.{k}.weight": torch.randn(quarter // 8, generator=gen) for k in range(8)}
    torch.save(state, folder / "pytorch_model.bin")
    del state
    (folder / "config.json").write_text(json.dumps({"seed": seed, "hidden_size": 1024}))
    (folder / "tokenizer.json").write_text(json.dumps({"vocab": [f"t{i}" for i in range(5000)]}))
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# Benchmark model\n")


def _step_times(data_dir: Path, repo: str) -> tuple[float, float]:
    """(queue wait, run time) of the repository's scan steps, from ``pipeline_steps``."""
    import datetime as dt
    import sqlite3

    db = sqlite3.connect(data_dir / "commons.db")
    row = db.execute(
        "SELECT min(s.queued_at), min(s.started_at), max(s.finished_at) FROM pipeline_steps s"
        " JOIN repos r ON r.id = s.repo_id WHERE r.name = ? AND s.step = 'scan'",
        (repo.split("/", 1)[1],),
    ).fetchone()
    db.close()
    queued, started, finished = (dt.datetime.fromisoformat(v) for v in row)
    return (started - queued).total_seconds(), (finished - started).total_seconds()


#: (label, bytes, upload and commit seconds, commit-to-scansDone seconds, queue
#: wait, scan step run time), one per round.
Timing = tuple[str, int, float, float, float, float]


def latency(repo_mib: int, rounds: int) -> list[Timing]:
    """Commit each repository ``rounds`` times (new bytes each time) and time the
    commit and then the wait for ``scansDone``. The baseline is the small repository,
    measured in the same run on the same server."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from tests.conftest import Server

    server = Server("sqlite")
    server.start()
    results: list[Timing] = []
    try:
        api = HfApi(endpoint=server.url, token=server.user("bench"))
        for n in range(rounds):
            for label in ("20 small files + a PyTorch checkpoint", f"{repo_mib} MiB model"):
                with tempfile.TemporaryDirectory() as tmp:
                    folder = Path(tmp) / "repo"
                    if label.startswith("20"):
                        folder.mkdir()
                        for i in range(20):
                            (folder / f"f{i}.json").write_text(json.dumps({"i": i, "n": n}))
                        _write_repo_small(folder / "model.pt", n)
                    else:
                        _write_repo(folder, repo_mib, 1000 + n)
                    files = sorted(p for p in folder.rglob("*") if p.is_file())
                    size = sum(p.stat().st_size for p in files)
                    repo = f"bench/r{secrets.token_hex(3)}"
                    api.create_repo(repo)
                    ops = [
                        CommitOperationAdd(path_in_repo=p.name, path_or_fileobj=str(p))
                        for p in files
                    ]
                    start = time.perf_counter()
                    api.create_commit(repo, ops, commit_message="bench")
                    committed = time.perf_counter()
                    while not api.model_info(repo, securityStatus=True).security_repo_status[
                        "scansDone"
                    ]:
                        time.sleep(0.05)
                    done = time.perf_counter()
                wait, run = _step_times(server.data_dir, repo)
                results.append((label, size, committed - start, done - committed, wait, run))
                print(results[-1], flush=True)
    finally:
        server.close()
    return results


def _write_repo_small(path: Path, seed: int) -> None:
    import torch

    torch.manual_seed(seed)
    torch.save({"w": torch.randn(64, 64), "b": torch.randn(64)}, path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--safetensors-gib", type=int, default=4)
    parser.add_argument("--pickle-mib", default="64,256", help="sizes of the large pickles")
    parser.add_argument("--baseline-mib", type=int, default=16)
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows, counts = corpus()
    speed = throughput(args.safetensors_gib)
    big = large_pickles([int(m) for m in args.pickle_mib.split(",")], args.baseline_mib)
    lat = latency(args.repo_mib, args.rounds)
    load_after = os.getloadavg()
    lines = [
        "# Scan results",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, **under load from other "
        "sessions sharing the 2 cores** (figures are pessimistic; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after). `benchmarks/scan.py` "
        "writes this file.",
        "",
        "## Corpus verdicts",
        "",
        f"- malicious files `unsafe`: **{counts['malicious_unsafe']} of {counts['malicious']}** "
        f"({100 * counts['malicious_unsafe'] // max(counts['malicious'], 1)} %; goal 100 %)",
        f"- benign files `unsafe`: **{counts['benign_unsafe']} of {counts['benign']}** (goal 0)",
        "",
        "| set | file | status | why | ms |",
        "|---|---|---|---|---|",
    ]
    for label, name, status, why, ms in rows:
        lines.append(f"| {label} | `{name}` | {status} | {why.replace('|', '/')} | {ms:.1f} |")
    lines += [
        "",
        "## Throughput (in process, one core)",
        "",
        "| input | files | files/s | MB/s |",
        "|---|---|---|---|",
    ]
    for label, n, total, seconds in speed:
        lines.append(f"| {label} | {n} | {n / seconds:.1f} | {total / seconds / 1e6:,.1f} |")
    lines += [
        "",
        "## Large raw pickles (in process, one core, read from a file on disk)",
        "",
        "Each file is written with `pickle.dump` (the protocol given) or `joblib.dump`, "
        "then scanned by `scan_file` as the hub's scan step does: the opcode reader "
        "(`modelcommons/scanning/opcodes.py`) and picklescan's deny-list with our "
        "policy (fickling and picklescan's own walk run only on streams up to 256 KiB, "
        "so not here). The baseline, in the same run: picklescan's opcode walk "
        "(`picklescan.scanner._list_globals`, which the scanner ran on every stream "
        f"before) on the {args.baseline_mib} MiB files (it would take minutes on the "
        "large ones; not run on joblib files, where the array bytes end it early). "
        "One run each (the large files take minutes to write).",
        "",
        "| shape | written with | MiB | bytes | scan s | MB/s | status | within 60 s | "
        "picklescan walk s | MB/s | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, kind, mib, size, seconds, status, walk in big:
        base_cols = "| | |"
        if walk is not None:
            base_cols = (
                f"{walk:.2f} | {size / walk / 1e6:,.1f} | {walk / max(seconds, 1e-9):,.1f}x |"
            )
        lines.append(
            f"| {label} | {kind} | {mib} | {size:,} | {seconds:.2f} | "
            f"{size / max(seconds, 1e-9) / 1e6:,.1f} | {status} | "
            f"{'yes' if seconds < 60 else '**no**'} | {base_cols}"
        )
    lines += [
        "",
        "## Commit to `scansDone` (real server, SQLite, Huey consumer threads)",
        "",
        f"Medians of {args.rounds} rounds, each with new bytes (a blob already scanned is "
        "never scanned again). *commit*: `create_commit` with its uploads, until it "
        "returns; *to scansDone*: from its return until `model_info(securityStatus=True)` "
        "says `scansDone` (polled every 50 ms); *queued* and *scanning*: the `scan` "
        "step's own row in `pipeline_steps` (waiting for a worker, then running). The "
        "small repository is the baseline, measured in the same run.",
        "",
        "| repository | bytes | commit s | to scansDone s | queued s | scanning s | "
        "to scansDone vs baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    by_label: dict[str, list[Timing]] = {}
    for t in lat:
        by_label.setdefault(t[0], []).append(t)
    base = statistics.median(t[3] for t in next(iter(by_label.values())))
    for label, runs in by_label.items():
        med = [statistics.median(t[i] for t in runs) for i in range(2, 6)]
        each = ", ".join(f"{t[3]:.2f}" for t in runs)
        lines.append(
            f"| {label} | {runs[0][1]:,} | {med[0]:.2f} | {med[1]:.2f} ({each}) | "
            f"{med[2]:.2f} | {med[3]:.2f} | {med[1] / base:.1f}x |"
        )
    lines += [
        "",
        "Scanning reads only what each format needs: a PyTorch zip's pickles (not its",
        "tensor data), a safetensors header, a GGUF header, and of a raw pickle its",
        "opcodes, with array and bytes payloads stepped over by seeking. So the time",
        "to `scansDone` grows with the number of new blobs and the number of pickle",
        "opcodes, not with the repository's bytes: the 1 GiB repository is scanned",
        "well within the issue's 60 s goal, in about the time of the small one; its",
        "commit (uploading and hashing the bytes) is what takes time. A raw pickle of",
        "arrays or of an estimator is read at hundreds of MB/s or more; a pickle of",
        "millions of small Python objects is the worst case, read opcode by opcode in",
        "Python (the large pickles table: tens of MB/s, one opcode every 2 to 5",
        "bytes). Pickles up to 1 GiB are read (a larger one is `error` at once).",
        "",
    ]
    (ROOT / "benchmarks" / "SCAN_RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
