"""pytest plugin that points huggingface_hub's own test suite at a Model Commons hub.

``benchmarks/peer/run.py`` loads it with ``-p peer_plugin`` in the client's virtual
environment. No test code is changed: the plugin only

* sets ``HF_ENDPOINT`` to the hub and turns the suite's staging switch
  (``HUGGINGFACE_CO_STAGING``, set by the suite's pytest-env settings) off, so the
  client's ``constants.ENDPOINT`` is the hub;
* rewrites the suite's ``tests/testing_constants.py`` values (staging endpoint, user
  names, tokens) before any test module imports them, since a hub can only accept
  tokens it issued itself and some of the suite's names are not valid account names
  here;
* leaves out the tests the runner names (each with its reason), alongside those that
  ``-m`` deselects, and records every one of them;
* writes one JSON line per test outcome for the runner's report.

Configuration comes from the JSON file named by ``PEER_CONFIG``:
``{"endpoint", "src", "constants": {...}, "left_out": [[test name, reason]],
"results": path}``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from nodeids import covers  # beside this file, on PYTHONPATH

_CONFIG: dict[str, Any] = json.loads(Path(os.environ["PEER_CONFIG"]).read_text())
_RESULTS = Path(_CONFIG["results"])

#: Why a test that ``-m`` deselects is left out, by the marker that deselects it.
MARKER_REASONS = {
    "production": "marked `production`: reads huggingface.co's own production repositories",
    "inference": "marked `inference`: calls hosted inference providers",
    "xet": "marked `xet`: needs `hf_xet`, which this pass runs without (see the pass with it)",
}


def _record(**event: Any) -> None:
    with _RESULTS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(event) + "\n")


@pytest.hookimpl
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Runs after pytest-env (tryfirst) and before the suite's conftest (trylast)."""
    os.environ["HUGGINGFACE_CO_STAGING"] = "0"
    os.environ["HF_ENDPOINT"] = _CONFIG["endpoint"]
    src = str(_CONFIG["src"])
    if src not in sys.path:
        sys.path.insert(0, src)
    import tests.testing_constants as suite_constants  # the suite's own module

    for name, value in _CONFIG["constants"].items():
        if not hasattr(suite_constants, name):
            raise pytest.UsageError(f"tests/testing_constants.py has no {name}")
        setattr(suite_constants, name, value)


def pytest_configure(config: pytest.Config) -> None:
    from huggingface_hub import constants

    if _CONFIG["endpoint"] != constants.ENDPOINT:
        raise pytest.UsageError(
            f"huggingface_hub was imported before the plugin pointed it at the hub "
            f"(ENDPOINT={constants.ENDPOINT})"
        )


def _marker_reason(item: pytest.Item) -> str:
    for marker, reason in MARKER_REASONS.items():
        if item.get_closest_marker(marker) is not None:
            return reason
    return "deselected by -m"


@pytest.hookimpl(hookwrapper=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> Any:
    for item in items:
        _record(event="collected", nodeid=item.nodeid)
    yield
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        reason = next((why for name, why in _CONFIG["left_out"] if covers(name, item.nodeid)), None)
        if reason is None:
            keep.append(item)
        else:
            dropped.append(item)
            _record(event="left_out", nodeid=item.nodeid, reason=reason)
    if dropped:
        items[:] = keep
        config.hook.pytest_deselected(items=dropped)


def pytest_deselected(items: list[pytest.Item]) -> None:
    # The runner's own left-outs are recorded above with their reasons.
    names = [name for name, _ in _CONFIG["left_out"]]
    for item in items:
        if not any(covers(name, item.nodeid) for name in names):
            _record(event="left_out", nodeid=item.nodeid, reason=_marker_reason(item))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _record(event="collect_error", nodeid=report.nodeid, message=_message(report))


def _message(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    if isinstance(longrepr, tuple):  # a skip: (path, lineno, reason)
        return str(longrepr[2])
    text = str(longrepr).strip().splitlines()
    return text[-1] if text else ""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.outcome != "passed":
        outcome = report.outcome
        if outcome == "failed" and report.when != "call":
            outcome = "error"
        if getattr(report, "wasxfail", None) is not None:
            outcome = "xpassed" if report.passed else "xfailed"
        _record(
            event="result",
            nodeid=report.nodeid,
            when=report.when,
            outcome=outcome,
            message="" if report.passed else _message(report),
            duration=round(report.duration, 2),
        )
