"""A small, fully known detector and type registry for the scan tests.

The scan package takes its detector as a parameter; these fakes make the classifier's decisions
checkable by hand (fixed scores, exact patterns) and keep the tests independent of the engine.
"""

from __future__ import annotations

import re

from stdnum.cn import ric

from leakwarden.detect.model import Finding, PIType, Sensitivity


def _mobile_ok(text: str) -> bool:
    return len(text) == 11 and text[1] in "3456789"


def _ric_ok(text: str) -> bool:
    return bool(ric.is_valid(text))


FAKE_TYPES: dict[str, PIType] = {
    "cn_mobile": PIType(
        id="cn_mobile",
        label_en="mobile",
        label_zh="手机号码",
        sensitivity=Sensitivity.PERSONAL,
        validator=_mobile_ok,
        header_hints=("手机号", "手机", "phone", "mobile"),
    ),
    "cn_resident_id": PIType(
        id="cn_resident_id",
        label_en="resident id",
        label_zh="身份证号",
        sensitivity=Sensitivity.SENSITIVE,
        validator=_ric_ok,
        header_hints=("身份证", "id card", "ssn"),
    ),
    "email": PIType(
        id="email",
        label_en="e-mail",
        label_zh="电子邮件",
        sensitivity=Sensitivity.PERSONAL,
        header_hints=("email", "邮箱"),
    ),
}

_PATTERNS = (
    ("cn_resident_id", re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9X](?![0-9])"), 0.95),
    ("cn_mobile", re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])"), 0.9),
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), 0.8),
)


class FakeDetector:
    """Regex matches with fixed scores; ``calls`` counts ``find`` calls."""

    def __init__(self) -> None:
        self.calls = 0

    def find(self, text: str) -> list[Finding]:
        self.calls += 1
        out = [
            Finding(type_id, m.start(), m.end(), m.group(), score)
            for type_id, pattern, score in _PATTERNS
            for m in pattern.finditer(text)
        ]
        return sorted(out, key=lambda f: (f.start, f.end))


# Format-valid values, checked by hand against GB 11643 (MOD 11-2) and the 1[3-9] prefix rule.
VALID_IDS = (
    "11010519491231002X",  # GB 11643 annex example
    "110101198001010010",  # checked by hand: sum 100, 100 mod 11 = 1 -> "0"
    "110101199003077774",
    "310104198511201235",
)
INVALID_ID = "110105194912310021"  # check digit should be X
MOBILES = ("13812345678", "15900001111", "18611112222", "17722223333")
