"""Which paths a repository's .gitattributes sends to git LFS, and the lines that
make git LFS expect a file the hub stores as LFS."""

from __future__ import annotations

import fnmatch
import re
import shlex

DEFAULT = """\
*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.ftz filter=lfs diff=lfs merge=lfs -text
*.gguf filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.joblib filter=lfs diff=lfs merge=lfs -text
*.lz4 filter=lfs diff=lfs merge=lfs -text
*.mlmodel filter=lfs diff=lfs merge=lfs -text
*.model filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.ot filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pb filter=lfs diff=lfs merge=lfs -text
*.pickle filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.rar filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
saved_model/**/* filter=lfs diff=lfs merge=lfs -text
*.tar.* filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.tflite filter=lfs diff=lfs merge=lfs -text
*.tgz filter=lfs diff=lfs merge=lfs -text
*.wasm filter=lfs diff=lfs merge=lfs -text
*.xz filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
*tfevents* filter=lfs diff=lfs merge=lfs -text
"""


def lfs_patterns(text: str) -> list[str]:
    patterns: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):  # a C-quoted pattern
            try:
                parts = shlex.split(line)
            except ValueError:
                continue
        else:  # backslashes escape glob characters: keep them for matches()
            parts = line.split()
        if len(parts) >= 2 and "filter=lfs" in parts[1:]:
            patterns.append(parts[0])
    return patterns


def matches(patterns: list[str], path: str) -> bool:
    """git's rules, simplified: a pattern without '/' matches the basename at any depth."""
    base = path.rsplit("/", 1)[-1]
    for pattern in map(_fnmatch_form, patterns):
        if "/" in pattern.rstrip("/"):
            if fnmatch.fnmatchcase(path, pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(base, pattern):
            return True
    return False


_ESCAPED = re.compile(r"\\(.)")
_GLOB = re.compile(r"([*?\[\\])")
LFS_ATTRIBUTES = "filter=lfs diff=lfs merge=lfs -text"


def _fnmatch_form(pattern: str) -> str:
    """A gitattributes pattern as fnmatch reads it: ``[[:space:]]`` (what ``git lfs
    track`` writes for a space) and backslash escapes become character classes."""
    pattern = pattern.replace("[[:space:]]", "[ ]")
    return _ESCAPED.sub(lambda m: f"[{m.group(1)}]", pattern)


def lfs_line(path: str) -> str:
    """The line that sends exactly ``path`` (anchored at the root) to git LFS, in the
    form ``git lfs track`` writes: glob characters escaped, spaces as ``[[:space:]]``."""
    pattern = _GLOB.sub(r"\\\1", path).replace(" ", "[[:space:]]")
    return f"/{pattern} {LFS_ATTRIBUTES}\n"


def track(text: str, paths: list[str]) -> str:
    """``.gitattributes`` text with a line added for each of ``paths``."""
    if text and not text.endswith("\n"):
        text += "\n"
    return text + "".join(lfs_line(p) for p in paths)
