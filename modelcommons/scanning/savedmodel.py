"""TensorFlow SavedModel graphs (``saved_model.pb``): ops that touch the file system
or run Python.

The protobuf is walked field by field (``formats.proto_fields``: fields not needed
are skipped with ``seek``): ``SavedModel.meta_graphs`` (2) → ``MetaGraphDef.graph_def``
(2) → ``GraphDef.node`` (1) and ``GraphDef.library`` (2) → ``FunctionDefLibrary.function``
(1) → ``FunctionDef.node_def`` (3); each ``NodeDef.op`` (2) is checked. TensorFlow 2
keeps most ops inside functions, so both are read.
"""

from __future__ import annotations

from typing import BinaryIO

from .formats import proto_fields
from .report import FileReport

#: Ops that run Python on load or read and write arbitrary files.
UNSAFE_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc", "ReadFile", "WriteFile"})
#: Ops that reach the file system in ways models rarely need.
SUSPICIOUS_OPS = frozenset({"MatchingFiles", "DeleteSessionTensor", "ImmutableConst"})


def graph_ops(f: BinaryIO, size: int) -> set[str]:
    ops: set[str] = set()

    def node(end: int) -> None:
        for number, wire, length in proto_fields(f, end):
            if number == 2 and wire == 2 and length <= 1024:
                ops.add(f.read(length).decode("utf-8", "replace"))

    for n1, w1, l1 in proto_fields(f, size):
        if n1 != 2 or w1 != 2:
            continue
        for n2, w2, l2 in proto_fields(f, f.tell() + l1):
            if n2 != 2 or w2 != 2:
                continue
            for n3, w3, l3 in proto_fields(f, f.tell() + l2):
                if n3 == 1 and w3 == 2:
                    node(f.tell() + l3)
                elif n3 == 2 and w3 == 2:
                    for n4, w4, l4 in proto_fields(f, f.tell() + l3):
                        if n4 != 1 or w4 != 2:
                            continue
                        for n5, w5, l5 in proto_fields(f, f.tell() + l4):
                            if n5 == 3 and w5 == 2:
                                node(f.tell() + l5)
    return ops


def scan_saved_model(f: BinaryIO, size: int, where: str = "") -> FileReport:
    report = FileReport(kind="tf-savedmodel")
    try:
        ops = graph_ops(f, size)
    except ValueError as e:
        report.add("error", f"SavedModel: the graph cannot be parsed: {e}", where)
        return report
    for op in sorted(ops & UNSAFE_OPS):
        report.add("unsafe", f"SavedModel: the graph uses the {op} op", where)
    for op in sorted(ops & SUSPICIOUS_OPS):
        report.add("suspicious", f"SavedModel: the graph uses the {op} op", where)
    return report
