"""The leaked files parse with their own readers and hold exactly what the manifest says."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import phonenumbers
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from stdnum import iban, luhn
from stdnum.cn import ric, uscc
from stdnum.us import ssn

from leakwarden.demo.build import build_company
from leakwarden.demo.leakfiles import MANIFEST_NAME, read_company, write_leak_files
from leakwarden.demo.values import WAYBILL_SHAPES


def _ric_ok(number: str) -> bool:
    """stdnum.cn.ric.is_valid, except that stdnum 2.2 raises KeyError (instead of answering
    False) for a number whose region code names a province but no county, e.g. 622260..."""
    try:
        return ric.is_valid(number)
    except KeyError:
        return False


def _phone(region: str | None) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(value, region))
        except phonenumbers.NumberParseException:
            return False

    return check


def _is_date(value: object) -> bool:
    if isinstance(value, date):
        return True
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return False
    return True


# Reference checks per type, independent of the generator's own labels.
CHECKS: dict[str, Callable[[Any], bool]] = {
    "cn_resident_id": lambda v: _ric_ok(str(v)),
    "us_ssn": lambda v: ssn.is_valid(str(v)),
    "cn_mobile": lambda v: bool(re.fullmatch(r"1\d{10}", str(v))) and _phone("CN")(str(v)),
    "cn_landline": lambda v: str(v).startswith("0") and _phone("CN")(str(v)),
    "phone": lambda v: str(v).startswith("+") and _phone(None)(str(v)),
    "email": lambda v: bool(re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", str(v))),
    "bank_card": lambda v: bool(re.fullmatch(r"\d{15,19}", str(v))) and luhn.is_valid(str(v)),
    "express_waybill": lambda v: any(re.fullmatch(p, str(v)) for p in WAYBILL_SHAPES.values()),
    "person_name": lambda v: bool(
        re.fullmatch(r"[\u4e00-\u9fff]{2,4}|[A-Z][\w' -]+ [A-Z][\w' -]+", str(v))
    ),
    "address": lambda v: bool(re.search(r"(省|市|区|县).*号|, [A-Z]{2} \d{5}$", str(v))),
    "date_of_birth": _is_date,
    "ip_address": lambda v: bool(re.fullmatch(r"[\d.]+|[0-9a-f:]+", str(v))),
    "mac_address": lambda v: bool(re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", str(v))),
    "iban": lambda v: iban.is_valid(str(v)),
    "cn_uscc": lambda v: uscc.is_valid(str(v)),
    "cn_passport": lambda v: bool(re.fullmatch(r"[EG]\d{8}|E[A-HJ-NP-Z]\d{7}", str(v))),
    "cn_hk_macau_permit": lambda v: bool(re.fullmatch(r"C\d{8}|C[A-HJ-NP-Z]\d{7}", str(v))),
    "cn_license_plate": lambda v: bool(re.fullmatch(r"[\u4e00-\u9fff][A-Z][A-Z0-9]{5,6}", str(v))),
}
# Types that any value in a clean column must not pass (the decoys are built to fail these).
STRICT = ("cn_resident_id", "bank_card", "cn_mobile", "us_ssn", "iban", "cn_uscc")


def _classify(value: Any, allowed: set[str]) -> str | None:
    if value in (None, ""):
        return None
    hits = [t for t in sorted(allowed) if CHECKS[t](value)]
    assert len(hits) == 1, (value, hits)
    return hits[0]


@pytest.fixture(scope="module")
def leak_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("leaks")
    write_leak_files(folder, seed=5, rows=400)
    return folder


@pytest.fixture(scope="module")
def manifest(leak_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((leak_dir / MANIFEST_NAME).read_text("utf-8"))
    return data


def _entry(manifest: dict[str, Any], path: str) -> dict[str, Any]:
    (entry,) = [f for f in manifest["files"] if f["path"] == path]
    return entry


def _check_columns(entry: dict[str, Any], columns: dict[str, list[Any]]) -> None:
    """Every column's values, classified by the reference checks, count up to the manifest."""
    assert set(columns) == set(entry["columns"]), entry["path"]
    for header, expected in entry["columns"].items():
        values = columns[header]
        if expected:
            counts = Counter(t for v in values if (t := _classify(v, set(expected))))
            assert dict(counts) == expected, (entry["path"], header)
        else:
            for value in values:
                assert not any(CHECKS[t](value) for t in STRICT), (entry["path"], header, value)


