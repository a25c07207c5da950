"""Names and paths: hostile input is refused with a reason."""

from __future__ import annotations

import pytest

from modelcommons.errors import BadRequest
from modelcommons.validation.names import check_name, check_path, check_ref_name, check_repo_id


@pytest.mark.parametrize(
    "path",
    ["a.txt", "dir/sub/file.bin", ".gitattributes", "weird name (1).txt", "ünïcode/文件.txt"],
)
def test_good_paths(path: str) -> None:
    assert check_path(path) == path


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("/abs", "absolute"),
        ("a\\b", "backslash"),
        ("a/../b", "'..'"),
        ("..", "'..'"),
        ("a//b", "empty"),
        (".git/config", ".git"),
        ("a/.git/x", ".git"),
        ("nul\x00", "NUL"),
        ("tab\there", "control"),
        ("x" * 2000, "longer"),
        ("./a", "'.'"),
    ],
)
def test_bad_paths(path: str, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        check_path(path)


@pytest.mark.parametrize("name", ["a", "bert-base", "x_y.z", "A1"])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-a", ".a", "a..b", "a--b", "a.git", "a b", "a/b", "x" * 97, "a."]
)
def test_bad_names(name: str) -> None:
    with pytest.raises(BadRequest):
        check_name(name)


def test_repo_ids_and_refs() -> None:
    assert check_repo_id("ns/name") == ("ns", "name")
    with pytest.raises(BadRequest, match="namespace/name"):
        check_repo_id("just-one")
    assert check_ref_name("feature/x") == "feature/x"
    for bad in ("a..b", "/a", "a/", "-a", "a//b", "x.lock", "HEAD", "a b"):
        with pytest.raises(BadRequest):
            check_ref_name(bad)
