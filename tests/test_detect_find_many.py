"""``Detector.find_many`` and ``NameAddressTagger.tag_many``: the same findings as one call per
text, whatever the mix of texts (empty ones, CJK-free ones, ones longer than a decode batch)."""

from __future__ import annotations

import random

import pytest

from leakwarden.detect.engine import Detector, default_detector, tagger_available
from leakwarden.detect.model import Finding

pytestmark = pytest.mark.skipif(not tagger_available(), reason="name/address model absent")

LINES = [
    "收件人：张伟，电话13812345678，地址：浙江省杭州市西湖区文三路90号",
    "客户：身份证11010519491231002X，姓名王芳。",
    "Ship to 123 Main St, Apt 4, Springfield, IL 62704, attn Mr. John Smith",
    "card 6222 0212 3456 7890 128 expires soon; email zhang.wei@example.com",
    "上周李娜从广州市天河区体育西路103号搬走了。",
    "hello world, nothing here",
    "",
    "联系人：欧阳娜娜；详细地址：北京市海淀区中关村大街27号；",
]


def _key(found: list[Finding]) -> list[tuple[str, int, int, str, float]]:
    return [(f.type, f.start, f.end, f.text, round(f.score, 12)) for f in found]


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["\n".join(rng.choices(LINES, k=rng.randint(0, 60))) for _ in range(count)]


def test_find_many_equals_find_one_by_one() -> None:
    detector = default_detector()
    texts = [*_texts(1, 40), "", "no CJK at all, 13812345678", LINES[0] * 400]  # > one batch
    many = detector.find_many(texts)
    assert len(many) == len(texts)
    assert sum(len(f) for f in many) > 500
    assert {f.type for doc in many for f in doc} >= {"person_name", "address", "cn_mobile"}
    for text, found in zip(texts, many, strict=True):
        assert _key(found) == _key(detector.find(text))


def test_find_many_without_tagger_and_empty_list() -> None:
    detector = Detector(use_ner=False)
    texts = _texts(2, 10)
    assert [_key(f) for f in detector.find_many(texts)] == [_key(detector.find(t)) for t in texts]
    assert detector.find_many([]) == []


def test_tag_many_equals_tag() -> None:
    from leakwarden.detect.ner import NameAddressTagger

    tagger = NameAddressTagger.load()
    texts = _texts(3, 30)
    assert [_key(f) for f in tagger.tag_many(texts)] == [_key(tagger.tag(t)) for t in texts]
