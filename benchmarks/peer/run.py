#!/usr/bin/env python3
"""Run huggingface_hub's own test suite against a fresh Model Commons hub.

Usage, from the repository root (``make peer HFH_SRC=DIR`` does the same)::

    .venv/bin/python benchmarks/peer/run.py --hfh-src DIR [--module test_hf_api ...] [-k EXPR]

``DIR`` is a checkout of the ``huggingface/huggingface_hub`` repository (the PyPI source
distribution lacks the suite's ``conftest.py``). Nothing of it is copied into this
project and no test code is changed. The runner

1. installs the client from ``DIR`` with its ``testing`` and ``torch`` extras (torch
   pinned to the project's version) into ``.venv-peer``, apart from the project's own
   ``.venv`` so that the suite's pins (``urllib3<2``, FastAPI's Starlette) cannot
   clash with the hub's;
2. starts ``commons serve`` from this checkout with the interpreter that runs this
   script, on a fresh data folder (SQLite), and creates with the ``commons`` CLI the
   users, organisations and tokens the suite's ``tests/testing_constants.py`` names;
3. runs each module in its own pytest process in ``.venv-peer`` with ``-p peer_plugin``
   (``peer_plugin.py`` beside this file), which points the suite's staging endpoint,
   user names and tokens at the hub, ``-m "not production and not inference"`` and a
   per-test timeout;
4. writes ``benchmarks/CLIENT_SUITE.md``: per module collected / passed / failed /
   skipped / left out (with reasons), and every failure under its cause
   (``causes.py``).

The suite's CI runs it twice, and so can this runner: by default with ``hf_xet``
installed, as a stock install of the client has it (the "with hf_xet" job: tests marked
``xet`` run, those marked ``no_xet`` skip), and with ``--without-xet`` after uninstalling
it from ``.venv-peer`` (the "no hf_xet" job: ``-m "not xet ..."``), writing
``benchmarks/CLIENT_SUITE_NO_XET.md``. Unmarked tests must pass in both. Logs (the hub's
and each module's pytest output) go to ``benchmarks/.work/peer[-no-xet]/``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import left_out  # noqa: E402
from causes import Failure, classify  # noqa: E402
from report import ModuleRun, write_report  # noqa: E402

#: The modules for the areas this hub covers (repositories, files, commits, uploads,
#: downloads, cards, the CLI, Xet, the PyTorch mixin).
MODULES = [
    "test_hf_api",
    "test_file_download",
    "test_snapshot_download",
    "test_hf_file_system",
    "test_upload_large_folder",
    "test_commit_api",
    "test_commit_scheduler",
    "test_repocard",
    "test_xet_upload",
    "test_xet_download",
    "test_cli",
    "test_hub_mixin_pytorch",
    "test_lfs",
    "test_upload_pipeline",
]
MARKERS = "not production and not inference"
MARKERS_WITHOUT_XET = "not xet and " + MARKERS
TORCH_PIN = "torch==2.13.0"  # the project's pin; never an unpinned torch

#: Organisations the suite expects besides those in testing_constants.py, with the
#: member (a key of testing_constants) and the full name:
#: ``TestHfApiEndpoints.test_whoami_with_passing_token`` looks for the user's
#: membership of ``valid_org_hub`` ("Dummy Hub Org").
SUITE_ORGS = {"valid_org_hub": ("USER", "Dummy Hub Org")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hfh-src", required=True, type=Path, help="huggingface_hub checkout")
    parser.add_argument("--module", action="append", help="run only these modules")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression (for iterating)")
    parser.add_argument("--timeout", type=int, default=120, help="per-test timeout, seconds")
    parser.add_argument("--module-timeout", type=int, default=3600, help="seconds per module")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv-peer")
    parser.add_argument(
        "--without-xet",
        action="store_true",
        help="uninstall hf_xet from the venv and leave out tests marked xet (the suite's"
        " 'no hf_xet' CI job)",
    )
    parser.add_argument("--work", type=Path, help="logs and results [benchmarks/.work/peer]")
    parser.add_argument("--results", type=Path, help="report [benchmarks/CLIENT_SUITE.md]")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild the report from the last run's results in --work (after editing causes.py)",
    )
    args = parser.parse_args()
    suffix = "-no-xet" if args.without_xet else ""
    args.work = args.work or ROOT / "benchmarks" / ".work" / f"peer{suffix}"
    args.results = args.results or ROOT / "benchmarks" / (
        "CLIENT_SUITE_NO_XET.md" if args.without_xet else "CLIENT_SUITE.md"
    )
    args.markers = MARKERS_WITHOUT_XET if args.without_xet else MARKERS
    work: Path = args.work
    if args.report_only:
        record = json.loads((work / "run.json").read_text())
    else:
        record = run_suite(args, parser)
    runs = [
        ModuleRun.from_events(
            m["module"],
            _events(work / f"{m['module']}.jsonl"),
            exit_code=m["exit_code"],
            seconds=m["seconds"],
            timed_out=m["timed_out"],
            missing=m["missing"],
        )
        for m in record["modules"]
    ]
    failures = [
        Failure(module=run.module, nodeid=r["nodeid"], outcome=r["outcome"], message=r["message"])
        for run in runs
        for r in run.failed
    ]
    write_report(
        args.results,
        client=record["client"],
        hub_commit=record["hub_commit"],
        runs=runs,
        groups=classify(failures),
        notes=record["notes"],
        settings=record["settings"],
    )
    print(f"wrote {args.results}", flush=True)
    return 0


def run_suite(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Run the modules; return what the report needs besides their results files."""
    src: Path = args.hfh_src.resolve()
    if not (src / "tests" / "conftest.py").is_file() or not (src / "setup.py").is_file():
        parser.error(f"{src} is not a huggingface_hub checkout (tests/conftest.py, setup.py)")
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    client = client_info(src)
    print(f"huggingface_hub {client.version} at {client.commit} from {src}", flush=True)
    install_notes = ensure_venv(args.venv, src, client)
    set_xet(args.venv, installed=not args.without_xet)
    suite = suite_constants(src)
    hub_commit = git_commit(ROOT, "modelcommons")  # the code the hub starts with
    started = time.monotonic()
    modules: list[dict[str, Any]] = []
    # Without hf_xet the client uploads lfs-mode files by LFS, so the hub may answer
    # `lfs` by .gitattributes pattern as the Hub does; with hf_xet that needs Xet.
    settings = {"lfs_by_pattern": "true"} if args.without_xet else {}
    with hub_server(work, settings) as hub:
        constants = hub.create_accounts(suite)
        for module in args.module or MODULES:
            if not (src / "tests" / f"{module}.py").is_file():
                modules.append(
                    {
                        "module": module,
                        "missing": True,
                        "exit_code": None,
                        "seconds": 0.0,
                        "timed_out": False,
                    }
                )
                continue
            hub.ensure_alive()
            modules.append(run_module(args, src, work, hub, constants, module))
    record = {
        "client": client.__dict__,
        "hub_commit": hub_commit,
        "modules": modules,
        "notes": [
            *install_notes,
            *hub.notes,
            *account_notes(suite, constants),
            *(f"hub setting `{k}={v}`" for k, v in hub.settings.items()),
        ],
        "settings": {
            "markers": args.markers,
            "hf_xet": not args.without_xet,
            "timeout": args.timeout,
            "keyword": args.keyword,
            "python": platform.python_version(),
            "minutes": round((time.monotonic() - started) / 60, 1),
        },
    }
    (work / "run.json").write_text(json.dumps(record, indent=1))
    return record


