"""FastCRF (NumPy decoder) against crfsuite itself on the shipped model: same labels, same
marginals (within 1e-6), on hand-made edge cases and on held-out corpus sentences.

The reference is python-crfsuite's ``Tagger.tag`` / ``Tagger.marginal`` over
``Featurizer.features_many``, which is how the tagger ran before the fast decoder existed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leakwarden.detect.model import Finding
from leakwarden.detect.ner import NameAddressTagger
from leakwarden.detect.ner.corpora import (
    PER,
    iter_spans_text,
    read_cluener,
    read_cn_address,
    split,
)
from leakwarden.detect.ner.fastcrf import FastCRF, ModelFormatError, read_model
from leakwarden.detect.ner.synthetic import zh_records

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="module")
def tagger() -> NameAddressTagger:
    return NameAddressTagger.load()


@pytest.fixture(scope="module")
def fast(tagger: NameAddressTagger) -> FastCRF:
    return FastCRF(tagger._model, tagger._featurizer)


@pytest.fixture(scope="module")
def crf(tagger: NameAddressTagger) -> Any:
    import pycrfsuite

    t = pycrfsuite.Tagger()
    t.open_inmemory(tagger._model)
    return t


def _compare(
    tagger: NameAddressTagger, fast: FastCRF, crf: Any, segments: Sequence[str]
) -> tuple[int, int, float]:
    """(segments compared, label mismatches, largest marginal difference)."""
    decoded = fast.decode(segments)
    assert len(decoded) == len(segments)
    feats = tagger._featurizer.features_many(list(segments))
    mismatches = 0
    worst = 0.0
    for seg, dec, ft in zip(segments, decoded, feats, strict=True):
        ref = crf.tag(ft) if seg else []
        assert len(dec.tags) == len(seg)
        if dec.tags != ref:
            mismatches += 1
            continue
        if any(t != "O" for t in ref):
            assert dec.marginals is not None
            for i, label in enumerate(ref):
                worst = max(worst, abs(dec.marginal(label, i) - crf.marginal(label, i)))
        else:
            assert dec.marginals is None
    return len(segments), mismatches, worst


def test_model_weights_match_crfsuite_dump(tagger: NameAddressTagger, crf: Any) -> None:
    w = read_model(tagger._model)
    info = crf.info()
    assert list(w.labels) == crf.labels()
    ours = {
        (w.attributes[a], w.labels[lab]): x
        for a, lab, x in zip(
            w.state_attr.tolist(), w.state_label.tolist(), w.state_weight.tolist(), strict=True
        )
    }
    assert set(ours) == set(info.state_features)
    # the dump prints six decimals; the binary holds the exact doubles
    assert max(abs(ours[k] - v) for k, v in info.state_features.items()) <= 5e-7
    for (src, dst), v in info.transitions.items():
        assert abs(w.transitions[w.labels.index(src), w.labels.index(dst)] - v) <= 5e-7


def test_not_a_model_is_refused() -> None:
    with pytest.raises(ModelFormatError, match="lCRF"):
        read_model(b"not a model at all, just some bytes padded out to length 48........")


def test_hand_made_segments(tagger: NameAddressTagger, fast: FastCRF, crf: Any) -> None:
    long_line = "，".join(
        f"收件人：{n}，电话1380013800{i % 10}，地址：浙江省杭州市西湖区文三路{i}号"
        for i, n in enumerate(["张伟", "王芳", "欧阳娜娜", "李秀英"] * 40)
    )
    segments = [
        "",
        "中",
        "a",
        "hello world, no Chinese here at all",
        "收件人：张伟，电话13812345678，地址：浙江省杭州市西湖区文三路90号",
        "上周李娜从广州市天河区体育西路103号搬走了。",
        "欧阳娜娜和司马光住在北京市海淀区中关村大街27号",
        "𠀀𠀁张伟住在𠀂上海市浦东新区世纪大道100号",  # characters beyond the BMP
        "\x02张伟\x03住\x02\x03在上海市",  # the featurizer's own padding characters in the text
        "ＡＢＣ１２３张伟ａｂｃ　北京市朝阳区",  # full-width forms
        "张\x00伟住在\x00北京市",  # crfsuite cuts attribute strings at NUL
        "\x00\x00b张伟b\x00住在北京市\x00",
        "",
        long_line,  # ~6,500 characters, far longer than any other: its own bucket
    ]
    assert len(long_line) > 5000
    count, mismatches, worst = _compare(tagger, fast, crf, segments)
    assert (count, mismatches) == (len(segments), 0)
    assert worst < 1e-6


def test_empty_batch(fast: FastCRF) -> None:
    assert fast.decode([]) == []
    (only,) = fast.decode([""])
    assert only.tags == [] and only.marginals is None


def test_marginals_sum_to_one_and_outside_has_none(
    tagger: NameAddressTagger, fast: FastCRF, crf: Any
) -> None:
    plain = "今天天气很好。"
    assert crf.tag(tagger._featurizer.features(plain)) == ["O"] * 7  # the reference's answer
    found, none = fast.decode(["收件人：张伟，地址：浙江省杭州市西湖区文三路90号", plain])
    assert found.marginals is not None
    assert np.allclose(found.marginals.sum(axis=1), 1.0)
    assert none.tags == ["O"] * 7 and none.marginals is None
    with pytest.raises(ValueError, match="non-O"):
        none.marginal("O", 0)


def _held_out_segments() -> list[str]:
    cluener = read_cluener(DATA / "cluener" / "train.json")
    addresses = read_cn_address(DATA / "cn-address" / "train.txt")
    _, cl_test = split(cluener)
    _, ad_test = split(addresses)
    names = sorted(set(iter_spans_text(cl_test, PER)))
    addr_texts = [e.text for e in ad_test]
    synthetic = zh_records(800, 7, lambda rng: rng.choice(names), addr_texts)
    segments = [e.text for e in cl_test] + addr_texts + [e.text for e in synthetic]
    random.Random(3).shuffle(segments)
    return segments


@pytest.mark.skipif(
    not (DATA / "cluener" / "train.json").is_file()
    or not (DATA / "cn-address" / "train.txt").is_file(),
    reason="../shared/data (CLUENER, cn-address) is absent: corpus equality not checked",
)
def test_held_out_corpora_equal_crfsuite(
    tagger: NameAddressTagger, fast: FastCRF, crf: Any
) -> None:
    segments = _held_out_segments()
    assert len(segments) > 2500
    count = mismatches = 0
    worst = 0.0
    for i in range(0, len(segments), 400):  # batches of mixed lengths, as the tagger sends them
        c, m, w = _compare(tagger, fast, crf, segments[i : i + 400])
        count, mismatches, worst = count + c, mismatches + m, max(worst, w)
    assert mismatches == 0, f"{mismatches} of {count} segments labelled differently"
    assert worst < 1e-6


def _same_findings(a: Sequence[Finding], b: Sequence[Finding]) -> None:
    assert [(f.type, f.start, f.end, f.text) for f in a] == [
        (f.type, f.start, f.end, f.text) for f in b
    ]
    assert all(abs(x.score - y.score) < 1e-6 for x, y in zip(a, b, strict=True))


def test_tagger_uses_the_fast_decoder_and_agrees_with_crfsuite(tagger: NameAddressTagger) -> None:
    assert tagger._fast is not None  # the default
    slow = NameAddressTagger(tagger._model, tagger._featurizer, tagger._latin, fast=False)
    assert slow._fast is None
    text = (
        "收件人：张伟，电话13812345678，地址：浙江省杭州市西湖区文三路90号\n"
        "hello world\n上周李娜从广州市天河区体育西路103号搬走了。患者孙丽华，女，42岁。"
        + "联系人：欧阳娜娜；详细地址：北京市海淀区中关村大街27号；"
        * 300  # > one batch
    )
    found = tagger.tag_cjk(text)
    assert len(found) > 600
    _same_findings(found, slow.tag_cjk(text))
    assert tagger.tag_cjk("") == [] and tagger.tag_cjk("no CJK at all") == []


@pytest.mark.skipif(
    not (DATA / "cluener" / "train.json").is_file()
    or not (DATA / "cn-address" / "train.txt").is_file(),
    reason="../shared/data (CLUENER, cn-address) is absent: corpus equality not checked",
)
def test_tagger_findings_on_held_out_document(tagger: NameAddressTagger) -> None:
    slow = NameAddressTagger(tagger._model, tagger._featurizer, tagger._latin, fast=False)
    text = "\n".join(_held_out_segments())
    found = tagger.tag_cjk(text)
    assert len(found) > 2000
    _same_findings(found, slow.tag_cjk(text))


def test_gazetteer_marks_equal_the_featurizers(tagger: NameAddressTagger, fast: FastCRF) -> None:
    fz = tagger._featurizer
    texts = [
        "",
        "市",
        "浙江省湖州市长兴县吕山乡捷凯实业有限公司",
        "浙江省宁波市鄞州区鄞州经济开发区启航南路1104号鄞州区瞻歧镇",
        "𠀀杭州市𠀁西湖区",
        "北京市北京市北京市朝阳区朝阳区",
        "no places here",
    ]
    assert "BE" in fast.gazetteer_marks(texts[2])  # the hand cases do reach the gazetteer
    for text in texts:
        assert fast.gazetteer_marks(text) == fz._gazetteer_marks(text), text
    if (DATA / "cn-address" / "train.txt").is_file():
        for ex in read_cn_address(DATA / "cn-address" / "train.txt")[:3000]:
            assert fast.gazetteer_marks(ex.text) == fz._gazetteer_marks(ex.text), ex.text


def _brute_force(
    e: np.ndarray, trans: np.ndarray
) -> tuple[list[int], np.ndarray]:  # (best path, (T, L) marginals) over all L**T paths
    import itertools

    t_max, n_labels = e.shape
    scores = {}
    for path in itertools.product(range(n_labels), repeat=t_max):
        s = sum(e[t, y] for t, y in enumerate(path))
        s += sum(trans[a, b] for a, b in itertools.pairwise(path))
        scores[path] = s
    best = max(scores, key=lambda p: scores[p])
    top = max(scores.values())
    z = sum(np.exp(v - top) for v in scores.values())
    marg = np.zeros((t_max, n_labels))
    for path, v in scores.items():
        for t, y in enumerate(path):
            marg[t, y] += np.exp(v - top) / z
    return list(best), marg


@pytest.mark.parametrize("scale", [1.0, 40.0])
def test_forward_backward_against_brute_force(fast: FastCRF, scale: float) -> None:
    """Every path of short random segments enumerated: best path and marginals, including
    emission scores large enough to need the overflow-safe rescaling."""
    rng = np.random.default_rng(11)
    lens = np.array([4, 1, 3, 4, 2])
    n_labels = len(fast.labels)
    e = rng.normal(size=(4, n_labels, len(lens))) * scale  # (T, L, B) as the decoder lays out
    for renorm in (1, fast._renorm):
        labels, margs = fast._forward_backward(e.copy(), lens, renorm)
        assert margs is not None
        for row, n in enumerate(lens.tolist()):
            best, marg = _brute_force(e[:n, :, row], fast._trans)
            assert labels[row, :n].tolist() == best
            assert np.allclose(margs[:n, :, row], marg, atol=1e-9)


def test_truncated_model_is_refused(tagger: NameAddressTagger) -> None:
    with pytest.raises(ModelFormatError):
        read_model(tagger._model[: len(tagger._model) // 2])


def test_tagger_falls_back_to_crfsuite_when_tables_cannot_be_built(
    tagger: NameAddressTagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import leakwarden.detect.ner.tagger as tagger_module

    def refuse(*_: object) -> FastCRF:
        raise ModelFormatError("simulated: attribute matches no template")

    monkeypatch.setattr(tagger_module, "FastCRF", refuse)
    fallback = NameAddressTagger(tagger._model, tagger._featurizer, tagger._latin)
    assert fallback._fast is None
    text = "收件人：张伟，地址：浙江省杭州市西湖区文三路90号"
    _same_findings(fallback.tag(text), tagger.tag(text))


def test_attribute_prefixes_that_look_alike() -> None:
    from leakwarden.detect.ner.fastcrf import TEMPLATES, _attribute_key

    def template(attr: str) -> str | None:
        key = _attribute_key(attr)
        return None if key is None else TEMPLATES[key >> 44][0]

    assert template("lb") == "l"  # the left neighbour is the letter b
    assert template("lb张三") == "lb"  # the bigram left of the character
    assert template("rb") == "r" and template("RB张三") == "RB" and template("cb") == "c"
    assert template("KHHHHH") == "K" and template("m--xO") == "m"
    assert template("lb张") is None and template("q1") is None and template("KHHH中H") is None
