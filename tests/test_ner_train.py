"""The training/evaluation tool end to end on a tiny slice of the corpora (tests/fixtures/ner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leakwarden.detect.ner import NameAddressTagger
from leakwarden.detect.ner.resources import ALL_FILES
from leakwarden.detect.ner.train import main

FIXTURE = Path(__file__).parent / "fixtures" / "ner" / "data"


def test_train_tool_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "models"
    metrics = tmp_path / "metrics.json"
    argv = [
        "--data",
        str(FIXTURE),
        "--out",
        str(out),
        "--metrics",
        str(metrics),
        "--iterations",
        "15",
        "--synthetic",
        "150",
        "--latin-eval",
        "40",
        "--test-percent",
        "20",
    ]
    assert main(argv) == 0
    for name in ALL_FILES:
        assert (out / name).stat().st_size > 0, name
    report = json.loads(metrics.read_text())
    split = report["split"]
    assert split["cluener_train"] + split["cluener_test"] == 80
    assert split["cn_address_train"] + split["cn_address_test"] == 80
    for set_name in ("cluener_test", "cn_address_test", "synthetic_zh_test", "synthetic_en_US"):
        for type_name in ("person_name", "address"):
            m = report["evaluation"][set_name][type_name]
            assert 0.0 <= m["precision"] <= 1.0 and 0.0 <= m["recall"] <= 1.0
    # bare addresses are the easiest thing to learn, even from 64 of them
    assert report["evaluation"]["cn_address_test"]["address"]["recall"] > 0.3
    # the written model is usable by the tagger
    tagger = NameAddressTagger.from_directory(out)
    assert isinstance(tagger.tag("收件人：张伟，地址：浙江省杭州市西湖区文三路90号"), list)


def test_missing_data_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path), "--out", str(tmp_path / "m")])
    assert "cluener/train.json not found" in capsys.readouterr().err