def _csv_columns(path: Path, encoding: str, delimiter: str) -> dict[str, list[Any]]:
    with path.open(encoding=encoding, newline="") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter))
    return {h: [r[i] for r in rows[1:]] for i, h in enumerate(rows[0])}


def test_manifest_lists_every_file_and_nothing_else(
    leak_dir: Path, manifest: dict[str, Any]
) -> None:
    on_disk = {p.relative_to(leak_dir).as_posix() for p in leak_dir.rglob("*") if p.is_file()} - {
        MANIFEST_NAME
    }
    assert on_disk == {f["path"] for f in manifest["files"]}
    assert not [p for p in on_disk if ".tmp" in p]  # atomic writes leave no temporaries
    assert {f["format"] for f in manifest["files"]} >= {
        "csv", "tsv", "jsonl", "parquet", "xlsx", "text", "text.gz", "json"
    }  # fmt: skip
    assert [f["pii"] for f in manifest["files"]].count(False) >= 3


@pytest.mark.parametrize(
    "path",
    ["exports/customers_2026-03-01.csv", "exports/订单导出_2026Q1.csv",
     "exports/waybills_2026-03.tsv", "clean/product_catalog.csv", "clean/inventory_batches.csv"],
)  # fmt: skip
def test_delimited_files(leak_dir: Path, manifest: dict[str, Any], path: str) -> None:
    entry = _entry(manifest, path)
    raw = (leak_dir / path).read_bytes()
    if entry["encoding"] == "utf-8-sig":
        assert raw.startswith(b"\xef\xbb\xbf")  # Excel's BOM
    if entry["encoding"] == "gbk":
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
    columns = _csv_columns(leak_dir / path, entry["encoding"], entry["delimiter"])
    assert all(len(v) == entry["rows"] for v in columns.values())
    _check_columns(entry, columns)


def test_jsonl(leak_dir: Path, manifest: dict[str, Any]) -> None:
    entry = _entry(manifest, "exports/crm_users.jsonl")
    lines = (leak_dir / entry["path"]).read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    columns: dict[str, list[Any]] = {}
    for record in records:
        flat = {**{k: v for k, v in record.items() if k != "contact"},
                **{f"contact.{k}": v for k, v in record["contact"].items()}}  # fmt: skip
        for key, value in flat.items():
            columns.setdefault(key, []).append(value)
    assert len(records) == entry["rows"]
    _check_columns(entry, columns)


@pytest.mark.parametrize(
    "path", ["exports/customer_profile.parquet", "clean/daily_metrics.parquet"]
)
def test_parquet(leak_dir: Path, manifest: dict[str, Any], path: str) -> None:
    entry = _entry(manifest, path)
    table = pq.read_table(leak_dir / path)
    assert table.num_rows == entry["rows"]
    _check_columns(entry, {name: table.column(name).to_pylist() for name in table.column_names})
    if "dob" in table.column_names:
        assert str(table.schema.field("dob").type) == "date32[day]"


def test_xlsx(leak_dir: Path, manifest: dict[str, Any]) -> None:
    entry = _entry(manifest, "exports/VIP客户名单.xlsx")
    book = load_workbook(leak_dir / entry["path"], read_only=True)
    columns: dict[str, list[Any]] = {}
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        for i, header in enumerate(rows[0]):
            columns[f"{sheet.title}!{header}"] = [r[i] for r in rows[1:]]
    book.close()
    assert len(columns["VIP客户!姓名"]) == entry["rows"]
    _check_columns(entry, columns)


def test_api_json(leak_dir: Path, manifest: dict[str, Any]) -> None:
    entry = _entry(manifest, "api/user_lookup_response.json")
    body = json.loads((leak_dir / entry["path"]).read_text("utf-8"))
    columns = {
        f"data.list[].{k}": [r[k] for r in body["data"]["list"]] for k in body["data"]["list"][0]
    }
    data = body["data"]
    columns.update(
        {"code": [body["code"]], "msg": [body["msg"]], "data.total": [data["total"]],
         "data.page": [data["page"]]}
    )  # fmt: skip
    _check_columns(entry, columns)


