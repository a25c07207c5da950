"""`make serve` installs the server and nothing else; `make test` adds the rest.

For real: a copy of the project's files in a fresh folder, `make install-server`
(what `make serve` runs before serving) into a fresh virtual environment from the
package index, then a look at what got installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow

TEST_ONLY = ("torch", "transformers", "datasets", "playwright", "mypy", "pytest", "ruff")


def _checkout(dest: Path) -> Path:
    """The project's files as a fresh clone has them (committed or not, ignored ones not)."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file() and not source.is_symlink():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def _make(folder: Path, *args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    # As a newcomer runs it, not as a sub-make of `make test` (whose MAKELEVEL and
    # MAKEFLAGS would make this one announce the directories it enters).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(
        ["make", *args], cwd=folder, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.mark.timeout(1200)
def test_make_serve_installs_only_the_server(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("no make")
    project = _checkout(tmp_path / "project")
    assert not (project / ".venv").exists()
    # What `make serve` would do, without starting the server.
    planned = _make(project, "-n", "serve")
    assert planned.returncode == 0, planned.stderr
    assert "'.[test]'" not in planned.stdout and "[test]" not in planned.stdout

    installed = _make(project, "install-server", timeout=1100)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    python = project / ".venv" / "bin" / "python"
    present = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u, sys; "
            "print(' '.join(m for m in sys.argv[1:] if u.find_spec(m)))",
            *TEST_ONLY,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert present == []
    # The server and its command work from what was installed.
    helped = subprocess.run(
        [str(project / ".venv" / "bin" / "commons"), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert helped.returncode == 0 and "serve" in helped.stdout, helped.stderr
    imported = subprocess.run(
        [str(python), "-c", "import modelcommons.app, uvicorn, uvloop, httptools"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert imported.returncode == 0, imported.stderr

    # `make serve` again: nothing to install. `make test` next: the test extra.
    assert _make(project, "-q", "install-server").returncode == 0
    again = _make(project, "-n", "serve")
    assert again.stdout.strip() == ".venv/bin/commons serve"
    rest = _make(project, "-n", "install-test")
    assert "pip install --quiet -e '.[test]'" in rest.stdout
    assert "pip install --quiet -e .\n" not in rest.stdout  # the server part is done