def _events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@dataclass
class ClientInfo:
    version: str
    commit: str
    date: str


def _git(path: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(path), *args], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def git_commit(path: Path, *paths: str) -> str:
    """``SHA DATE`` of the checkout's HEAD, noting uncommitted changes to tracked files
    (under ``paths`` only, if given)."""
    try:
        head = _git(path, "log", "-1", "--format=%H %cs")
        dirty = _git(path, "status", "--porcelain", "--untracked-files=no", "--", *paths)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes" if dirty else "")


def client_info(src: Path) -> ClientInfo:
    init = (src / "src" / "huggingface_hub" / "__init__.py").read_text()
    version = next(
        line.split('"')[1] for line in init.splitlines() if line.startswith("__version__")
    )
    commit, _, date = git_commit(src).partition(" ")
    return ClientInfo(version=version, commit=commit, date=date)


def pip(venv: Path, *args: str) -> None:
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *args], check=True)


def ensure_venv(venv: Path, src: Path, client: ClientInfo) -> list[str]:
    """Install the client from ``src`` (with its test extras) once per source commit."""
    stamp = venv / ".peer-installed"
    want = f"{src} {client.commit} {client.version} {TORCH_PIN}"
    if stamp.is_file() and stamp.read_text().strip().startswith(want):
        return stamp.read_text().strip().splitlines()[1:]
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    notes: list[str] = []
    print(f"installing huggingface_hub[testing,torch] from {src} into {venv}", flush=True)
    try:
        pip(venv, f"{src}[testing,torch]", TORCH_PIN, "pytest-timeout")
    except subprocess.CalledProcessError:
        # Without torch the modules that need it skip or fail to collect; both are counted.
        pip(venv, f"{src}[testing]", "pytest-timeout")
        notes.append(f"{TORCH_PIN} could not be installed: modules needing torch are skipped")
    # Same version string as a previous install from another commit: force the files.
    pip(venv, "--no-deps", "--force-reinstall", str(src))
    stamp.write_text("\n".join([want, *notes]) + "\n")
    return notes


