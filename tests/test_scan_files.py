"""Each file format is read and classified, and each kind of bad input becomes a problem with a
position while the rest of the scan goes on.  Files are written here in real encodings and real
gzip / Parquet / XLSX containers; the detector is the fake of scan_fakes."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pytest

from leakwarden.scan.scanner import ScanReport, scan_sources
from leakwarden.scan.tasks import ScanOptions
from scan_fakes import FAKE_TYPES, MOBILES, VALID_IDS, FakeDetector


def scan(*targets: Path | str, **options: object) -> ScanReport:
    return scan_sources(
        [str(t) for t in targets],
        ScanOptions(**options),  # type: ignore[arg-type]
        detector=FakeDetector(),
        types=FAKE_TYPES,
    )


def found(report: ScanReport) -> set[tuple[str, str, str]]:
    return {(e.location.container, e.location.field, e.pi_type) for e in report.entries}


def problems(report: ScanReport) -> list[tuple[str, str, str]]:
    return [(p.location.container, p.problem, p.position) for p in report.problems]


def _csv_rows(n: int = 20) -> list[list[str]]:
    return [
        [str(i), f"客户{i}", MOBILES[i % 4], VALID_IDS[i % 4], f"u{i}@example.com"]
        for i in range(n)
    ]


def write_csv(path: Path, header: list[str], rows: list[list[str]], sep: str, enc: str) -> None:
    text = "\n".join(sep.join(r) for r in [header, *rows]) + "\n"
    path.write_bytes(text.encode(enc))


@pytest.mark.parametrize(
    ("name", "sep", "encoding"),
    [
        ("utf8bom.csv", ",", "utf-8-sig"),
        ("gbk.csv", ",", "gbk"),
        ("gb18030.csv", ";", "gb18030"),
        ("utf16.tsv", "\t", "utf-16"),
        ("semicolon.txt.csv", ";", "utf-8"),
    ],
)
def test_csv_encodings_and_delimiters(tmp_path: Path, name: str, sep: str, encoding: str) -> None:
    path = tmp_path / name
    write_csv(path, ["编号", "姓名", "手机号", "身份证号", "邮箱"], _csv_rows(), sep, encoding)
    report = scan(path)
    assert problems(report) == []
    assert found(report) == {
        (name, "手机号", "cn_mobile"),
        (name, "身份证号", "cn_resident_id"),
        (name, "邮箱", "email"),
    }
    phone = next(e for e in report.entries if e.pi_type == "cn_mobile")
    assert phone.evidence["header_hint"] == "手机号"
    assert phone.evidence["sampled"] == 20
    assert phone.sensitivity == "personal"
    ident = next(e for e in report.entries if e.pi_type == "cn_resident_id")
    assert ident.sensitivity == "sensitive"


def test_csv_without_header_row(tmp_path: Path) -> None:
    path = tmp_path / "noheader.csv"
    path.write_text("\n".join(f"{i},{MOBILES[i % 4]}" for i in range(10)) + "\n")
    assert found(scan(path)) == {("noheader.csv", "column 2", "cn_mobile")}


def test_sampling_stops_reading_early(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    write_csv(path, ["id", "phone"], [[str(i), MOBILES[i % 4]] for i in range(5000)], ",", "utf-8")
    report = scan(path, sample=100)
    entry = report.entries[0]
    assert entry.evidence["sampled"] == 100
    assert entry.rows_scanned < 500
    full = scan(path, sample=100, full=True)
    assert full.entries[0].evidence["sampled"] == 5000
    assert full.entries[0].rows_total == 5000


def test_json_document_with_nested_paths(tmp_path: Path) -> None:
    records = [
        {
            "user": {"phone": int(MOBILES[i % 4]), "name": "x"},
            "items": [{"addr": "somewhere", "contact": VALID_IDS[i % 4]}],
            "ok": True,
            "note": None,
        }
        for i in range(12)
    ]
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(records, indent=2))
    report = scan(path)
    assert problems(report) == []
    assert found(report) == {
        ("orders.json", "user.phone", "cn_mobile"),
        ("orders.json", "items[].contact", "cn_resident_id"),
    }


def test_jsonl_with_a_broken_line(tmp_path: Path) -> None:
    lines = [json.dumps({"mobile": MOBILES[i % 4], "i": i}) for i in range(10)]
    lines.insert(4, '{"mobile": "13800000000", broken')
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = scan(path)
    assert found(report) == {("events.jsonl", "mobile", "cn_mobile")}
    assert report.entries[0].evidence["sampled"] == 10
    [(container, problem, position)] = problems(report)
    assert container == "events.jsonl"
    assert "JSON syntax error" in problem
    assert position == "line 5"


def test_parquet_by_batches(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "cust_id": list(range(3000)),
            "remark": [MOBILES[i % 4] for i in range(3000)],
            "ident": [VALID_IDS[i % 4] for i in range(3000)],
        }
    )
    path = tmp_path / "customers.parquet"
    pq.write_table(table, path, row_group_size=500)
    report = scan(path, sample=200)
    assert found(report) == {
        ("customers.parquet", "remark", "cn_mobile"),
        ("customers.parquet", "ident", "cn_resident_id"),
    }
    assert all(e.rows_total == 3000 for e in report.entries)
    assert all(e.evidence["sampled"] == 200 for e in report.entries)


def test_xlsx_each_sheet(tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户"
    ws.append(["姓名", "联系手机"])
    for i in range(8):
        ws.append([f"客户{i}", int(MOBILES[i % 4])])  # a numeric cell, as Excel stores it
    ws2 = wb.create_sheet("staff")
    ws2.append(["name", "email"])
    for i in range(8):
        ws2.append([f"e{i}", f"e{i}@corp.example.com"])
    path = tmp_path / "export.xlsx"
    wb.save(path)
    assert found(scan(path)) == {
        ("export.xlsx", "客户!联系手机", "cn_mobile"),
        ("export.xlsx", "staff!email", "email"),
    }


def test_log_text_and_gzip_tree(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "app").mkdir(parents=True)
    log = "".join(
        f"2024-05-01 12:00:{i:02d} INFO order {i} placed by {MOBILES[i % 4]}\n" for i in range(50)
    )
    (logs / "app" / "app.log").write_text(log)
    with gzip.open(logs / "app" / "app.log.1.gz", "wt", encoding="utf-8") as f:
        f.write(log.replace("placed by", "id") + f"kyc ok {VALID_IDS[0]}\n")
    report = scan(logs)
    assert problems(report) == []
    assert found(report) == {
        ("app/app.log", "", "cn_mobile"),
        ("app/app.log.1.gz", "", "cn_mobile"),
        ("app/app.log.1.gz", "", "cn_resident_id"),
    }
    entry = next(e for e in report.entries if e.location.container == "app/app.log")
    assert entry.evidence["matched"] == 50
    assert entry.evidence["sampled"] == 50  # lines
    assert report.results[0].containers_scanned == 2


def test_long_log_line_read_in_bounded_chunks(tmp_path: Path) -> None:
    # One 1 MB line read in 16 KiB blocks: matches that straddle block joins are all found.
    unit = f"x{MOBILES[0]}y "
    path = tmp_path / "one_line.log"
    path.write_text(unit * (1_000_000 // len(unit)))
    report = scan(path, block_bytes=16384)
    assert report.entries[0].evidence["matched"] == 1_000_000 // len(unit)


# ---- bad input ---------------------------------------------------------------------------------


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    data = gzip.compress(
        "".join(f"call {MOBILES[i % 4]}\n" for i in range(20_000)).encode(), mtime=0
    )
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[: len(data) // 2])
    good = tmp_path / "good.csv"
    write_csv(good, ["phone"], [[m] for m in MOBILES], ",", "utf-8")
    report = scan(tmp_path, block_bytes=4096)
    [(container, problem, position)] = problems(report)
    assert container == "cut.log.gz"
    assert problem.startswith("truncated gzip")
    assert position.startswith("byte ") and "decompressed" in position
    assert ("cut.log.gz", "", "cn_mobile") in found(report)  # the part before the cut counts
    assert ("good.csv", "phone", "cn_mobile") in found(report)


def test_broken_csv_quoting_reports_line_and_continues(tmp_path: Path) -> None:
    rows = [f"{i},{MOBILES[i % 4]},ok" for i in range(10)]
    rows[3] = '3,"13800001111"trailing,bad'
    path = tmp_path / "quotes.csv"
    path.write_text("id,phone,status\n" + "\n".join(rows) + "\n")
    report = scan(path)
    [(container, problem, position)] = problems(report)
    assert (container, position) == ("quotes.csv", "line 5")
    assert "CSV parse error" in problem
    assert report.entries[0].evidence["sampled"] == 9


def test_overlong_csv_line_is_a_problem_not_a_memory_spike(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    body = [f"{i},{MOBILES[i % 4]}" for i in range(6)]
    body[2] = "2," + "9" * 200_000
    path.write_text("id,phone\n" + "\n".join(body) + "\n")
    report = scan(path, max_line=10_000, block_bytes=8192)
    [(container, problem, position)] = problems(report)
    assert (container, position) == ("wide.csv", "line 4")
    assert "field size limit" in problem
    assert report.entries[0].evidence["sampled"] == 5


def test_binary_and_unsupported_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 10)
    (tmp_path / "image.dat").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100))
    (tmp_path / "archive.zip").write_bytes(b"PK\x03\x04" + bytes(50))
    (tmp_path / "ok.log").write_text(f"user {MOBILES[0]}\n")
    report = scan(tmp_path)
    listed = {c: (p, pos) for c, p, pos in problems(report)}
    assert set(listed) == {"blob.bin", "image.dat", "archive.zip"}
    assert listed["blob.bin"][0].startswith("skipped: binary file")
    assert listed["blob.bin"][1] == "byte 0"
    assert "zip" in listed["archive.zip"][0]
    assert found(report) == {("ok.log", "", "cn_mobile")}


def test_undecodable_bytes_named_by_offset(tmp_path: Path) -> None:
    head = ("订单已发货，" * 5000).encode()  # 90,000 bytes of UTF-8, past the sniffing window
    path = tmp_path / "mixed.log"
    path.write_bytes(head + b"\xff\xfe bad\n" + f"call {MOBILES[0]}\n".encode())
    report = scan(path, block_bytes=4096)
    [(container, problem, position)] = problems(report)
    assert container == "mixed.log"
    assert "not valid utf-8" in problem
    assert position == f"byte {len(head)}"
    assert ("mixed.log", "", "cn_mobile") in found(report)  # decoding went on after the bad byte


def test_missing_path_is_unreadable(tmp_path: Path) -> None:
    report = scan(tmp_path / "nope")
    assert report.unreadable == [str(tmp_path / "nope")]
    assert problems(report) == [("", "no such file or directory", "")]


def test_unreadable_file_in_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import errno
    import io
    import os

    secret = tmp_path / "secret.csv"
    secret.write_text("phone\n13812345678\n")
    secret.chmod(0)
    if os.geteuid() == 0:
        # Root reads every file whatever its mode (CI runs as root): make the kernel's answer
        # for this one file what an ordinary user gets, EACCES, at every way of opening it.
        def denied(file: object, *args: object, **kwargs: object) -> object:
            if os.fspath(file) == str(secret):  # type: ignore[arg-type]
                raise PermissionError(errno.EACCES, "Permission denied", str(secret))
            return real_open(file, *args, **kwargs)

        real_open = builtins.open
        monkeypatch.setattr(builtins, "open", denied)
        monkeypatch.setattr(io, "open", denied)
    report = scan(tmp_path)
    assert [c for c, _, _ in problems(report)] == ["secret.csv"]


def test_gzipped_parquet_and_truncated_gzipped_xlsx(tmp_path: Path) -> None:
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"mobile": list(MOBILES) * 3}), tmp_path / "p.parquet")
    (tmp_path / "p.parquet.gz").write_bytes(gzip.compress((tmp_path / "p.parquet").read_bytes()))
    (tmp_path / "p.parquet").unlink()
    wb = openpyxl.Workbook()
    wb.active.append(["phone"])
    for m in MOBILES:
        wb.active.append([m])
    wb.save(tmp_path / "x.xlsx")
    packed = gzip.compress((tmp_path / "x.xlsx").read_bytes())
    (tmp_path / "x.xlsx.gz").write_bytes(packed[: len(packed) - 40])
    (tmp_path / "x.xlsx").unlink()
    report = scan(tmp_path)
    assert found(report) == {("p.parquet.gz", "mobile", "cn_mobile")}
    [(container, problem, position)] = problems(report)
    assert container == "x.xlsx.gz"
    assert "truncated or corrupt gzip" in problem and position.startswith("byte ")


def test_unclosed_quote_names_the_lines_it_swallowed(tmp_path: Path) -> None:
    rows = [f"{i},{MOBILES[i % 4]}" for i in range(8)]
    rows[5] = '5,"13800001111'  # the quote never closes: the rest of the file is one field
    path = tmp_path / "open_quote.csv"
    path.write_text("id,phone\n" + "\n".join(rows) + "\n")
    report = scan(path)
    [(container, problem, position)] = problems(report)
    assert (container, position) == ("open_quote.csv", "lines 7-9")
    assert "CSV parse error" in problem
    assert report.entries[0].evidence["sampled"] == 5


@pytest.mark.parametrize("seed", range(5))
def test_line_ranges_read_every_line_once(seed: int) -> None:
    import io
    import random

    from leakwarden.scan.textio import LineRange

    rnd = random.Random(seed)
    for _ in range(60):
        lines = [b"x" * rnd.randint(0, 30) + b"\n" for _ in range(rnd.randint(0, 40))]
        data = b"".join(lines) + (b"tail" if rnd.random() < 0.5 else b"")
        step = rnd.randint(1, 50)
        bounds = [*range(0, len(data), step), len(data)]
        out = b""
        for a, b in itertools.pairwise(bounds):
            reader = LineRange(io.BytesIO(data), a, b, block=rnd.randint(1, 16))
            while chunk := reader.read(rnd.randint(1, 16)):
                assert reader.offset == 0 or data[reader.offset - 1] == 0x0A
                out += chunk
        assert out == data


def test_big_log_split_across_a_local_cluster_equals_one_pass(tmp_path: Path) -> None:
    log = "".join(
        f"2024-05-01 req {i} from {MOBILES[i % 4]} kyc {VALID_IDS[i % 4]} 状态正常\n"
        for i in range(300)
    )
    (tmp_path / "big.log").write_text(log + "no newline at the end " + MOBILES[0])
    options = {"split_bytes": 997, "block_bytes": 256}
    from leakwarden.scan.files import split_file_task
    from leakwarden.scan.tasks import FileTask

    parts = split_file_task(
        FileTask(str(tmp_path), str(tmp_path / "big.log"), "big.log"),
        ScanOptions(split_bytes=997),
    )
    assert len(parts) > 20
    here = scan(tmp_path, **options)
    there = scan_sources(
        [str(tmp_path)],
        ScanOptions(**options),  # type: ignore[arg-type]
        detector=FakeDetector(),
        types=FAKE_TYPES,
        cluster="local",
        workers=2,
        processes=False,
    )

    def figures(report: ScanReport) -> list[tuple[object, ...]]:
        return [
            (e.location.container, e.pi_type, e.evidence["sampled"], e.evidence["matched"])
            for e in report.entries
        ]

    assert (
        figures(there)
        == figures(here)
        == [
            ("big.log", "cn_mobile", 301, 301),
            ("big.log", "cn_resident_id", 301, 300),
        ]
    )
    assert there.results[0].bytes_scanned == here.results[0].bytes_scanned
    assert there.results[0].containers == ["big.log"]


def test_sample_is_spread_over_a_big_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import leakwarden.scan.files as files

    # The first 5,000 rows have no phone; a head-only sample of 500 rows would miss the column.
    rows = [
        [str(i), "", "ok"] if i < 5000 else [str(i), MOBILES[i % 4], "ok"] for i in range(20000)
    ]
    path = tmp_path / "late.csv"
    write_csv(path, ["id", "phone", "status"], rows, ",", "utf-8")
    monkeypatch.setattr(files, "SPREAD_MIN_BYTES", 1 << 30)
    assert found(scan(path, sample=100, block_bytes=4096)) == set()
    monkeypatch.setattr(files, "SPREAD_MIN_BYTES", 0)
    report = scan(path, sample=100, block_bytes=4096)
    assert found(report) == {("late.csv", "phone", "cn_mobile")}
    entry = report.entries[0]
    assert 40 <= entry.evidence["sampled"] <= 64  # 16 places x up to 4 rows, from the spread part
    assert report.problems == []


def test_special_files_and_folder_links_are_reported(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.log").write_text(f"tel {MOBILES[0]}\n")
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    report = scan(tmp_path)
    listed = {c: p for c, p, _ in problems(report)}
    assert set(listed) == {"pipe", "link"}
    assert "not a regular file" in listed["pipe"]
    assert "symbolic link" in listed["link"]
    assert found(report) == {("real/a.log", "", "cn_mobile")}


def test_full_scan_of_json_lines_split_across_a_local_cluster(tmp_path: Path) -> None:
    lines = [json.dumps({"uid": i, "contact": {"mobile": MOBILES[i % 4]}}) for i in range(300)]
    lines[150] = '{"uid": 150, "contact": broken'
    path = tmp_path / "users.jsonl"
    path.write_text("\n".join(lines) + "\n")
    options = ScanOptions(full=True, split_bytes=1000, block_bytes=512)
    here = scan_sources([str(path)], options, detector=FakeDetector(), types=FAKE_TYPES)
    there = scan_sources(
        [str(path)],
        options,
        detector=FakeDetector(),
        types=FAKE_TYPES,
        cluster="local",
        workers=2,
        processes=False,
    )
    for report in (here, there):
        [entry] = report.entries
        assert (entry.location.field, entry.pi_type) == ("contact.mobile", "cn_mobile")
        assert entry.evidence["sampled"] == entry.evidence["validated"] == 299
        assert entry.rows_total == 299
    [(_, problem, position)] = problems(here)
    assert "JSON syntax error" in problem and position == "line 151"
    [(_, problem, position)] = problems(there)
    assert " after byte " in position
    start = int(position.rsplit(" ", 1)[-1])
    line_in_range = int(position.split()[1])
    text = path.read_bytes()
    # the reported range start plus the line number points at the broken line
    assert (
        text[start:].split(b"\n")[line_in_range - 1].startswith(b'{"uid": 150, "contact": broken')
    )
