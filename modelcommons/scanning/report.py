"""What a scan says about one file: its status, the globals it imports, the findings."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

#: Bump when a scanner or its rules change: ``commons scan --all`` rescans blobs whose
#: result was made by another version.
SCANNER_VERSION = "1"

#: Worst first.
STATUSES = ("unsafe", "error", "suspicious", "safe")
SAFETIES = ("dangerous", "suspicious", "innocuous")


@dataclasses.dataclass(frozen=True)
class Import:
    """A global a pickle imports, rated as the Hub's ``pickleImportScan`` does."""

    module: str
    name: str
    safety: str  # innocuous | suspicious | dangerous
    where: str = ""  # the archive member, when inside an archive


@dataclasses.dataclass(frozen=True)
class Finding:
    """Why a file is not safe: ``severity`` is the status it gives the file."""

    severity: str  # unsafe | suspicious | error
    message: str
    where: str = ""


@dataclasses.dataclass
class FileReport:
    kind: str = ""  # the format recognised; "" when no scanner applies
    imports: list[Import] = dataclasses.field(default_factory=list)
    findings: list[Finding] = dataclasses.field(default_factory=list)

    @property
    def status(self) -> str:
        worst = "safe"
        for finding in self.findings:
            if STATUSES.index(finding.severity) < STATUSES.index(worst):
                worst = finding.severity
        for imp in self.imports:
            level = {"dangerous": "unsafe", "suspicious": "suspicious"}.get(imp.safety, "safe")
            if STATUSES.index(level) < STATUSES.index(worst):
                worst = level
        return worst

    def add(self, severity: str, message: str, where: str = "") -> None:
        self.findings.append(Finding(severity, message, where))

    def merge(self, other: FileReport) -> None:
        self.imports.extend(other.imports)
        self.findings.extend(other.findings)
        if other.kind and not self.kind:
            self.kind = other.kind

    def to_json(self) -> str:
        return json.dumps(
            {
                "imports": [dataclasses.asdict(i) for i in self.imports],
                "findings": [dataclasses.asdict(f) for f in self.findings],
            }
        )

    @classmethod
    def from_json(cls, kind: str, text: str) -> FileReport:
        data: dict[str, Any] = json.loads(text or "{}")
        return cls(
            kind=kind,
            imports=[Import(**i) for i in data.get("imports", [])],
            findings=[Finding(**f) for f in data.get("findings", [])],
        )
