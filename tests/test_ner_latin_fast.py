"""The address finders' shortcuts in ``LatinRules`` against the plain patterns they stand for:
``_us_matches`` / ``_city_zip_matches`` must return exactly ``finditer`` of ``_us_re`` /
``_city_zip_re`` (same spans, same order) on generated text built from address parts."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakwarden.detect.ner import NameAddressTagger
from leakwarden.detect.ner.latin import _RUN_RE, _UK_POSTCODE, _WORD, LatinRules

# The run pattern as first written (word boundary first): _RUN_RE must find the same runs.
PLAIN_RUN_RE = re.compile(rf"\b{_WORD}(?:[ \t]+(?:{_WORD}|[A-Z]\.))*[ \t]+{_WORD}\b|\b{_WORD}\b")
NAME_PARTS = [
    "John",
    "Smith",
    "Mary-Jane",
    "O'Brien",
    "McDonald",
    "xJohn",
    "é",
    "Émile",
    "J.",
    "A.",
    "  ",
    "\t",
    " ",
    "\n",
    "1",
    "_Ann",
    "Ann_",
    "张伟",
    "Dr.",
    "mr",
    "ÀB",
    "Bob's",
    "ßA",
]

PARTS = [
    "12",
    "123456",
    "1234567",
    "12/345",
    "4/1234567",
    "0",
    "７",
    " ",
    "  ",
    "\t",
    "\n",
    ", ",
    ",",
    ".",
    "Apt 4 ",
    "Unit 2B ",
    "Suite 100",
    "Level 3 ",
    "Flat 1 ",
    "United ",
    "N ",
    "Main",
    "St",
    "Street",
    "Ave.",
    "Oak",
    "Springfield",
    "New York",
    "IL",
    "NY",
    "NSW",
    "62704",
    "62704-1234",
    "2000",
    "Sydney",
    "abc",
    "a1",
    "地址",
    "，",
    "SW1A 2AA",
    "#",
    "Springfield, IL 62704",
    ", NY 10001-1234",
    "123 Main St",
    "7 N. Oak Ave",
    "Lake City, CA 90210",
]

TEXTS = st.lists(st.sampled_from(PARTS), max_size=40).map("".join)


@pytest.fixture(scope="module")
def rules() -> LatinRules:
    return NameAddressTagger.load()._latin


def _spans(matches: object) -> list[tuple[int, int]]:
    return [m.span() for m in matches]  # type: ignore[attr-defined]


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_us_matches_equal_finditer(rules: LatinRules, text: str) -> None:
    assert _spans(rules._us_matches(text)) == _spans(rules._us_re.finditer(text))


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_city_zip_matches_equal_finditer(rules: LatinRules, text: str) -> None:
    assert _spans(rules._city_zip_matches(text)) == _spans(rules._city_zip_re.finditer(text))


def test_known_addresses_still_found(rules: LatinRules) -> None:
    text = (
        "ship to 123 Main St, Apt 4, Springfield, IL 62704 today\n"
        "or 12/345 Oak Street, Sydney NSW 2000\nvisit Springfield, IL 62704\n"
    )
    us = [text[a:b] for a, b in _spans(rules._us_matches(text))]
    assert us == ["123 Main St, Apt 4, Springfield, IL 62704", "12/345 Oak Street, Sydney NSW 2000"]
    cz = [text[a:b] for a, b in _spans(rules._city_zip_matches(text))]
    assert cz == ["Springfield, IL 62704", "Springfield, IL 62704"]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(NAME_PARTS), max_size=20).map("".join))
def test_run_pattern_equals_plain_word_boundary_form(text: str) -> None:
    assert _spans(_RUN_RE.finditer(text)) == _spans(PLAIN_RUN_RE.finditer(text))


def test_run_pattern_known_runs() -> None:
    text = "Dear John Smith, xJohn Doe and Émile Zola"
    assert [m.group() for m in _RUN_RE.finditer(text)] == ["Dear John Smith", "Doe", "Émile Zola"]


PLAIN_POSTCODE_RE = re.compile(rf"\b{_UK_POSTCODE}\b")
POSTCODE_PARTS = [
    "GIR 0AA",
    "GIR0AA",
    "G",
    "IR",
    "SW1A 2AA",
    "SW1A2AA",
    "W1 1AA",
    "EC1A 1BB",
    "x",
    "1",
    " ",
    "A",
    "B9",
    "9",
    "ZZ",
    "GI",
    "R 0AA",
    "é",
    "_",
    "-",
    "M1 1AE",
    "CR2 6XH",
    "DN55 1PT",
]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(POSTCODE_PARTS), max_size=12).map("".join))
def test_postcode_pattern_equals_plain_form(rules: LatinRules, text: str) -> None:
    assert _spans(rules._uk_postcode_re.finditer(text)) == _spans(PLAIN_POSTCODE_RE.finditer(text))


def test_postcode_known(rules: LatinRules) -> None:
    text = "10 Downing Street, London SW1A 2AA; GIR 0AA; xSW1A 2AA; GIR0AAB"
    assert [m.group() for m in rules._uk_postcode_re.finditer(text)] == ["SW1A 2AA", "GIR 0AA"]


DIGIT_PARTS = ["1", "12", "123456", "1234567", "/", " ", "\t", "N ", "Main", "٣", "x", "-", "\n"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(DIGIT_PARTS), max_size=30).map("".join))
def test_us_matches_equal_finditer_on_digit_runs(rules: LatinRules, text: str) -> None:
    # digit runs of every length, with "/" prefixes and non-ASCII digits ("٣" is \d too)
    text = text.replace("Main", "Main St")
    assert _spans(rules._us_matches(text)) == _spans(rules._us_re.finditer(text))
