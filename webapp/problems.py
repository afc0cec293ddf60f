"""One small problem type for every input error and warning, with 1-based line:col."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from webapp.narration import current_language, narration_language, say


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"


@dataclass(frozen=True)
class Problem:
    """A problem in the input: where it is (file, 1-based line and column, path in the document) and what."""

    severity: Severity
    file: str
    line: int
    col: int
    message: str
    path: str = ""
    """Where inside the document, e.g. `spec.ports[0].nodePort`; empty when the problem is the document itself."""
    hint: str = ""
    code: str = field(kw_only=True)
    """A stable id of the kind of problem, as yamllint's rule ids: `E-…` errors, `W-…` warnings, `N-…` notices
    (e.g. `E-DUP-POD-IP`, `E-NAME-DNS1123`). Tests and the page match on it, not on the message text."""
    message_zh: str = field(default="", kw_only=True)
    """The message in Chinese, for a problem whose words come from the narration catalogue (`worded`)."""

    @property
    def text(self) -> str:
        """The message in the narration language (English when the problem has no Chinese)."""
        return self.message_zh if self.message_zh and current_language() == "zh" else self.message

    def __str__(self) -> str:
        where = f" ({self.path})" if self.path else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.text}{where}{hint}"

    def to_dict(self) -> dict[str, object]:
        return {
            "severity": str(self.severity),
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "code": self.code,
        }


class LoadError(Exception):
    """A load that found errors; carries every problem found, errors and warnings alike."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        errors = [p for p in problems if p.severity == Severity.ERROR]
        super().__init__("\n".join(str(p) for p in errors) or "load failed")


def worded(key: str, /, **values: object) -> tuple[str, str]:
    """A problem's message from the narration catalogue: (English, Chinese)."""
    with narration_language("en"):
        english = say(key, **values)
    with narration_language("zh"):
        return english, say(key, **values)