#: The client's own requirement on hf-xet (its metadata, e.g. ``hf-xet<2,>=1.5.2``).
_XET_REQUIREMENT = """
import importlib.metadata as m, re
for r in m.requires("huggingface_hub") or []:
    if re.match(r"hf[-_]xet\\b", r):
        print(r.split(";")[0].strip())
        break
"""


def set_xet(venv: Path, *, installed: bool) -> None:
    """Install (as the client requires it) or uninstall ``hf_xet`` in the venv."""
    python = str(venv / "bin" / "python")
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('hf_xet') is None)"
    present = subprocess.run([python, "-c", probe]).returncode == 0
    if installed and not present:
        out = subprocess.run(
            [python, "-c", _XET_REQUIREMENT], capture_output=True, text=True, check=True
        )
        pip(venv, out.stdout.strip() or "hf-xet")
    elif present and not installed:
        subprocess.run(
            [str(venv / "bin" / "pip"), "uninstall", "--quiet", "--yes", "hf-xet"], check=True
        )


def suite_constants(src: Path) -> dict[str, str]:
    """The string constants of the suite's ``tests/testing_constants.py``."""
    tree = ast.parse((src / "tests" / "testing_constants.py").read_text())
    values: dict[str, str] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            values[node.targets[0].id] = node.value.value
    return values


def hub_name(name: str) -> str:
    """An account name the hub accepts for one the suite uses.

    Hub account names start with a letter or digit (``modelcommons/validation/names.py``); the
    suite's main user is ``__DUMMY_HUB_USER__``, so its underscores are trimmed.
    """
    return name.strip("_.-")


