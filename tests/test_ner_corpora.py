"""Corpus readers and BIO helpers of leakwarden.detect.ner (hand-made inputs, hand-checked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leakwarden.detect.ner.corpora import (
    ADDR,
    PER,
    CorpusError,
    Example,
    Span,
    bio_tags,
    cluener_entities,
    is_held_out,
    read_cluener,
    read_cn_address,
    spans_from_tags,
    split,
)

FIXTURE = Path(__file__).parent / "fixtures" / "ner" / "data"


def test_cluener_inclusive_end_becomes_exclusive(tmp_path: Path) -> None:
    obj = {
        "text": "记者王小明在上海报道",
        "label": {
            "name": {"王小明": [[2, 4]]},
            "address": {"上海": [[6, 7]]},
            "position": {"记者": [[0, 1]]},
        },
    }
    path = tmp_path / "train.json"
    # pretty-printed objects one after another, as in the shared copy
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) * 2, encoding="utf-8")
    examples = read_cluener(path)
    assert len(examples) == 2
    assert examples[0].spans == (Span(PER, 2, 5), Span(ADDR, 6, 8))  # "position" is ignored


def test_cluener_wrong_offsets_name_file_and_line(tmp_path: Path) -> None:
    good = {"text": "张三", "label": {"name": {"张三": [[0, 1]]}}}
    bad = {"text": "李四来了", "label": {"name": {"李四": [[0, 2]]}}}  # exclusive by mistake
    path = tmp_path / "train.json"
    path.write_text(
        json.dumps(good, ensure_ascii=False) + "\n" + json.dumps(bad, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(CorpusError, match=r"train\.json:2: .*inclusive"):
        read_cluener(path)


def test_cluener_broken_json_names_line(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_text('{"text": "a", "label": {}}\n{"text": ', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"train\.json:2"):
        read_cluener(path)


def test_cn_address_whole_address_is_one_span(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text(
        "浙 B-prov\n江 I-prov\n省 I-prov\n文 B-road\n三 I-road\n路 I-road\n"
        "90 B-roadno\n号 I-roadno\n"
        "\n"
        "菜 B-person\n鸟 I-person\n",
        encoding="utf-8",
    )
    first, second = read_cn_address(path)
    assert first.text == "浙江省文三路90号"
    assert first.spans == (Span(ADDR, 0, 9),)
    assert [(p.label, p.start, p.end) for p in first.parts] == [
        ("prov", 0, 3),
        ("road", 3, 6),
        ("roadno", 6, 9),
    ]
    # the corpus' "person" is a shop name: part of the address, never a person name
    assert second.spans == (Span(ADDR, 0, 2),)


def test_cn_address_bad_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("浙 B-prov\n江I-prov\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"train\.txt:2"):
        read_cn_address(path)


def test_bio_round_trip() -> None:
    ex = Example("收件人张伟住杭州市", (Span(PER, 3, 5), Span(ADDR, 6, 9)), "t")
    tags = bio_tags(ex)
    assert tags == ["O", "O", "O", "B-PER", "I-PER", "O", "B-ADDR", "I-ADDR", "I-ADDR"]
    assert spans_from_tags(tags) == list(ex.spans)
    # a stray I- after another label opens a new span
    assert spans_from_tags(["B-PER", "I-ADDR", "O"]) == [Span(PER, 0, 1), Span(ADDR, 1, 2)]
    # B after B starts a new span; a trailing span is closed at the end
    assert spans_from_tags(["B-PER", "I-PER", "B-PER", "O", "I-ADDR", "I-ADDR"]) == [
        Span(PER, 0, 2),
        Span(PER, 2, 3),
        Span(ADDR, 4, 6),
    ]
    assert spans_from_tags([]) == []
    with pytest.raises(ValueError, match="B-LOC"):
        spans_from_tags(["O", "B-LOC"])


def test_split_is_deterministic_and_partitions() -> None:
    examples = read_cluener(FIXTURE / "cluener" / "train.json")
    train, test = split(examples, 20)
    assert len(train) + len(test) == len(examples) == 80
    assert test and train
    assert all(is_held_out(e.text, 20) for e in test)
    assert split(examples, 20) == (train, test)


def test_cluener_entities_of_other_classes(tmp_path: Path) -> None:
    obj = {
        "text": "阿里巴巴总裁马云在杭州",
        "label": {
            "company": {"阿里巴巴": [[0, 3]]},
            "position": {"总裁": [[4, 5]]},
            "name": {"马云": [[6, 7]]},
        },
    }
    path = tmp_path / "train.json"
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    got = cluener_entities(path, ("company", "position"))
    assert sorted(got) == [
        ("阿里巴巴总裁马云在杭州", "总裁"),
        ("阿里巴巴总裁马云在杭州", "阿里巴巴"),
    ]
