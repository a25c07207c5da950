"""The scanners on a generated corpus: every malicious file unsafe, no benign one.

In-process: these test the scanners' verdicts on bytes; the pipeline and the HTTP
API that carry them are tested in ``test_pipeline.py`` and ``test_scan_api.py``.
"""

from __future__ import annotations

import io

import pytest

from modelcommons.scanning.pickles import rate
from modelcommons.scanning.scan import scan_file
from tests.scan_corpus.benign import benign
from tests.scan_corpus.hostile import malicious

MALICIOUS = malicious()
BENIGN = benign()


def test_corpus_is_large_enough() -> None:
    assert len(MALICIOUS) >= 30
    assert len(BENIGN) >= 30


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_malicious_file_is_unsafe(name: str) -> None:
    data = MALICIOUS[name]
    report = scan_file(io.BytesIO(data), name, len(data))
    assert report.status == "unsafe", (name, report)
    assert report.findings or any(i.safety == "dangerous" for i in report.imports)


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_file_is_not_unsafe(name: str) -> None:
    data = BENIGN[name]
    report = scan_file(io.BytesIO(data), name, len(data))
    assert report.status in ("safe", "suspicious"), (name, report)


def test_sklearn_style_pickles_are_suspicious_not_unsafe() -> None:
    for name in ("logreg.pkl", "forest.joblib"):
        data = BENIGN[name]
        report = scan_file(io.BytesIO(data), name, len(data))
        assert report.status == "suspicious"
        assert [(i.module, i.safety) for i in report.imports] == [
            ("sklearn.linear_model._logistic", "suspicious")
        ]


def test_pytorch_state_dict_imports_are_reported_innocuous() -> None:
    data = BENIGN["linear.pt"]
    report = scan_file(io.BytesIO(data), "linear.pt", len(data))
    names = {(i.module, i.name): i.safety for i in report.imports}
    assert names[("torch._utils", "_rebuild_tensor_v2")] == "innocuous"
    assert names[("collections", "OrderedDict")] == "innocuous"
    assert all(i.where == "archive/data.pkl" for i in report.imports)


def test_every_import_is_reported_with_its_safety() -> None:
    data = MALICIOUS["getattr_chain.pkl"]
    report = scan_file(io.BytesIO(data), "x.pkl", len(data))
    assert {(i.module, i.name, i.safety) for i in report.imports} == {
        ("__builtin__", "getattr", "dangerous"),
        ("__builtin__", "__import__", "dangerous"),
    }


def test_names_built_on_the_stack_are_dangerous() -> None:
    data = MALICIOUS["stack_global_built.pkl"]
    report = scan_file(io.BytesIO(data), "x.pkl", len(data))
    assert any("unknown" in (i.module, i.name) for i in report.imports)
    assert report.status == "unsafe"


def test_corrupt_and_truncated_pickles_are_never_safe() -> None:
    for name in ("truncated.pkl", "corrupt.bin"):
        data = MALICIOUS[name]
        report = scan_file(io.BytesIO(data), name, len(data))
        assert any("truncated or corrupt" in f.message for f in report.findings)


@pytest.mark.parametrize(
    ("module", "name", "expected"),
    [
        ("builtins", "set", "innocuous"),
        ("builtins", "getattr", "dangerous"),
        ("__builtin__", "globals", "dangerous"),
        ("torch._utils", "_rebuild_tensor_v2", "innocuous"),
        ("numpy", "load", "dangerous"),
        ("importlib.util", "find_spec", "dangerous"),
        ("sklearn.tree._classes", "DecisionTreeClassifier", "suspicious"),
        ("mypkg", "Model.__reduce__", "dangerous"),
        ("unknown", "system", "dangerous"),
        ("os ", "system", "dangerous"),  # no module is named so
        ("os system", "(Vecho", "dangerous"),
    ],
)
def test_rating_policy(module: str, name: str, expected: str) -> None:
    assert rate(module, name, "suspicious") == expected


def test_safetensors_header_only_read() -> None:
    """A declared tensor of 1 TiB in a tiny file: caught from the header alone."""
    import json
    import struct

    header = json.dumps({"w": {"dtype": "F32", "shape": [1 << 38], "data_offsets": [0, 1 << 40]}})
    data = struct.pack("<Q", len(header)) + header.encode()
    report = scan_file(io.BytesIO(data), "m.safetensors", len(data))
    assert report.status == "unsafe"
    assert "exceed" in report.findings[0].message


def test_a_pickle_too_large_to_read_is_never_safe() -> None:
    from modelcommons.scanning import pickles

    size = pickles.MAX_PICKLE_BYTES + 1
    report = pickles.scan_pickle(io.BytesIO(b"\x80\x04N."), "big.pkl", size=size)
    assert report.status == "error"


def test_a_result_is_reused_only_under_the_same_kind_of_name() -> None:
    """Bytes scanned as ``notes.txt`` (no scanner applies) are scanned again as
    ``model.pkl``: the cache is per blob and name profile."""
    from modelcommons.scanning.scan import profile

    assert profile("notes.txt") == "" != profile("model.pkl") == "pkl"
    assert profile("dir.v2/WEIGHTS.BIN") == "bin"
    data = MALICIOUS["raw_p0.pkl"]  # protocol 0: text, nothing marks it as a pickle
    assert scan_file(io.BytesIO(data), "notes.txt", len(data)).status == "safe"
    assert scan_file(io.BytesIO(data), "model.pkl", len(data)).status == "unsafe"
    # A protocol 2+ stream is read as a pickle whatever its name.
    data = MALICIOUS["raw_p2.pkl"]
    assert scan_file(io.BytesIO(data), "notes.txt", len(data)).status == "unsafe"
