"""Scanning stored files for code that runs on load, and for malformed headers.

``pickles`` rates every global a pickle imports (picklescan's opcode reading and
deny-list, fickling's ML allow-list and its overtly-malicious analyses, and our own
policy on top); ``archives`` finds pickles wherever they hide (PyTorch zip and legacy
formats, NumPy ``.npy``/``.npz``); ``joblib_files`` steps over the arrays joblib
writes inside its pickle stream; ``savedmodel`` reads TensorFlow graphs' ops;
``formats`` checks safetensors, GGUF, ONNX
and Keras files; ``scan`` picks the scanners for a file by name and magic bytes;
``store`` keeps one result per blob and scanner version; ``results`` is the read side
other packages use (per-file status for a repository revision).

May import: ``storage``, ``db`` and the foundation modules (``errors``, ``settings``,
``clock``, ``sizes``).
"""

from .report import SCANNER_VERSION, FileReport, Finding, Import

__all__ = ["SCANNER_VERSION", "FileReport", "Finding", "Import"]
