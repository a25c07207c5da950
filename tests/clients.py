"""Running the real clients in their own interpreters, pointed at a test hub.

transformers, datasets and huggingface_hub read HF_ENDPOINT at import time, so
tests that need them run a script in a fresh process with a clean environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import Server


def client_env(server: Server, token: str, home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without HF settings, plus this hub and a fresh HF_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HF_ENDPOINT=server.url,
        HF_TOKEN=token,
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        **extra,
    )
    return env


def run_python(
    script: str, args: dict[str, Any], env: dict[str, str], python: str = sys.executable
) -> Any:
    """Run ``script`` with ``args`` as JSON in argv[1]; return the JSON it prints after
    ``RESULT ``."""
    result = subprocess.run(
        [python, "-c", script, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"client failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return json.loads(lines[-1].removeprefix("RESULT "))