def account_notes(suite: dict[str, str], constants: dict[str, str]) -> list[str]:
    notes = []
    for key in ("USER", "OTHER_USER", "ENTERPRISE_USER", "ENTERPRISE_ORG"):
        if constants.get(key, suite.get(key)) != suite.get(key):
            notes.append(
                f"`{key}` is `{constants[key]}` on the hub: the suite's `{suite[key]}` is "
                "not a valid account name here (names start with a letter or digit)"
            )
    return notes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hub:
    """A ``commons serve`` process on a fresh data folder, and its ``commons`` CLI."""

    def __init__(self, work: Path, settings: dict[str, str] | None = None) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="commons-peer-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "hub.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.notes: list[str] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("COMMONS_")}
        self.env.update({f"COMMONS_{k.upper()}": v for k, v in (settings or {}).items()})
        self.settings = dict(settings or {})
        #: This checkout's hub, run by the interpreter running this script.
        self.command = [sys.executable, "-m", "modelcommons"]

    def start(self) -> None:
        with self.log.open("wb" if self.proc is None else "ab") as log:
            self.proc = subprocess.Popen(
                [
                    *self.command,
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited: see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the hub did not start in 60 s")

    def ensure_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            self.notes.append(f"the hub exited (status {self.proc.returncode}) and was restarted")
            self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def commons(self, *args: str, stdin: str = "") -> str:
        out = subprocess.run(
            [*self.command, *args, "--data-dir", str(self.data_dir)],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=ROOT,
        )
        if out.returncode != 0:
            raise RuntimeError(f"commons {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def user(self, name: str, email: str, fullname: str = "") -> str:
        """Create a user with a write token; return the token."""
        out = self.commons(
            "user", "create", name, "--email", email, "--fullname", fullname, "--token", "write"
        )
        return out.strip().splitlines()[-1]

    def create_accounts(self, suite: dict[str, str]) -> dict[str, str]:
        """The suite's users, organisations and tokens; returns the constants to patch."""
        names = {k: hub_name(suite[k]) for k in ("USER", "OTHER_USER", "ENTERPRISE_USER")}
        fullnames = {"USER": suite.get("FULL_NAME", "")}
        tokens = {
            k: self.user(n, f"{n.lower()}@example.org", fullnames.get(k, ""))
            for k, n in names.items()
        }
        enterprise_org = hub_name(suite["ENTERPRISE_ORG"])
        self.commons(
            "org", "create", enterprise_org, "--member", f"{names['ENTERPRISE_USER']}:admin"
        )
        # The suite's Enterprise organisation creates private repositories by default.
        self.commons("org", "default-visibility", enterprise_org, "private")
        for org, (member, fullname) in SUITE_ORGS.items():
            self.commons(
                "org", "create", org, "--member", f"{names[member]}:admin", "--fullname", fullname
            )
        return {
            "ENDPOINT_STAGING": self.url,
            "USER": names["USER"],
            "TOKEN": tokens["USER"],
            "OTHER_USER": names["OTHER_USER"],
            "OTHER_TOKEN": tokens["OTHER_USER"],
            "ENTERPRISE_USER": names["ENTERPRISE_USER"],
            "ENTERPRISE_ORG": enterprise_org,
            "ENTERPRISE_TOKEN": tokens["ENTERPRISE_USER"],
        }


@contextmanager
def hub_server(work: Path, settings: dict[str, str] | None = None) -> Iterator[Hub]:
    hub = Hub(work, settings)
    try:
        hub.start()
        print(f"hub at {hub.url} (data in {hub.data_dir})", flush=True)
        yield hub
    finally:
        hub.stop()


def run_module(
    args: argparse.Namespace,
    src: Path,
    work: Path,
    hub: Hub,
    constants: dict[str, str],
    module: str,
) -> dict[str, Any]:
    results = work / f"{module}.jsonl"
    results.unlink(missing_ok=True)  # the plugin appends
    config = work / f"{module}.config.json"
    config.write_text(
        json.dumps(
            {
                "endpoint": hub.url,
                "src": str(src),
                "constants": constants,
                "left_out": left_out.active(src),
                "results": str(results),
            }
        )
    )
    home = Path(tempfile.mkdtemp(prefix="peer-hf-home-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))},
        "PYTHONPATH": str(HERE),
        "PEER_CONFIG": str(config),
        "HF_HOME": str(home),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "VIRTUAL_ENV": str(args.venv),
        "PATH": f"{args.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        str(args.venv / "bin" / "python"),
        "-m",
        "pytest",
        f"tests/{module}.py",
        "-p",
        "peer_plugin",
        "-p",
        "no:cacheprovider",
        # The suite's addopts less its console verbosity (-sv, live INFO logs, durations).
        "-o",
        "addopts=-Werror::FutureWarning --strict-markers",
        "-m",
        args.markers,
        f"--timeout={args.timeout}",
        "-q",
        "-rN",
    ]
    if args.keyword:
        command += ["-k", args.keyword]
    started = time.monotonic()
    timed_out = False
    with (work / f"{module}.log").open("wb") as log:
        proc = subprocess.Popen(
            command, cwd=src, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            proc.wait(timeout=args.module_timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    shutil.rmtree(home, ignore_errors=True)
    seconds = time.monotonic() - started
    run = ModuleRun.from_events(
        module, _events(results), exit_code=proc.returncode, seconds=seconds, timed_out=timed_out
    )
    print(run.line(), flush=True)
    return {
        "module": module,
        "missing": False,
        "exit_code": proc.returncode,
        "seconds": round(seconds, 1),
        "timed_out": timed_out,
    }


if __name__ == "__main__":
    sys.exit(main())
