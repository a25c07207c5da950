"""The stock ``git`` and ``git-lfs`` (Debian's), run against a test hub.

Each test environment has a HOME of its own (identity, ``git lfs install``), no
terminal prompts, and credentials only from a helper given per call: so git asks
for them exactly when the hub answers 401, as it would for a person.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class Git:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "XDG_"))} | {
            "HOME": str(home),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_LFS_SKIP_PUSH": "0",
            "LC_ALL": "C",
        }
        home.mkdir(parents=True, exist_ok=True)
        for key, value in (
            ("user.name", "Git Tester"),
            ("user.email", "tester@example.org"),
            ("init.defaultBranch", "main"),
            ("advice.detachedHead", "false"),
            ("lfs.locksverify", "false"),
        ):
            self.run("config", "--global", key, value, cwd=home)
        self.run("lfs", "install", "--skip-repo", cwd=home)

    def run(
        self,
        *args: str,
        cwd: Path,
        token: str | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
        eager: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """``git ARGS`` in ``cwd``; with ``token``, a credential helper that answers
        any username and the token as the password (git asks it after a 401), or
        with ``eager``, the token sent with every request (``http.extraHeader``)."""
        auth: list[str] = ["-c", "credential.helper="]
        if token is not None and eager:
            auth += ["-c", f"http.extraHeader=Authorization: Bearer {token}"]
        elif token is not None:
            helper = f"!f() {{ echo username=anyone; echo password={token}; }}; f"
            auth += ["-c", f"credential.helper={helper}"]
        result = subprocess.run(
            ["git", *auth, *args],
            cwd=cwd,
            env=self.env | (env or {}),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def out(self, *args: str, cwd: Path, token: str | None = None, eager: bool = False) -> str:
        return self.run(*args, cwd=cwd, token=token, eager=eager).stdout.strip()