@pytest.mark.parametrize(
    "path", ["logs/order-service.log", "logs/payment-gateway.log.gz", "clean/app-health.log"]
)
def test_logs_spans(leak_dir: Path, manifest: dict[str, Any], path: str) -> None:
    entry = _entry(manifest, path)
    raw = (leak_dir / path).read_bytes()
    text = gzip.decompress(raw).decode("utf-8") if path.endswith(".gz") else raw.decode("utf-8")
    lines = text.splitlines()
    assert len(lines) == entry["rows"]
    counts: Counter[str] = Counter()
    for line_no, start, end, kind in entry["spans"]:
        value = lines[line_no - 1][start:end]
        assert CHECKS[kind](value), (path, line_no, kind, value)
        counts[kind] += 1
    assert dict(counts) == entry["types"]
    if entry["pii"]:
        assert {"person_name"} < set(entry["types"])
    # Outside the marked spans no validated identifier is left unmarked.
    marked = {(s[0], s[1]) for s in entry["spans"]}
    for number, line in enumerate(lines, start=1):
        for m in re.finditer(r"(?<![\dA-Za-z])[\dX]{15,19}(?![\dA-Za-z])", line):
            if _ric_ok(m.group()) or luhn.is_valid(m.group()):
                assert (number, m.start()) in marked, (path, number, m.group())


def test_truncated_gzip_is_broken_as_declared(leak_dir: Path, manifest: dict[str, Any]) -> None:
    (entry,) = [f for f in manifest["files"] if f.get("broken")]
    raw = (leak_dir / entry["path"]).read_bytes()
    with pytest.raises(EOFError):
        gzip.decompress(raw)
    assert "truncated" in entry["problem"] and entry["pii"]
    # What can still be read is what the manifest describes, line for line.
    with gzip.open(io.BytesIO(raw), "rt", encoding="utf-8") as handle:
        lines: list[str] = []
        with pytest.raises(EOFError):
            for line in handle:
                lines.append(line.rstrip("\n"))
    complete = lines[: entry["rows"]]
    assert 0 < entry["rows"] <= len(lines) < 2000
    counts: Counter[str] = Counter()
    for line_no, start, end, kind in entry["spans"]:
        assert CHECKS[kind](complete[line_no - 1][start:end]), (line_no, kind)
        counts[kind] += 1
    assert dict(counts) == entry["types"] and {"person_name", "cn_mobile"} <= set(counts)


def test_same_seed_same_files(tmp_path: Path, leak_dir: Path) -> None:
    again = tmp_path / "again"
    write_leak_files(again, seed=5, rows=400)
    for path in leak_dir.rglob("*"):
        if path.is_file() and path.suffix != ".xlsx":  # xlsx carries a save timestamp
            assert path.read_bytes() == (again / path.relative_to(leak_dir)).read_bytes(), path


def test_files_from_a_built_database_leak_its_customers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'company.db'}"
    build_company(url, customers=1000, seed=6)
    from_db = tmp_path / "from_db"
    write_leak_files(from_db, seed=6, company=read_company(url, 300))
    generated = tmp_path / "generated"
    write_leak_files(generated, seed=6, rows=300)
    name = "exports/customers_2026-03-01.csv"
    assert (from_db / name).read_bytes() == (generated / name).read_bytes()
    columns = _csv_columns(from_db / name, "utf-8-sig", ",")
    assert len(columns["姓名"]) == 300


def test_reading_an_empty_company_names_the_table(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from leakwarden.demo.schema import metadata

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    with pytest.raises(ValueError, match="customers is empty"):
        read_company(url, 10)


def test_csv_buffer_helper_round_trips_quotes() -> None:
    # A value with the delimiter, quotes and a newline survives the writer and reader.
    from leakwarden.demo.leakfiles import _csv_bytes, _table

    table = _table([("a", None, ['x,"y"\nz']), ("b", None, [1])])
    rows = list(csv.reader(io.StringIO(_csv_bytes(table, "utf-8").decode())))
    assert rows == [["a", "b"], ['x,"y"\nz', "1"]]
