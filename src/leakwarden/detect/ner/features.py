"""Character features for the Chinese name/address CRF.

One feature tuple per character.  Everything is built with whole-string operations
(``str.translate``, slicing, ``zip``) rather than a Python loop per character, because the
tagger runs on every text the engine sees.

Features of position ``i`` (digits fold to ``0`` and ASCII letters to lower case first):
the character and its neighbours at -1 and +1; the bigrams left and right of it and the two
bigrams just outside those (so characters at +-2 appear in pairs); a coarse character class over
a window of 5 (CJK, Chinese numeral, digit, letter, space, colon, punctuation); and a marker
window of 3 saying which characters are common surnames (compound surnames such as 欧阳
included) and which are address suffixes (省市区县镇乡村路街巷道号栋幢楼单元室弄...), joined with
whether the position lies in an administrative-division name from the gazetteer (begin / inside /
end).  Nine attributes per character: every extra one costs throughput in crfsuite.  Measured
on the held-out sets (benchmarks/ner_eval.md): adding the class trigram (ten) changed F1 by
less than one point either way; dropping the +-1 unigrams as well (seven) cost 2-5 points;
adding +-2 unigrams and a bias (fourteen) gained nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache
from operator import add as _add

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
_SEPARATOR = _PAD_R + _PAD_L
_TABLE_SIZE = 0x10000
_PLACE_MAXLEN = 10


def _char_class(cp: int) -> str:
    ch = chr(cp)
    if ch in _PAD_L + _PAD_R:
        return "_"
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


@cache
def _tables() -> tuple[list[str], list[str]]:
    """(class, normal form) of every BMP character, for ``str.translate`` (built on first use:
    about 0.1 s, which ``import`` should not pay)."""
    return (
        [_char_class(cp) for cp in range(_TABLE_SIZE)],
        [_norm_char(cp) for cp in range(_TABLE_SIZE)],
    )


def has_cjk(text: str) -> bool:
    """True when ``text`` holds at least one CJK ideograph (the CRF only runs on such text)."""
    return _CJK_RE.search(text) is not None


_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")
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
        mark[ord(_PAD_L[0])], mark[ord(_PAD_R[0])] = "^", "$"
        # One translate gives both codes: class at even, marker at odd positions.
        class_table, self._norm_table = _tables()
        self._code_table = [c + m for c, m in zip(class_table, mark, strict=True)]
        self._compound_re = (
            re.compile("|".join(sorted(compounds, key=len, reverse=True))) if compounds else None
        )
        self.surnames = frozenset(singles | compounds)
        self.places = frozenset(p for p in places if 2 <= len(p) <= _PLACE_MAXLEN)
        self._place_ends = "".join(sorted({p[-1] for p in self.places}))
        self._place_end_re = (
            re.compile("[" + re.escape(self._place_ends) + "]") if self._place_ends else None
        )
        lengths: dict[str, set[int]] = {}
        for p in self.places:
            lengths.setdefault(p[-1], set()).add(len(p))
        # Per last character, the lengths of the places ending in it, longest first.
        self._lengths_by_end = {ch: sorted(ls, reverse=True) for ch, ls in lengths.items()}

    def _gazetteer_marks(self, text: str) -> str:
        marks = ["O"] * len(text)
        if self._place_end_re is None:
            return "".join(marks)
        places = self.places
        lengths_by_end = self._lengths_by_end
        covered = -1
        for m in self._place_end_re.finditer(text):
            j = m.start()
            for length in lengths_by_end[m.group()]:
                start = j - length + 1
                if start > covered and start >= 0 and text[start : j + 1] in places:
                    marks[start] = "B"
                    for k in range(start + 1, j):
                        marks[k] = "I"
                    marks[j] = "E"
                    covered = j
                    break
        return "".join(marks)

    def features_many(self, segments: Sequence[str]) -> list[list[tuple[str, ...]]]:
        """``[features(s) for s in segments]``, computed in one pass over the joined segments.

        The segments are joined with the padding characters themselves (right pad, then left
        pad), whose class and marker codes equal the padding's, so every window sees exactly
        what it would see in a segment of its own; per-call overhead is paid once.
        """
        if len(segments) <= 1:
            return [self.features(s) for s in segments]
        feats = self.features(_SEPARATOR.join(segments))
        out: list[list[tuple[str, ...]]] = []
        pos = 0
        for seg in segments:
            out.append(feats[pos : pos + len(seg)])
            pos += len(seg) + len(_SEPARATOR)
        return out

    def features(self, text: str) -> list[tuple[str, ...]]:
        """Feature tuples, one per character of ``text``."""
        n = len(text)
        if n == 0:
            return []
        t = _PAD_L + text.translate(self._norm_table) + _PAD_R
        codes = text.translate(self._code_table)
        if len(codes) != 2 * n:  # characters beyond the BMP are left as they are by translate
            codes = _ASTRAL_RE.sub("\ufffd", text).translate(self._code_table)
        k = "__" + codes[::2] + "__"
        mk = codes[1::2]
        if self._compound_re is not None:
            hits = [m.start() for m in self._compound_re.finditer(text)]
            if hits:
                chars = list(mk)
                for h in hits:
                    chars[h], chars[h + 1] = "y", "z"
                mk = "".join(chars)
        mk = "^" + mk + "$"
        g = self._gazetteer_marks(text)

        # Bigrams of the padded text: bg[j] = t[j] + t[j + 1]; position i sits at t[i + 2].
        bg = list(map(_add, t[:-1], t[1:]))
        k3 = map(_add, map(_add, k[1:-3], k[2:-2]), k[3:-1])
        return list(
            zip(
                map("c".__add__, t[2:-2]),
                map("l".__add__, t[1:-3]),
                map("r".__add__, t[3:-1]),
                map("lb".__add__, bg[1 : n + 1]),
                map("rb".__add__, bg[2 : n + 2]),
                map("LB".__add__, bg[0:n]),
                map("RB".__add__, bg[3 : n + 3]),
                map(_add, map(_add, map("K".__add__, k[:-4]), k3), k[4:]),
                map(_add, map(_add, map("m".__add__, mk[:-2]), mk[1:-1]), map(_add, mk[2:], g)),
                strict=True,
            )
        )
