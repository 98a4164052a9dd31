"""The tagger's C segmenting and span finding (``_crfc.segments``, ``_crfc.spans`` through
``FastCRF.decode_spans``) against the per-segment Python path they replace (``_segments`` and
``spans_from_codes`` per decoded segment): the same segments, the same findings and scores, on
generated text and on the benchmark corpus."""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.corpus import build_corpus
from hypothesis import given, settings
from hypothesis import strategies as st

from leakwarden.detect.model import Finding
from leakwarden.detect.ner import NameAddressTagger
from leakwarden.detect.ner import _crfc as crfc
from leakwarden.detect.ner import tagger as tagger_module


@pytest.fixture(scope="module")
def tagger() -> NameAddressTagger:
    return NameAddressTagger.load()


def _both(tagger: NameAddressTagger, texts: list[str]) -> tuple[list[list[Finding]], ...]:
    tagger._flat = True
    try:
        flat = tagger.tag_cjk_many(texts)
    finally:
        tagger._flat = False
    try:
        reference = tagger.tag_cjk_many(texts)
    finally:
        tagger._flat = True
    return flat, reference


PIECES = st.sampled_from(
    [
        "张伟",
        "欧阳娜娜",
        "王",
        "住在",
        "北京市海淀区中关村大街27号",
        "浙江省杭州市西湖区文三路90号",
        "收件人：",
        "电话13812345678",
        "，",
        "、",
        "。",
        "！",
        "?",
        ";",
        "；",
        "\n",
        "\r",
        " ",
        "\t",
        ",",
        "abc",
        "Main St",
        "𠀀",
        "\x00",
    ]
)
TEXTS = st.lists(PIECES, max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.integers(min_value=2, max_value=40))
def test_segments_equal_the_regex_segments(text: str, max_segment: int) -> None:
    original = tagger_module._MAX_SEGMENT
    tagger_module._MAX_SEGMENT = max_segment  # small limits exercise the cutting at soft breaks
    try:
        expected = [(offset, offset + len(seg)) for offset, seg in tagger_module._segments(text)]
    finally:
        tagger_module._MAX_SEGMENT = original
    starts, ends = crfc.segments(text, max_segment)
    assert list(zip(starts, ends, strict=True)) == expected


def test_segments_of_a_long_line_are_cut_at_soft_breaks() -> None:
    text = "收件人张伟，" * 200  # 1200 characters, one segment before cutting
    starts, ends = crfc.segments(text, 512)
    assert starts[0] == 0 and ends[-1] == len(text)
    assert all(e - s <= 512 for s, e in zip(starts, ends, strict=True))
    assert all(text[e - 1] == "，" for e in ends)  # every cut right after a comma


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXTS, max_size=6))
def test_flat_tagging_equals_per_segment_tagging(
    tagger: NameAddressTagger, texts: list[str]
) -> None:
    flat, reference = _both(tagger, texts)
    assert flat == reference


def test_flat_tagging_equals_per_segment_tagging_on_the_benchmark_corpus(
    tagger: NameAddressTagger,
) -> None:
    texts = [doc.data.decode("utf-8") for doc in build_corpus(150_000, seed=3).documents]
    flat, reference = _both(tagger, texts)
    assert sum(len(f) for f in flat) > 100
    assert flat == reference


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.integers(min_value=0, max_value=4), max_size=12), max_size=6))
def test_spans_equal_spans_from_codes(segments: list[list[int]]) -> None:
    from leakwarden.detect.ner.corpora import spans_from_codes

    codes = b"OPpAa"
    labels = np.array([x for seg in segments for x in seg], dtype=np.int64)
    bounds = np.zeros(len(segments) + 1, dtype=np.int64)
    np.cumsum([len(seg) for seg in segments], out=bounds[1:])
    chosen = np.linspace(0.9, 0.1, len(labels)) if len(labels) else np.zeros(0)
    got = list(zip(*crfc.spans(labels, bounds, chosen, codes), strict=True))
    expected = []
    for k, seg in enumerate(segments):
        text = bytes(codes[x] for x in seg).decode("ascii")
        for span in spans_from_codes(text):
            lo = int(bounds[k])
            score = min(chosen[lo + span.start : lo + span.end].tolist())
            expected.append((k, span.start, span.end, text[span.start], score))
    assert got == expected


def test_spans_refuse_labels_without_a_code() -> None:
    with pytest.raises(IndexError, match="label id 7"):
        crfc.spans(
            np.array([0, 7], dtype=np.int64),
            np.array([0, 2], dtype=np.int64),
            np.zeros(2),
            b"OPpAa",
        )
