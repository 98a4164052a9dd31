"""``leakwarden detect``: JSON lines with character offsets, table, stdin, encodings, errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from leakwarden.cli import app

runner = CliRunner()
TEXT = "客户手机１３８１２３４５６７８，身份证11010519491231002X。\n"


def lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_jsonl_from_file(tmp_path: Path) -> None:
    path = tmp_path / "leak.txt"
    path.write_bytes(TEXT.encode("utf-8"))
    result = runner.invoke(app, ["detect", str(path), "--types", "cn_mobile,cn_resident_id"])
    assert result.exit_code == 0, result.output
    got = lines(result.stdout)
    assert [(g["type"], g["start"], g["end"], g["text"]) for g in got] == [
        ("cn_mobile", 4, 15, "１３８１２３４５６７８"),
        ("cn_resident_id", 19, 37, "11010519491231002X"),  # 15 + "，身份证"
    ]
    for g in got:
        assert set(g) == {"type", "start", "end", "text", "score"}
        assert TEXT[int(str(g["start"])) : int(str(g["end"]))] == g["text"]


def test_stdin_gbk_offsets_are_in_decoded_characters() -> None:
    text = TEXT.replace("１３８１２３４５６７８", "13812345678")
    result = runner.invoke(app, ["detect", "-", "--types", "cn_mobile"], input=text.encode("gbk"))
    assert result.exit_code == 0, result.output
    assert [(g["start"], g["end"]) for g in lines(result.stdout)] == [(4, 15)]


def test_utf16_input(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xff\xfe" + "phone\n13812345678\n".encode("utf-16-le"))
    result = runner.invoke(app, ["detect", str(path), "--types", "cn_mobile"])
    assert result.exit_code == 0, result.output
    assert [g["text"] for g in lines(result.stdout)] == ["13812345678"]


def test_json_and_table(tmp_path: Path) -> None:
    path = tmp_path / "leak.txt"
    path.write_bytes(TEXT.encode("utf-8"))
    result = runner.invoke(app, ["detect", str(path), "--format", "json", "--types", "cn_mobile"])
    assert result.exit_code == 0
    assert [g["type"] for g in json.loads(result.stdout)] == ["cn_mobile"]
    result = runner.invoke(app, ["detect", str(path), "--format", "table", "--types", "cn_mobile"])
    assert result.exit_code == 0
    assert "cn_mobile" in result.stdout and "手机号码" in result.stdout
    assert "utf-8" in result.stderr


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    result = runner.invoke(app, ["detect", str(missing)])
    assert result.exit_code == 2
    assert f"{missing}: no such file" in result.stderr


def test_unknown_type_and_format(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")
    result = runner.invoke(app, ["detect", str(path), "--types", "bogus"])
    assert result.exit_code == 2 and "bogus" in result.stderr
    result = runner.invoke(app, ["detect", str(path), "--format", "xml"])
    assert result.exit_code == 2 and "xml" in result.stderr
