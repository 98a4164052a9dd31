"""NameAddressTagger with the model shipped in the package: hand-written sentences whose spans were
counted by hand, offset invariants, empty/non-CJK input, resource loading."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakwarden.detect.model import Finding
from leakwarden.detect.ner import NameAddressTagger
from leakwarden.detect.ner.resources import ALL_FILES, ResourceError


@pytest.fixture(scope="module")
def tagger() -> NameAddressTagger:
    return NameAddressTagger.load()


def _spans(found: list[Finding]) -> list[tuple[str, int, int]]:
    return [(f.type, f.start, f.end) for f in found]


def test_model_files_ship_with_the_package() -> None:
    models = resources.files("leakwarden.detect.ner") / "models"
    for name in ALL_FILES:
        assert (models / name).is_file(), name
    assert NameAddressTagger.load() is NameAddressTagger.load()  # cached


def test_customer_record(tagger: NameAddressTagger) -> None:
    text = "收件人：张伟，电话13812345678，地址：浙江省杭州市西湖区文三路90号"
    # 收件人：=0..3, 张伟=4..5, ，电话=6..8, 11 digits=9..19, ，地址：=20..23, address=24..38
    assert _spans(tagger.tag(text)) == [("person_name", 4, 6), ("address", 24, 39)]


def test_log_line(tagger: NameAddressTagger) -> None:
    text = "2024-03-01 INFO consignee=李秀英 addr=广东省深圳市南山区科技园南路15号"
    found = tagger.tag(text)
    assert [(f.type, f.text) for f in found] == [
        ("person_name", "李秀英"),
        ("address", "广东省深圳市南山区科技园南路15号"),
    ]
    assert found[0].start == 26 and found[1].start == 35


def test_sentences_with_name_and_address(tagger: NameAddressTagger) -> None:
    # phrasings that are not among the synthetic training templates
    text = "上周李娜从广州市天河区体育西路103号搬走了。"
    assert _spans(tagger.tag(text)) == [("person_name", 2, 4), ("address", 5, 19)]
    text = "患者孙丽华，女，42岁，现住河南省郑州市金水区花园路38号。"
    assert [(f.type, f.text) for f in tagger.tag(text)] == [
        ("person_name", "孙丽华"),
        ("address", "河南省郑州市金水区花园路38号"),
    ]
    text = "请把发票寄给陈静，地址是湖北省武汉市洪山区珞喻路1037号。"
    assert [(f.type, f.text) for f in tagger.tag(text)] == [
        ("person_name", "陈静"),
        ("address", "湖北省武汉市洪山区珞喻路1037号"),
    ]


def test_csv_line_and_compound_surname(tagger: NameAddressTagger) -> None:
    text = "欧阳娜娜,13900001111,上海市浦东新区张江路100弄5号601室"
    assert [(f.type, f.text) for f in tagger.tag(text)] == [
        ("person_name", "欧阳娜娜"),
        ("address", "上海市浦东新区张江路100弄5号601室"),
    ]


def test_mixed_scripts_in_one_text(tagger: NameAddressTagger) -> None:
    text = "Customer John Smith lives at 123 Main St, Springfield, IL 62704\n收件人：刘洋"
    types = [(f.type, f.text) for f in tagger.tag(text)]
    assert types == [
        ("person_name", "John Smith"),
        ("address", "123 Main St, Springfield, IL 62704"),
        ("person_name", "刘洋"),
    ]


def test_plain_text_without_personal_information(tagger: NameAddressTagger) -> None:
    assert tagger.tag("") == []
    assert tagger.tag("ERROR 2024-01-01 connection timeout after 30s, retrying") == []
    assert tagger.tag("系统将于今晚23:00进行维护，请提前保存数据。") == []
    # lone company names, as in a table cell, are not addresses
    assert tagger.tag("阿里巴巴") == []
    assert tagger.tag("华为技术有限公司") == []


def test_scores_are_probabilities(tagger: NameAddressTagger) -> None:
    for f in tagger.tag("收件人：张伟，地址：浙江省杭州市西湖区文三路90号"):
        assert 0.0 < f.score <= 1.0


def test_long_line_without_sentence_breaks(tagger: NameAddressTagger) -> None:
    text = ("收件人张伟地址浙江省杭州市西湖区文三路90号" + "，备注" * 300) * 3
    found = tagger.tag(text)
    assert found
    for f in found:
        assert text[f.start : f.end] == f.text


_ALPHABET = st.sampled_from(
    list("张王李伟秀英省市区路号浙江杭州的了，。：\n\t ")
    + list("abcXYZ0123456789-,:")
    + ["😀", "𠀋"]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_ALPHABET, max_size=80).map("".join))
def test_offsets_always_slice_the_text(text: str) -> None:
    found = NameAddressTagger.load().tag(text)
    previous_end = 0
    for f in found:
        assert text[f.start : f.end] == f.text
        assert f.text.strip() == f.text and f.text
        assert f.start >= previous_end  # sorted, never overlapping
        previous_end = f.end
        assert f.type in ("person_name", "address")


def test_missing_resource_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match=r"zh_ner\.crfsuite"):
        NameAddressTagger.from_directory(tmp_path)


def test_many_lines_are_tagged_in_batches_with_right_offsets(tagger: NameAddressTagger) -> None:
    line = "收件人：张伟，地址：浙江省杭州市西湖区文三路90号"
    text = "\n".join([line] * 2000)  # about 52k characters: several feature batches
    found = tagger.tag(text)
    assert len(found) == 4000
    stride = len(line) + 1
    assert found[-2].start == 1999 * stride + 4 and found[-2].text == "张伟"
    assert found[-1].text == "浙江省杭州市西湖区文三路90号"
