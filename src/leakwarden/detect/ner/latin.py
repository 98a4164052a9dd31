"""Latin-script person names and postal addresses by gazetteer + rules (no corpus to learn from).

Names: runs of two or three capitalised words, kept when the first word is a known given name and
the last a known family name (lists built from Faker's en_US/en_GB providers at training time and
shipped as package data), or when one of them is known and a context word stands right before
(``Name:``, ``Dear``, ``Mr.``, ``Customer``, ``Recipient`` ...); ``Mr./Ms./Dr. Surname`` alone
counts too.  Addresses: US street lines (``123 Main St, Apt 4, Springfield, IL 62704``), with a
street-suffix list, and UK lines ending in a postcode (``10 Downing Street, London SW1A 2AA``).
All of it is plain ``re``; no model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


US_STATES = _words(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM "
    "NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP FM MH PW AA AE AP"
)

AU_STATES = _words("NSW VIC QLD SA WA TAS ACT NT")

STREET_ABBREVIATIONS = _words(
    "St Ave Av Rd Blvd Dr Ln Ct Pl Ter Pkwy Cir Hwy Sq Trl Way Pike Row Walk Close Crescent Mews "
    "Gardens Grove Hill Road Street Lane Drive Avenue Court Place Terrace Square"
)

# Capitalised words that open a run but are not names (titles and context words are handled too).
_NOT_NAMES = frozenset(
    _words(
        "The A An And Or Of In On At To For From By With Dear Mr Mrs Ms Miss Mx Dr Prof Sir Madam "
        "Name Names Customer Client Recipient Contact Attn Attention Signed Regards Sincerely Best "
        "Kind Warm Thanks Thank Hello Hi Hey Yesterday Today Tomorrow Please Ship Bill Billing "
        "Shipping Address Order Payment Employee Patient User Cardholder Holder Consignee Sender "
        "Applicant Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March "
        "April May June July August September October November December Street Road Avenue Main "
        "North South East West New Old Great Saint St Mount Lake Port Fort Apt Suite Unit Flat "
        "INFO WARN ERROR DEBUG Your Our Their His Her We You They He She It This That These Those"
    )
)

# Words that may open a place name but end a person's name (Kim West, Aimee North).
_NOT_LAST_NAMES = _NOT_NAMES - frozenset(_words("North South East West Lake Hill Port"))

_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam)\.?"
_CONTEXT_RE = re.compile(
    r"(?:\b(?:full\s+name|name|dear|customer|client|recipient|contact|attn|attention|signed|"
    r"regards|sincerely|from|to|cardholder|card\s+holder|employee|patient|holder|consignee|"
    r"sender|applicant|user|passenger|guest|tenant|owner|by)|" + _TITLES + r")[\s.:,=\"'-]*$",
    re.IGNORECASE,
)
# Context strong enough to take two capitalised words as a name even when neither is listed.
_STRONG_CONTEXT_RE = re.compile(
    r"(?:\b(?:full\s+name|name|recipient|cardholder|consignee|customer\s+name|dear|attn|"
    r"attention|signed|regards|sincerely|patient|employee|passenger|applicant)\b|"
    + _TITLES
    + r")[\s.:,=\"'-]*$",
    re.IGNORECASE,
)

_UP = "A-ZÀ-ÖØ-Þ"
_LO = "a-zß-öø-ÿ"
# Every letter run is bounded: unbounded ones made "O'BO'B..." (90k chars) take minutes.
_WORD = rf"[{_UP}][{_LO}]{{0,30}}(?:['-]?[{_UP}][{_LO}]{{1,30}}){{0,3}}(?<=[{_LO}])"
# A run's first word, with the word boundary before it checked after its capital letter: a
# capital is a word character, so "\b" there means "no word character before it", which is
# (?<!\w.) one character later.  Starting with a character class lets ``re`` skip ahead to the
# next capital instead of trying the pattern at every character (2x on mixed text).
_FIRST_WORD = rf"[{_UP}](?<!\w.)[{_LO}]{{0,30}}(?:['-]?[{_UP}][{_LO}]{{1,30}}){{0,3}}(?<=[{_LO}])"
_RUN_RE = re.compile(rf"{_FIRST_WORD}(?:[ \t]+(?:{_WORD}|[A-Z]\.))*[ \t]+{_WORD}\b|{_FIRST_WORD}\b")
_WORD_RE = re.compile(rf"{_WORD}|[A-Z]\.")
_TITLE_BEFORE_RE = re.compile(_TITLES + r"[ \t]+$")

_UK_WINDOW = 160  # characters before a UK postcode that may belong to its address
_UK_POSTCODE = r"(?:GIR ?0AA|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2})"
_CAP_WORDS = r"[A-Z][A-Za-z'.-]{1,40}(?:[ \t]+[A-Z][A-Za-z'.-]{1,40}){0,3}"
_SEP = r"(?:,[ \t]*\n?[ \t]*|[ \t]*\n[ \t]*|[ \t]+)"


@dataclass(frozen=True)
class LatinSpan:
    type: str  # "person_name" | "address"
    start: int
    end: int
    score: float


class LatinRules:
    """Gazetteer + regular expressions for English-style names and addresses."""

    def __init__(
        self,
        first_names: Iterable[str],
        last_names: Iterable[str],
        street_suffixes: Iterable[str],
    ) -> None:
        self.first = frozenset(first_names)
        self.last = frozenset(last_names)
        suffixes = sorted(set(street_suffixes) | set(STREET_ABBREVIATIONS), key=len, reverse=True)
        suffix_alt = "|".join(re.escape(s) for s in suffixes)
        states = "|".join(US_STATES)
        secondary = (
            r"(?:,?[ \t]+(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Floor|Fl\.?|Room|Rm\.?|#)"
            r"[ \t]*[\w-]{1,10})?"
        )
        city_state_zip = (
            rf"(?:{_SEP}[A-Z][a-z]{{1,30}}(?:[ \t]+[A-Z][a-z]{{1,30}}){{0,2}},?[ \t]+"
            rf"(?:{states})[ \t]+\d{{5}}(?:-\d{{4}})?)?"
        )
        unit_first = r"(?:\b(?:Apt\.?|Unit|Suite|Flat|Level)[ \t]+\w{1,8}[ \t]+)?"
        au_state_pc = (
            rf"(?:{_SEP}[A-Z][a-z]{{1,30}}\.?(?:[ \t]+[A-Z][a-z]{{1,30}}){{0,2}},?[ \t]+"
            rf"(?:{'|'.join(AU_STATES)})"
            r",?[ \t]+\d{4})"
        )
        self._us_re = re.compile(
            unit_first + r"\b(?:\d{1,5}/)?\d{1,6}[ \t]+(?:[NSEW]\.?[ \t]+)?"
            r"(?:[A-Z][A-Za-z'-]{1,40}\.?[ \t]+){1,3}"
            rf"(?:{suffix_alt})\b\.?" + secondary + rf"(?:{au_state_pc}|{city_state_zip})"
        )
        self._city_zip_re = re.compile(
            rf"\b[A-Z][a-z]{{1,30}}(?:[ \t]+[A-Z][a-z]{{1,30}}){{0,2}},[ \t]+(?:{states})[ \t]+"
            r"\d{5}(?:-\d{4})?\b"
        )
        self._uk_re = re.compile(
            r"(?:\b(?:Flat|Studio|Apartment|Unit)[ \t]+\d+[A-Za-z]?" + _SEP + r")?"
            r"(?:\b\d{1,5}[A-Za-z]?[ \t]+)?\b" + _CAP_WORDS + rf"(?:{_SEP}{_CAP_WORDS}){{0,2}}"
            rf",?[ \t]*\n?[ \t]*\b{_UK_POSTCODE}\Z"
        )
        # rf"\b{_UK_POSTCODE}\b" written to start with its first capital (the boundary before it
        # checked just after it, as in _RUN_RE), so ``re`` skips ahead by character class.
        self._uk_postcode_re = re.compile(
            r"[A-Z](?<!\w.)(?:(?<=G)IR ?0AA|[A-Z]?[0-9][A-Z0-9]? ?[0-9][A-Z]{2})\b"
        )
        # Cheap finders of where the patterns above can match at all (see _addresses): each
        # starts with a literal or a character class, so ``re`` skips ahead without trying the
        # whole pattern at every position.
        # What follows a digit run where a US address can start: the blank right after a digit,
        # then (optionally a compass letter and) a capital.  It opens with a character class, so
        # ``re`` skips ahead to the next blank (digits are denser than blanks in logs);
        # ``_us_matches`` walks back to the start of the run.
        self._us_after_digits_re = re.compile(r"[ \t](?<=\d[ \t])[ \t]*(?:[NSEW]\.?[ \t]+)?[A-Z]")
        self._us_unit_re = re.compile(r"Apt|Unit|Suite|Flat|Level")
        self._city_zip_anchor_re = re.compile(rf",[ \t]+(?:{states})[ \t]+\d{{5}}")

    # -- names ------------------------------------------------------------------------------
    def _names(self, text: str) -> list[LatinSpan]:
        out: list[LatinSpan] = []
        for run in _RUN_RE.finditer(text):
            if " " not in run.group() and "\t" not in run.group():
                # One word: a name only as "Mr./Dr. Surname" (cheap tests first).
                word = run.group()
                if (word in self.last or word in self.first) and _TITLE_BEFORE_RE.search(
                    text, max(0, run.start() - 8), run.start()
                ):
                    out.append(LatinSpan("person_name", run.start(), run.end(), 0.75))
                continue
            words = [
                (m.start() + run.start(), m.end() + run.start(), m.group())
                for m in _WORD_RE.finditer(run.group())
            ]
            while words and words[0][2].rstrip(".") in _NOT_NAMES:
                words.pop(0)
            while words and (words[-1][2].endswith(".") or words[-1][2] in _NOT_LAST_NAMES):
                words.pop()
            if not words:
                continue
            start = words[0][0]
            before = text[max(0, start - 40) : start]
            if len(words) == 1:
                word = words[0][2]
                if _TITLE_BEFORE_RE.search(before) and (word in self.last or word in self.first):
                    out.append(LatinSpan("person_name", start, words[0][1], 0.75))
                continue
            words = words[:3]
            first, last = words[0][2], words[-1][2]
            known_first = first in self.first
            known_last = last in self.last
            context = (known_first or known_last) and _CONTEXT_RE.search(before) is not None
            if known_first and known_last:
                score = 0.95 if context else 0.85
            elif (known_first or known_last) and context:
                score = 0.75
            elif _STRONG_CONTEXT_RE.search(before):
                score = 0.6
            else:
                continue
            out.append(LatinSpan("person_name", start, words[-1][1], score))
        return out

    # -- addresses --------------------------------------------------------------------------
    def _us_matches(self, text: str) -> list[re.Match[str]]:
        """``list(self._us_re.finditer(text))``, trying the pattern only where a match can start.

        A match starts at a word boundary with either a unit word (Apt, Unit, ...) or a run of
        at most six digits (a digit after a word character is no boundary, so no match starts
        inside a longer run), or the ``n/`` before such a run; the run is followed by what
        ``_us_after_digits_re`` finds (blanks, an optional compass letter, the first capital of
        the street name).  The starts are a superset of the real ones; trying them in order
        from the end of the last match is what ``finditer`` does at every position."""
        starts: set[int] = set()
        for m in self._us_after_digits_re.finditer(text):
            blank = m.start()
            q = blank - 1  # the run of at most 6 digits (re's \d is str.isdecimal) before it
            while q > 0 and text[q - 1].isdecimal() and blank - q < 7:
                q -= 1
            if blank - q > 6 or (q > 0 and text[q - 1].isdecimal()):
                continue  # a longer run: no match starts in it
            starts.add(q)
            if q >= 2 and text[q - 1] == "/":  # "12/345 Main St": the match starts at 12
                starts.update(range(max(0, q - 6), q - 1))
        starts.update(m.start() for m in self._us_unit_re.finditer(text))
        out: list[re.Match[str]] = []
        last = 0
        match = self._us_re.match
        for p in sorted(starts):
            if p < last:
                continue
            found = match(text, p)
            if found is not None:
                out.append(found)
                last = found.end()
        return out

    def _city_zip_matches(self, text: str) -> list[re.Match[str]]:
        """``list(self._city_zip_re.finditer(text))``, run only over the lines that hold its
        ", ST 12345" part (the pattern has no line break in it, so no match spans lines; ``\\b``
        sees the line break before ``pos`` and after ``endpos``, as in the whole text)."""
        out: list[re.Match[str]] = []
        done = -1
        for a in self._city_zip_anchor_re.finditer(text):
            if a.start() < done:
                continue
            lo = text.rfind("\n", 0, a.start()) + 1
            hi = text.find("\n", a.end())
            hi = len(text) if hi < 0 else hi
            out.extend(self._city_zip_re.finditer(text, lo, hi))
            done = hi
        return out

    def _addresses(self, text: str) -> list[LatinSpan]:
        found: list[LatinSpan] = []
        for m in self._us_matches(text):
            full = m.group().count(",") >= 1 and re.search(r"\d{5}", m.group()[3:]) is not None
            found.append(LatinSpan("address", m.start(), m.end(), 0.9 if full else 0.75))
        # UK lines end in a postcode: find those first (cheap), then match the address only in a
        # window that ends at the postcode.  Running the address pattern over the whole text
        # costs seconds per 100 kB of capitalised words.
        for pc in self._uk_postcode_re.finditer(text):
            lo = max(0, pc.start() - _UK_WINDOW)
            uk = self._uk_re.search(text, lo, pc.end())
            if uk is not None:
                found.append(LatinSpan("address", uk.start(), uk.end(), 0.85))
        for m in self._city_zip_matches(text):
            found.append(LatinSpan("address", m.start(), m.end(), 0.6))
        return found

    def find(self, text: str) -> list[LatinSpan]:
        """Names and addresses in ``text``; addresses win where the two overlap."""
        if not text:
            return []
        addresses = resolve(self._addresses(text))
        names = self._names(text)
        if not addresses:
            return names
        starts = {n.start: n for n in names}
        trimmed: list[LatinSpan] = []
        for a in addresses:
            # A UK match may swallow a preceding "Name Surname, ": cut it back to after the name.
            n = starts.get(a.start)
            if n is not None and n.end < a.end:
                rest = text[n.end : a.end]
                skip = len(rest) - len(rest.lstrip(" \t,\n"))
                a = LatinSpan(a.type, n.end + skip, a.end, a.score)
            trimmed.append(a)
        return resolve(trimmed + names)


def resolve(spans: list[LatinSpan]) -> list[LatinSpan]:
    """One span per overlapping pair, sorted by start: addresses first, then the longer one."""
    spans = sorted(spans, key=lambda s: (s.start, -s.end))
    kept: list[LatinSpan] = []
    for s in spans:
        if kept and s.start < kept[-1].end:
            last = kept[-1]
            if _rank(s) > _rank(last):
                kept[-1] = s
            continue
        kept.append(s)
    return kept


def _rank(s: LatinSpan) -> tuple[bool, int, float]:
    return (s.type == "address", s.end - s.start, s.score)
