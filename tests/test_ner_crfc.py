"""The compiled CRF loops (``leakwarden.detect.ner._crfc``) against the NumPy reference decoder
(``FastCRF(..., backend="numpy")``): the same labels and marginals within 1e-9 on generated
text (hypothesis) and on generated benchmark-style records; plus the guards of the C entry points.

(tests/test_ner_fastcrf.py checks the default, compiled, decoder against crfsuite itself.)"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakwarden.detect.ner import NameAddressTagger
from leakwarden.detect.ner import _crfc as crfc
from leakwarden.detect.ner.corpora import spans_from_codes, spans_from_tags, tag_codes
from leakwarden.detect.ner.fastcrf import FastCRF
from leakwarden.detect.ner.synthetic import zh_records


@pytest.fixture(scope="module")
def tagger() -> NameAddressTagger:
    return NameAddressTagger.load()


@pytest.fixture(scope="module")
def pair(tagger: NameAddressTagger) -> tuple[FastCRF, FastCRF]:
    compiled = FastCRF(tagger._model, tagger._featurizer)
    reference = FastCRF(tagger._model, tagger._featurizer, backend="numpy")
    assert compiled.backend == "compiled" and reference.backend == "numpy"
    return compiled, reference


def _assert_same(pair: tuple[FastCRF, FastCRF], segments: list[str]) -> int:
    """Compare both decoders on ``segments``; return how many segments had a span."""
    compiled, reference = pair
    a, b = compiled.decode(segments), reference.decode(segments)
    assert len(a) == len(b) == len(segments)
    tagged = 0
    for seg, x, y in zip(segments, a, b, strict=True):
        assert len(x.label_ids) == len(seg)
        assert x.label_ids.tolist() == y.label_ids.tolist(), seg
        assert (x.marginals is None) == (y.marginals is None), seg
        if x.marginals is not None and y.marginals is not None:
            tagged += 1
            assert np.abs(x.marginals - y.marginals).max() < 1e-9, seg
    return tagged


ZH = "张王李赵刘陈欧阳伟芳娜秀英住在北京上海市省区路号街道大厦收件人电话地址，。：；"
ALPHABET = st.sampled_from(
    list(ZH) + list("abcXYZ 0123456789,.-\t") + ["\x00", "\x02", "\x03", "𠀀", "ＡＢ１２", "\ufffd"]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(ALPHABET, max_size=60).map("".join), max_size=12))
def test_generated_text_same_as_reference(pair: tuple[FastCRF, FastCRF], segs: list[str]) -> None:
    _assert_same(pair, segs)


def test_records_same_as_reference(pair: tuple[FastCRF, FastCRF]) -> None:
    names = ["张伟", "王芳", "欧阳娜娜", "李秀英", "司马光", "赵敏"]
    addresses = [
        "浙江省杭州市西湖区文三路90号",
        "北京市海淀区中关村大街27号",
        "广东省广州市天河区体育西路103号",
    ]
    records = [e.text for e in zh_records(600, 11, lambda rng: rng.choice(names), addresses)]
    rng = random.Random(5)
    segments = records + ["，".join(rng.sample(records, 30)) for _ in range(20)]  # long ones
    assert _assert_same(pair, segments) > 300  # most records hold a name or an address


@settings(max_examples=200, deadline=None)
@given(st.lists(ALPHABET, max_size=80).map("".join))
def test_attribute_ids_same_as_reference(pair: tuple[FastCRF, FastCRF], text: str) -> None:
    # _crfc.char_codes + window_ids against the NumPy lookups and windows
    compiled, reference = pair
    assert np.array_equal(compiled.attribute_ids(text), reference.attribute_ids(text))


def test_window_ids_refuses_codes_outside_the_alphabets(pair: tuple[FastCRF, FastCRF]) -> None:
    compiled = pair[0]
    ones = np.ones(3, dtype=np.int64)
    bad = np.array([0, 99, 0], dtype=np.int64)
    with pytest.raises(IndexError, match="character 1"):
        crfc.window_ids(
            ones,
            bad,
            ones,
            ones,
            compiled._window_codes,
            compiled._dense_uni_table,
            compiled._by_key.parts(),
            compiled._by_bigram.parts(),
            compiled._dense_k,
            compiled._dense_m,
        )


def test_emissions_bit_for_bit(pair: tuple[FastCRF, FastCRF]) -> None:
    compiled, reference = pair
    text = "收件人：张伟，电话13812345678，地址：浙江省杭州市西湖区文三路90号\x00𠀀"
    assert np.array_equal(compiled.emissions(text), reference.emissions(text))


def test_entry_points_refuse_bad_rows() -> None:
    table = np.zeros((3, 2))
    with pytest.raises(IndexError, match="attribute row 5"):
        crfc.emissions(np.array([[0, 5]], dtype=np.int64), table)
    emis = np.zeros((4, 2))
    trans = np.zeros((2, 2))
    starts, lens = np.array([2], dtype=np.int64), np.array([3], dtype=np.int64)
    with pytest.raises(IndexError, match="segment 0"):
        crfc.viterbi(emis, starts, lens, trans)
    with pytest.raises(IndexError, match="segment 0"):
        crfc.marginals_many(emis, starts, lens, np.ones(1, dtype=np.uint8), trans)


def test_viterbi_known_answer() -> None:
    # Two labels; staying costs nothing, switching costs 1. Emissions favour 0,0,1,1 by 3 each:
    # the best path is 0 0 1 1 (score 3+3+3+3-1 = 11) over any constant path (score 6).
    emis = np.array([[3.0, 0.0], [3.0, 0.0], [0.0, 3.0], [0.0, 3.0]])
    trans = np.array([[0.0, -1.0], [-1.0, 0.0]])
    labels = crfc.viterbi(
        emis, np.array([0, 2], dtype=np.int64), np.array([4, 2], dtype=np.int64), trans
    )
    assert labels.tolist() == [0, 0, 1, 1, 1, 1]
    # Ties: the first best label wins, as in crfsuite.
    tie = crfc.viterbi(
        np.zeros((3, 2)), np.array([0], dtype=np.int64), np.array([3], dtype=np.int64), trans
    )
    assert tie.tolist() == [0, 0, 0]


def test_marginals_known_answer() -> None:
    # No transitions (all weights 0): marginals are the softmax of each row's emissions.
    emis = np.array([[0.0, np.log(3.0)], [np.log(4.0), 0.0]])
    out = crfc.marginals_many(
        emis,
        np.array([0], dtype=np.int64),
        np.array([2], dtype=np.int64),
        np.ones(1, dtype=np.uint8),
        np.ones((2, 2)),
    )
    assert np.allclose(out, [[0.25, 0.75], [0.8, 0.2]])


def test_unknown_backend_is_refused(tagger: NameAddressTagger) -> None:
    with pytest.raises(ValueError, match="unknown CRF backend 'c'"):
        FastCRF(tagger._model, tagger._featurizer, backend="c")


TAGS = ("O", "B-ADDR", "I-ADDR", "B-PER", "I-PER")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TAGS), max_size=40))
def test_spans_from_codes_same_as_from_tags(tags: list[str]) -> None:
    table = tag_codes(TAGS)
    codes = bytes(table[TAGS.index(t)] for t in tags).decode("ascii")
    assert spans_from_codes(codes) == spans_from_tags(tags)


def test_tag_codes_refuse_unknown_labels() -> None:
    with pytest.raises(ValueError, match="unknown tag 'B-ORG'"):
        tag_codes(("O", "B-ORG"))


def test_decode_tagged_is_decode_filtered(pair: tuple[FastCRF, FastCRF]) -> None:
    segments = [
        "今天天气很好。",
        "",
        "收件人：张伟，地址：浙江省杭州市西湖区文三路90号",
        "abc",
        "王芳来了",
    ]
    for crf in pair:
        full = crf.decode(segments)
        tagged = crf.decode_tagged(segments)
        assert [i for i, _ in tagged] == [i for i, d in enumerate(full) if d.marginals is not None]
        assert 2 in [i for i, _ in tagged] and 0 not in [i for i, _ in tagged]
        for i, d in tagged:
            assert d.label_ids.tolist() == full[i].label_ids.tolist()


def test_missing_extension_is_a_clear_error(
    tagger: NameAddressTagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "leakwarden.detect.ner._crfc", None)  # import now fails
    with pytest.raises(ImportError, match=r"compiled CRF decoder .* not built: reinstall"):
        FastCRF(tagger._model, tagger._featurizer)
    # the NumPy reference needs no compiled code
    assert FastCRF(tagger._model, tagger._featurizer, backend="numpy").decode(["张伟"])


@settings(max_examples=200, deadline=None)
@given(st.lists(ALPHABET, max_size=80).map("".join))
def test_fused_emissions_bit_for_bit(pair: tuple[FastCRF, FastCRF], text: str) -> None:
    # _crfc.window_ids with the weight table (no ids array) against the NumPy sums
    compiled, reference = pair
    assert np.array_equal(compiled.emissions(text), reference.emissions(text))
