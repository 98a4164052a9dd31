"""The shared vocabulary of detection: what a personal-information type is and what a finding is.

Every package (scan, protect, gateway, trace) speaks of personal information through these two
classes; the registry of concrete types lives in ``leakwarden.detect.types``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class Sensitivity(StrEnum):
    """How GB/T 35273-2020 (and PIPL art. 28) classes a type.

    ``personal``: 个人信息 (3.1).  ``sensitive``: 个人敏感信息 (3.2, annex B) — identity numbers,
    financial accounts, precise location, biometrics, health, minors' data and the like.
    """

    PERSONAL = "personal"
    SENSITIVE = "sensitive"


@dataclass(frozen=True)
class PIType:
    """One definition of one personal-information type, used by the whole project.

    ``patterns`` are Hyperscan-compatible regular expressions (no look-around, no back-references)
    over the normalised UTF-8 text; the engine compiles every type's patterns into one database.
    ``validator`` receives the matched text and says whether it is a real instance (a check digit,
    a real date); ``None`` means the pattern alone decides.
    """

    id: str
    label_en: str
    label_zh: str
    sensitivity: Sensitivity
    patterns: tuple[str, ...] = ()
    validator: Callable[[str], bool] | None = None
    context: tuple[str, ...] = ()
    header_hints: tuple[str, ...] = ()
    default_mask: str = "redact"
    base_score: float = 0.5
    validated_score: float = 0.95
    gdpr_special_category: bool = False
    # A match must not touch another ASCII letter/digit on either side (an ID inside a longer
    # number is not an ID).  CJK characters around a match are fine: "身份证11010519491231002X".
    alnum_bounded: bool = True
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finding:
    """One recognised span.  ``start``/``end`` are character offsets in the decoded text,
    ``end`` exclusive, so ``text == decoded[start:end]``."""

    type: str
    start: int
    end: int
    text: str
    score: float

    def as_json(self) -> dict[str, object]:
        return {
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": round(self.score, 4),
        }
