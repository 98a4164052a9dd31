"""Character features for the Chinese name/address CRF.

One feature tuple per character.  Everything is built with whole-string operations
(``str.translate``, slicing, ``zip``) rather than a Python loop per character, because the
tagger runs on every text the engine sees.

Features of position ``i`` (digits fold to ``0`` and ASCII letters to lower case first):
the character and its neighbours at +-1 and +-2; the bigrams left and right of it and the
bigrams just outside it; a coarse character class over windows of 3 and 5 (CJK, Chinese
numeral, digit, letter, space, colon, punctuation); a marker window of 3 saying which characters
are common surnames (compound surnames such as 欧阳 included) and which are address suffixes
(省市区县镇乡村路街巷道号栋幢楼单元室弄...); and whether the position lies in an
administrative-division name from the gazetteer (begin / inside / end).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Characters that end an address component (省/市/路/号/室...).
ADDRESS_SUFFIXES = "省市区县镇乡村路街巷道号栋幢楼单元室弄里苑园座层屯旗盟组社大厦城"

# Compound surnames (复姓) that Faker's zh_CN list lacks; single-character ones come from Faker.
_COMPOUNDS = (
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离 独孤 "
    "南宫 西门 百里 呼延 端木 澹台 公冶 宗政 濮阳 太叔 申屠 司空 闻人 万俟 赫连 拓跋 东郭 完颜"
)
COMPOUND_SURNAMES: tuple[str, ...] = tuple(_COMPOUNDS.split())

_CN_NUMERALS = "零〇一二三四五六七八九十百千万两壹贰叁肆伍陆柒捌玖拾"
_PAD_L = "\x02\x02"
_PAD_R = "\x03\x03"
_TABLE_SIZE = 0x10000


def _char_class(cp: int) -> str:
    ch = chr(cp)
    if "0" <= ch <= "9" or "０" <= ch <= "９":
        return "D"
    if ch in _CN_NUMERALS:
        return "N"
    if ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ("ａ" <= ch <= "ｚ") or ("Ａ" <= ch <= "Ｚ"):
        return "L"
    if 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF:
        return "H"
    if ch in ":：":
        return "C"
    if ch.isspace():
        return "W"
    if ch.isalpha():
        return "A"
    return "P"


def _norm_char(cp: int) -> str:
    ch = chr(cp)
    if "0" <= ch <= "9" or "０" <= ch <= "９":
        return "0"
    if "Ａ" <= ch <= "Ｚ" or "ａ" <= ch <= "ｚ":
        return chr(cp - 0xFEE0).lower()
    if "A" <= ch <= "Z":
        return ch.lower()
    if ch == "\t" or ch == "\n" or ch == "\r" or ch == "\u3000":
        return " "
    return ch


_CLASS_TABLE: list[str] = [_char_class(cp) for cp in range(_TABLE_SIZE)]
_NORM_TABLE: list[str] = [_norm_char(cp) for cp in range(_TABLE_SIZE)]


def has_cjk(text: str) -> bool:
    """True when ``text`` holds at least one CJK ideograph (the CRF only runs on such text)."""
    return _CJK_RE.search(text) is not None


_CJK_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class Featurizer:
    """Turns text into crfsuite feature tuples; holds the surname and place gazetteers."""

    def __init__(self, surnames: Iterable[str], places: Iterable[str]) -> None:
        singles = {s for s in surnames if len(s) == 1}
        compounds = {s for s in surnames if len(s) > 1} | set(COMPOUND_SURNAMES)
        mark = ["-"] * _TABLE_SIZE
        for ch in singles:
            mark[ord(ch)] = "x"
        for ch in ADDRESS_SUFFIXES:
            mark[ord(ch)] = "b" if mark[ord(ch)] == "x" else "s"
        self._mark_table = mark
        self._compound_re = (
            re.compile("|".join(sorted(compounds, key=len, reverse=True))) if compounds else None
        )
        self.surnames = frozenset(singles | compounds)
        self.places = frozenset(p for p in places if len(p) >= 2)
        self._place_ends = "".join(sorted({p[-1] for p in self.places}))
        self._place_end_re = (
            re.compile("[" + re.escape(self._place_ends) + "]") if self._place_ends else None
        )
        self._place_maxlen = max((len(p) for p in self.places), default=0)

    def _gazetteer_marks(self, text: str) -> str:
        marks = ["O"] * len(text)
        if self._place_end_re is None:
            return "".join(marks)
        places = self.places
        maxlen = self._place_maxlen
        covered = -1
        for m in self._place_end_re.finditer(text):
            j = m.start()
            for length in range(min(maxlen, j + 1), 1, -1):
                start = j - length + 1
                if start > covered and text[start : j + 1] in places:
                    marks[start] = "B"
                    for k in range(start + 1, j):
                        marks[k] = "I"
                    marks[j] = "E"
                    covered = j
                    break
        return "".join(marks)

    def features(self, text: str) -> list[tuple[str, ...]]:
        """Feature tuples, one per character of ``text``."""
        n = len(text)
        if n == 0:
            return []
        t = _PAD_L + text.translate(_NORM_TABLE) + _PAD_R
        k = "__" + text.translate(_CLASS_TABLE) + "__"
        mk = text.translate(self._mark_table)
        if self._compound_re is not None:
            hits = [m.start() for m in self._compound_re.finditer(text)]
            if hits:
                chars = list(mk)
                for h in hits:
                    chars[h], chars[h + 1] = "y", "z"
                mk = "".join(chars)
        mk = "^" + mk + "$"
        g = self._gazetteer_marks(text)

        c0 = t[2:-2]
        cm1 = t[1:-3]
        cp1 = t[3:-1]
        cm2 = t[:-4]
        cp2 = t[4:]
        return list(
            zip(
                ["b"] * n,
                ["c" + a for a in c0],
                ["l" + a for a in cm1],
                ["r" + a for a in cp1],
                ["L" + a for a in cm2],
                ["R" + a for a in cp2],
                ["lb" + a + b for a, b in zip(cm1, c0, strict=True)],
                ["rb" + a + b for a, b in zip(c0, cp1, strict=True)],
                ["LB" + a + b for a, b in zip(cm2, cm1, strict=True)],
                ["RB" + a + b for a, b in zip(cp1, cp2, strict=True)],
                ["k" + k[i + 1 : i + 4] for i in range(n)],
                ["K" + k[i : i + 5] for i in range(n)],
                ["m" + mk[i : i + 3] for i in range(n)],
                ["g" + a for a in g],
                strict=True,
            )
        )
