"""Rewriting CSV, JSON Lines and Parquet files: values, dialects, encodings, bad values,
atomicity and idempotent re-runs.  Operators are the test doubles of ``protect_doubles``
(expected outputs worked out by hand from their one-line definitions)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakwarden.protect._cells import BadValueError, RewriteError
from leakwarden.protect.rewrite_files import manifest_path, protect_file
from leakwarden.protect.rules import Rule
from protect_doubles import factory

MOBILE = Rule("file", "*", "mobile", "mask", "cn_mobile", "fail", "test rule")


def rule(column: str, op: str = "mask", on_bad: str = "fail") -> Rule:
    return Rule("file", "*", column, op, None, on_bad, "test")  # type: ignore[arg-type]


def test_csv_protects_one_column_and_keeps_the_rest(tmp_path: Path) -> None:
    src = tmp_path / "c.csv"
    src.write_bytes(b'id,name,mobile\n1,Li,13812345678\n2,"Wang, Jr",13900001111\n')
    out = tmp_path / "out.csv"
    res = protect_file(src, [MOBILE], factory, output=out, rules_digest="r1")
    assert out.read_bytes() == (b'id,name,mobile\n1,Li,*******5678\n2,"Wang, Jr",*******1111\n')
    assert res.status == "protected" and res.rows == 2
    assert res.columns[0].protected == 2 and res.columns[0].bad == 0
    assert src.read_bytes().startswith(b"id,name,mobile\n1,Li,138")  # input untouched
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["rules_sha256"] == "r1" and manifest["rows"] == 2


def test_csv_keeps_bom_delimiter_crlf_and_quote_all(tmp_path: Path) -> None:
    src = tmp_path / "c.csv"
    body = '"id";"mobile"\r\n"1";"13812345678"\r\n'
    src.write_bytes(b"\xef\xbb\xbf" + body.encode())
    out = tmp_path / "o.csv"
    protect_file(src, [MOBILE], factory, output=out)
    assert out.read_bytes() == b'\xef\xbb\xbf"id";"mobile"\r\n"1";"*******5678"\r\n'


def test_gbk_file_stays_gbk(tmp_path: Path) -> None:
    src = tmp_path / "g.csv"
    text = "姓名,mobile,地址\n张三,13812345678,北京市朝阳区\n李四,13900001111,上海市\n"
    src.write_bytes(text.encode("gbk"))
    out = tmp_path / "o.csv"
    protect_file(src, [MOBILE], factory, output=out)
    expected = text.replace("13812345678", "*******5678").replace("13900001111", "*******1111")
    assert out.read_bytes() == expected.encode("gbk")


def test_undecodable_bytes_pass_through_other_columns_and_are_bad_in_ruled_ones(
    tmp_path: Path,
) -> None:
    src = tmp_path / "m.csv"
    # Valid UTF-8 for the first 64 KiB (what the encoding is sniffed from), then stray bytes.
    filler = "好,13812345678\n" * 5000
    src.write_bytes(
        ("note,mobile\n" + filler).encode() + b"ab\xffc,13812345678\nok,1381234\xfe678\n"
    )
    out = tmp_path / "o.csv"
    res = protect_file(src, [rule("mobile", on_bad="mask")], factory, output=out)
    # The stray 0xFF in the unruled column survives byte for byte; the protected cell with a
    # bad byte is masked, one star per character (11: 7 digits, the byte, 3 digits).
    tail = b"ab\xffc,*******5678\nok," + b"*" * 11 + b"\n"
    assert out.read_bytes().endswith(tail)
    assert res.columns[0].bad == 1 and res.columns[0].protected == 5001
    assert list(res.columns[0].bad_kinds) == ["bytes not valid in the file's encoding"]


@pytest.mark.parametrize(("policy", "cell"), [("mask", "*" * 17), ("suppress", "")])
def test_bad_value_policies(tmp_path: Path, policy: str, cell: str) -> None:
    src = tmp_path / "c.csv"
    src.write_text("id,mobile\n1,13812345678\n2,11010519491231002\n3,\n")
    out = tmp_path / "o.csv"
    res = protect_file(src, [rule("mobile", on_bad=policy)], factory, output=out)
    # An empty cell does not fit the operator either; masked or suppressed it is empty.
    assert out.read_text() == f"id,mobile\n1,*******5678\n2,{cell}\n3,\n"
    assert res.columns[0].bad == 2 and res.columns[0].protected == 1
    assert "11010519491231002" not in out.read_text()


def test_fail_policy_names_place_not_value_and_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "c.csv"
    src.write_text("id,mobile\n1,13812345678\n2,11010519491231002\n")
    out = tmp_path / "o.csv"
    out.write_text("old output\n")
    with pytest.raises(BadValueError) as info:
        protect_file(src, [rule("mobile")], factory, output=out)
    message = str(info.value)
    assert str(src) in message and "line 3" in message and "'mobile'" in message
    assert "17 characters" in message
    assert "11010519491231002" not in message
    assert out.read_text() == "old output\n"
    assert not manifest_path(out).exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_unknown_column_is_named_with_the_header(tmp_path: Path) -> None:
    src = tmp_path / "c.csv"
    src.write_text("id,phone\n1,13812345678\n")
    with pytest.raises(RewriteError, match=r"no column 'mobile'.*id, phone"):
        protect_file(src, [rule("mobile")], factory, output=tmp_path / "o.csv")


def test_operator_crash_mid_file_leaves_old_output_and_no_value(tmp_path: Path) -> None:
    src = tmp_path / "c.csv"
    src.write_text("id,mobile\n" + "".join(f"{i},138{i:08d}\n" for i in range(50_000)))
    out = tmp_path / "o.csv"
    out.write_text("previous\n")

    class Boom:
        spec, reversible, n = "mask", False, 0

        def apply(self, value: str, type_id: str | None = None) -> str:
            self.n += 1
            if self.n == 30_000:
                raise RuntimeError(f"disk on fire while handling {value}")
            return "x"

    with pytest.raises(RewriteError) as info:
        protect_file(src, [rule("mobile")], lambda s: Boom(), output=out, chunk_rows=1000)
    assert "RuntimeError" in str(info.value) and "13800029999" not in str(info.value)
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "o.csv"]


def test_killed_process_leaves_old_or_complete_output(tmp_path: Path) -> None:
    src = tmp_path / "big.csv"
    n = 200_000
    src.write_text("id,mobile\n" + "".join(f"{i},138{i:08d}\n" for i in range(n)))
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from protect_doubles import Last4
        from leakwarden.protect.rewrite_files import protect_file
        from leakwarden.protect.rules import Rule
        class Slow(Last4):
            n = 0
            def apply(self, value, type_id=None):
                self.n += 1
                if self.n % 20000 == 0:
                    time.sleep(0.05)
                return super().apply(value, type_id)
        protect_file({str(src)!r}, [Rule("file", "*", "mobile", "mask")],
                     lambda s: Slow(), output={str(out)!r}, chunk_rows=500)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until the temporary output has data in it
        tmps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        if tmps and tmps[0].stat().st_size > 100_000:
            break
        time.sleep(0.01)
    else:
        proc.kill()
        pytest.fail("the rewrite never started writing")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert out.read_text() == "old\n"  # not half a file
    # A re-run completes and gives the full output.
    protect_file(src, [rule("mobile")], factory, output=out)
    lines = out.read_text().splitlines()
    assert len(lines) == n + 1 and lines[-1] == f"{n - 1},*******{(n - 1) % 10000:04d}"


def test_rerun_is_idempotent_and_byte_identical(tmp_path: Path) -> None:
    src = tmp_path / "c.csv"
    src.write_text("id,mobile\n1,13812345678\n")
    out = tmp_path / "o.csv"
    first = protect_file(src, [MOBILE], factory, output=out, rules_digest="d")
    data = out.read_bytes()
    again = protect_file(src, [MOBILE], factory, output=out, rules_digest="d")
    assert first.status == "protected" and again.status == "unchanged"
    out.unlink()
    protect_file(src, [MOBILE], factory, output=out, rules_digest="d")
    assert out.read_bytes() == data
    # Other rules: the output is redone from the input, never from the output.
    changed = protect_file(src, [rule("mobile", "ff1:test")], factory, output=out, rules_digest="e")
    assert changed.status == "protected"
    assert out.read_text() == "id,mobile\n1,86187654321\n"


def test_in_place_rerun_does_not_protect_twice(tmp_path: Path) -> None:
    src = tmp_path / "c.csv"
    src.write_text("id,mobile\n1,13812345678\n")
    rules = [rule("mobile", "ff1:test")]
    protect_file(src, rules, factory, rules_digest="d")
    assert src.read_text() == "id,mobile\n1,86187654321\n"
    again = protect_file(src, rules, factory, rules_digest="d")
    assert again.status == "unchanged"
    assert src.read_text() == "id,mobile\n1,86187654321\n"  # Swap twice would give it back
    with pytest.raises(RewriteError, match="already the protected output"):
        protect_file(src, rules, factory, rules_digest="other")
    with pytest.raises(RewriteError, match="already the protected output"):
        protect_file(src, rules, factory, output=tmp_path / "x.csv", rules_digest="d")


def test_in_place_file_replaced_by_new_clear_data_is_protected(tmp_path: Path) -> None:
    src = tmp_path / "c.csv"
    src.write_text("id,mobile\n1,13812345678\n")
    protect_file(src, [MOBILE], factory, rules_digest="d")
    src.write_text("id,mobile\n2,13900001111\n")  # a new export over the old name
    res = protect_file(src, [MOBILE], factory, rules_digest="d")
    assert res.status == "protected" and src.read_text() == "id,mobile\n2,*******1111\n"


def test_jsonl_field_paths_and_untouched_lines(tmp_path: Path) -> None:
    src = tmp_path / "e.jsonl"
    lines = [
        '{"user": {"mobile": "13812345678"}, "items": [{"tel": 13900001111}, {"x": 1}]}\n',
        '{"other":   "kept exactly"}\n',
        "\n",
        '{"user": {"mobile": null}}\n',
    ]
    src.write_text("".join(lines))
    out = tmp_path / "o.jsonl"
    res = protect_file(
        src,
        [rule("user.mobile"), rule("items[].tel", "ff1:test")],
        factory,
        output=out,
    )
    got = out.read_text().split("\n")
    assert json.loads(got[0]) == {
        "user": {"mobile": "*******5678"},
        "items": [{"tel": "86099998888"}, {"x": 1}],
    }
    assert got[1] == '{"other":   "kept exactly"}' and got[2] == ""
    assert got[3] == '{"user": {"mobile": null}}'
    assert res.rows == 3 and res.columns[0].empty == 1


def test_jsonl_bad_line_names_line(tmp_path: Path) -> None:
    src = tmp_path / "e.jsonl"
    src.write_text('{"mobile": "13812345678"}\n{"mobile": "1381\n')
    with pytest.raises(RewriteError, match="line 2: not valid JSON"):
        protect_file(src, [rule("mobile")], factory, output=tmp_path / "o.jsonl")


def test_parquet_batches_keep_schema(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "p.parquet"
    n = 70_000
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int32()),
            "mobile": pa.array([f"138{i:08d}" for i in range(n)]),
            "tel": pa.array([13900000000 + i for i in range(n)], pa.int64()),
        },
        metadata={"origin": "test"},
    )
    pq.write_table(table, src, compression="zstd")
    out = tmp_path / "o.parquet"
    res = protect_file(
        src, [rule("mobile"), rule("tel", "ff1:test")], factory, output=out, chunk_rows=1000
    )
    got = pq.read_table(out)
    assert got.schema.field("id").type == pa.int32()
    assert got.schema.field("tel").type == pa.string()
    assert got.schema.metadata[b"origin"] == b"test"
    assert got.column("mobile")[12345].as_py() == "*******2345"
    assert got.column("tel")[5].as_py() == "86099999994"
    assert res.rows == n and any("tel: int64 written as string" in x for x in res.notes)
    assert pq.ParquetFile(out).metadata.row_group(0).column(0).compression == "ZSTD"


def test_crash_between_manifest_and_rename_is_harmless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import leakwarden.fileio

    src = tmp_path / "c.csv"
    src.write_text("id,mobile\n1,13812345678\n")
    real_replace = os.replace

    def replace(a: str, b: str) -> None:
        if Path(b) == src:  # the manifest lands, the output's rename "crashes"
            raise OSError("power cut")
        real_replace(a, b)

    monkeypatch.setattr(leakwarden.fileio.os, "replace", replace)
    with pytest.raises(OSError, match="power cut"):
        protect_file(src, [rule("mobile", "ff1:test")], factory, rules_digest="d")
    monkeypatch.undo()
    assert src.read_text() == "id,mobile\n1,13812345678\n"
    assert manifest_path(src).exists()  # claims an output that never landed
    res = protect_file(src, [rule("mobile", "ff1:test")], factory, rules_digest="d")
    assert res.status == "protected"
    assert src.read_text() == "id,mobile\n1,86187654321\n"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
            st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
        ),
        max_size=20,
    )
)
def test_other_columns_survive_any_content(rows: list[tuple[str, str]]) -> None:
    import csv
    import io
    import tempfile

    def as_csv(table: list[tuple[str, str]]) -> bytes:
        # Every field quoted: a bare CR or LF in a note is then data, not a line break.
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(table)
        return buf.getvalue().encode("utf-8")

    with tempfile.TemporaryDirectory() as folder:
        src, out = Path(folder) / "c.csv", Path(folder) / "o.csv"
        src.write_bytes(as_csv([("note", "mobile"), *rows]))
        protect_file(src, [rule("mobile")], factory, output=out)
        got = out.read_bytes()
    masked = [(note, "*******" + m[-4:]) for note, m in rows]
    assert got == as_csv([("note", "mobile"), *masked])


def test_truncated_parquet_is_a_clear_error(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "p.parquet"
    pq.write_table(pa.table({"mobile": ["13812345678"] * 10}), src)
    src.write_bytes(src.read_bytes()[:-30])  # footer damaged
    out = tmp_path / "o.parquet"
    with pytest.raises(RewriteError, match=r"p\.parquet: cannot read Parquet file"):
        protect_file(src, [rule("mobile")], factory, output=out)
    assert not out.exists()
