"""Problems found while reading exports: every one names its file, key and severity.

Nothing is dropped silently (LEGACY_FORMATS §3): whatever an import skips, repairs or guesses is a
problem in the run's report, and ``inspect`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]


class BadInput(Exception):
    """A whole file (or an option) cannot be used: exit 2 with this one-line reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    key: str | None
    severity: Severity
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "key": self.key,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass(slots=True)
class Problems:
    """The problems of one file, collected while its adapters run."""

    file: str
    items: list[Problem] = field(default_factory=list)

    def add(self, key: str | None, severity: Severity, message: str) -> None:
        self.items.append(Problem(self.file, key, severity, message))

    def error(self, key: str | None, message: str) -> None:
        self.add(key, "error", message)

    def warning(self, key: str | None, message: str) -> None:
        self.add(key, "warning", message)

    def info(self, key: str | None, message: str) -> None:
        self.add(key, "info", message)
