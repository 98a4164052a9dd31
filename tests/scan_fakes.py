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


def _ssn_ok(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _landline_ok(text: str) -> bool:
    return text.startswith("0")


_LANDLINE = re.compile(r"(?<![0-9])0[1-9][0-9]{1,2}-[2-9][0-9]{6,7}(?![0-9])")
_LANDLINE_CONTEXT = ("电话", "tel")


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
    "us_ssn": PIType(
        id="us_ssn",
        label_en="SSN",
        label_zh="社会安全号",
        sensitivity=Sensitivity.SENSITIVE,
        validator=_ssn_ok,
        header_hints=("ssn",),
    ),
    "cn_landline": PIType(
        id="cn_landline",
        label_en="landline",
        label_zh="固定电话",
        sensitivity=Sensitivity.PERSONAL,
        validator=_landline_ok,
        header_hints=("电话",),
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
    ("us_ssn", re.compile(r"(?<![0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9])"), 0.8),
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
        # A landline needs a context word in the 12 characters before it (like the real engine's
        # ``needs_context``): the column header supplies it in a table.
        for m in _LANDLINE.finditer(text):
            before = text[max(0, m.start() - 12) : m.start()].split("\n")[-1]
            if any(word in before.lower() for word in _LANDLINE_CONTEXT):
                out.append(Finding("cn_landline", m.start(), m.end(), m.group(), 0.9))
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
SSNS = ("296-06-8908", "002-04-3003")  # area/group/serial rules of the SSA, checked by hand
LANDLINES = ("010-62345678", "021-5234567")
