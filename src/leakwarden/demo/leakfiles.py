"""Files in which the demo company's personal data has leaked, with a ground-truth manifest.

``write_leak_files`` writes Excel-style CSV exports (UTF-8 with BOM, and one in GBK), a TSV, JSONL,
Parquet, XLSX, application logs with personal data in their lines (plain and gzip), an API
response saved as JSON, clean files without personal data (some full of numbers that look like
IDs and cards but fail their checks), and one truncated gzip.  ``manifest.json`` says which
file, column or field holds which personal-information type and how many values, and for text
files where each value sits (line, character offsets) — discovery is checked against it.

Every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from leakwarden.demo.company import Batch, iter_company
from leakwarden.demo.values import Values
from leakwarden.fileio import atomic_path, write_atomic

__all__ = ["MANIFEST_NAME", "read_company", "type_of", "write_leak_files"]

MANIFEST_NAME = "manifest.json"
_LOG_DAY = datetime(2026, 3, 1, 0, 0, 0)


_SIMPLE_KINDS = {
    "name": "person_name",
    "email": "email",
    "address": "address",
    "birth": "date_of_birth",
    "card": "bank_card",
    "waybill": "express_waybill",
}


# ---- typing values ------------------------------------------------------------------------
def type_of(kind: str, value: object) -> str | None:
    """The personal-information type id of a generated ``value`` of a field ``kind`` ("name",
    "id", "phone", "email", "address", "birth", "card", "waybill"), ``None`` for empty."""
    if value is None or value == "":
        return None
    text = str(value)
    if kind == "id":
        return "cn_resident_id" if len(text) == 18 else "us_ssn"
    if kind == "phone":
        if text.startswith("+"):
            return "phone"
        return "cn_mobile" if len(text) == 11 and text.startswith("1") else "cn_landline"
    return _SIMPLE_KINDS[kind]


# ---- the manifest -------------------------------------------------------------------------
@dataclass
class _Entry:
    path: str
    format: str
    encoding: str | None = None
    rows: int | None = None
    columns: dict[str, dict[str, int]] | None = None
    types: dict[str, int] | None = None
    spans: list[list[object]] | None = None
    problem: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        pii = bool(self.types) or any(bool(t) for t in (self.columns or {}).values())
        out: dict[str, object] = {"path": self.path, "format": self.format, "pii": pii}
        for key in ("encoding", "rows", "columns", "types", "spans", "problem"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update(self.extra)
        return out


@dataclass
class _Table:
    """A structured file's columns: header → (kind or None, values)."""

    headers: list[str]
    values: list[list[Any]]
    kinds: list[str | None]

    def column_types(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for header, kind, values in zip(self.headers, self.kinds, self.values, strict=True):
            counts: Counter[str] = Counter()
            if kind is not None:
                for value in values:
                    t = type_of(kind, value)
                    if t:
                        counts[t] += 1
            out[header] = dict(sorted(counts.items()))
        return out

    def rows(self) -> list[list[Any]]:
        return [list(r) for r in zip(*self.values, strict=True)]


def _table(spec: Sequence[tuple[str, str | None, list[Any]]]) -> _Table:
    return _Table([h for h, _k, _v in spec], [v for _h, _k, v in spec], [k for _h, k, _v in spec])


# ---- text lines with spans ----------------------------------------------------------------
class _Lines:
    """Builds log lines piece by piece and remembers where each typed value sits."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.spans: list[list[object]] = []
        self._parts: list[str] = []
        self._width = 0

    def add(self, text: str, kind: str | None = None) -> None:
        t = type_of(kind, text) if kind else None
        if t:
            self.spans.append([len(self.lines) + 1, self._width, self._width + len(text), t])
        self._parts.append(text)
        self._width += len(text)

    def end(self) -> None:
        self.lines.append("".join(self._parts))
        self._parts, self._width = [], 0

    def types(self) -> dict[str, int]:
        return dict(sorted(Counter(str(s[3]) for s in self.spans).items()))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


# ---- where the data comes from ------------------------------------------------------------
def _generated(rows: int, seed: int) -> dict[str, Batch]:
    tables: dict[str, Batch] = {}
    for batch in iter_company(rows, seed, batch_size=rows * 10):
        if batch.table in tables:
            for key, values in batch.columns.items():
                tables[batch.table].columns[key].extend(values)
        else:
            tables[batch.table] = Batch(batch.table, {k: list(v) for k, v in batch.columns.items()})
    return tables


def read_company(url: str, rows: int) -> dict[str, Batch]:
    """The first ``rows`` customers of a demo company database and their orders, waybills and
    cards, as column-wise batches (the shape ``write_leak_files`` takes)."""
    from sqlalchemy import create_engine, select

    from leakwarden.demo.schema import customers, orders, payment_cards, waybills

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            people = conn.execute(select(customers).order_by(customers.c.id).limit(rows)).all()
            if not people:
                raise ValueError(f"{url}: table customers is empty; build the company first")
            last = people[-1].id
            found = {
                "customers": people,
                "orders": conn.execute(
                    select(orders).where(orders.c.customer_id <= last).order_by(orders.c.id)
                ).all(),
                "waybills": conn.execute(
                    select(waybills)
                    .join(orders, orders.c.id == waybills.c.order_id)
                    .where(orders.c.customer_id <= last)
                    .order_by(waybills.c.order_id)
                ).all(),
                "payment_cards": conn.execute(
                    select(payment_cards)
                    .where(payment_cards.c.customer_id <= last)
                    .order_by(payment_cards.c.id)
                ).all(),
            }
    finally:
        engine.dispose()
    out: dict[str, Batch] = {}
    for table, result in found.items():
        keys = [str(k) for k in result[0]._mapping] if result else []
        out[table] = Batch(table, {k: [row._mapping[k] for row in result] for k in keys})
    return out


# ---- the files ----------------------------------------------------------------------------
def write_leak_files(
    folder: str | Path,
    *,
    seed: int = 0,
    rows: int = 1000,
    company: Mapping[str, Batch] | None = None,
) -> Path:
    """Write the leaked and the clean files under ``folder`` and return the manifest's path.

    The data is the first ``rows`` customers of the company ``iter_company(rows, seed)`` makes
    (the same people a database built with that seed holds), or ``company`` as returned by
    :func:`read_company`.  Same arguments → byte-identical files.
    """
    root = Path(folder)
    data = dict(company) if company is not None else _generated(rows, seed)
    v = Values([seed, 9])
    writers: list[Callable[[Path, Mapping[str, Batch], Values], _Entry]] = [
        _customers_csv, _orders_gbk_csv, _waybills_tsv, _crm_jsonl, _profile_parquet,
        _vip_xlsx, _order_log, _gateway_log_gz, _api_json, _catalog_csv, _health_log,
        _metrics_parquet, _decoys_csv, _truncated_gz,
    ]  # fmt: skip
    entries = [write(root, data, v).as_json() for write in writers]
    manifest = {
        "generator": "leakwarden.demo.write_leak_files",
        "version": 1,
        "seed": seed,
        "customers": len(data["customers"]),
        "files": entries,
    }
    path = root / MANIFEST_NAME
    write_atomic(path, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
    return path


def _csv_bytes(table: _Table, encoding: str, delimiter: str = ",") -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(table.headers)
    writer.writerows(table.rows())
    return buffer.getvalue().encode(encoding)


def _customers_csv(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """An Excel export of the customer list: UTF-8 with BOM, Chinese headers."""
    c = data["customers"].columns
    table = _table([
        ("客户编号", None, c["id"]),
        ("姓名", "name", c["name"]),
        ("性别", None, ["男" if g == "M" else "女" for g in c["gender"]]),
        ("身份证号", "id", c["id_card"]),
        ("手机号", "phone", c["mobile"]),
        ("邮箱", "email", c["email"]),
        ("出生日期", "birth", [d.isoformat() for d in c["birth_date"]]),
        ("地址", "address", c["address"]),
        ("会员", None, ["是" if x else "否" for x in c["vip"]]),
    ])  # fmt: skip
    path = "exports/customers_2026-03-01.csv"
    write_atomic(root / path, _csv_bytes(table, "utf-8-sig"))
    return _Entry(path, "csv", "utf-8-sig", len(c["id"]), table.column_types(),
                  extra={"delimiter": ","})  # fmt: skip


def _orders_gbk_csv(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """An order export from an old back office, GBK-encoded; the phone column is headed
    联系方式 and the recipient 收货人."""
    o = data["orders"].columns
    table = _table([
        ("订单号", None, o["id"]),
        ("下单时间", None, [t.strftime("%Y/%m/%d %H:%M") for t in o["created_at"]]),
        ("收货人", "name", o["ship_to_name"]),
        ("联系方式", "phone", o["ship_to_phone"]),
        ("收货地址", "address", o["ship_to_address"]),
        ("金额", None, [f"{float(a):.2f}" for a in o["amount"]]),
        ("状态", None, o["status"]),
    ])  # fmt: skip
    path = "exports/订单导出_2026Q1.csv"
    write_atomic(root / path, _csv_bytes(table, "gbk"))
    return _Entry(path, "csv", "gbk", len(o["id"]), table.column_types(), extra={"delimiter": ","})


def _waybills_tsv(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """A courier hand-off list, tab-separated, the kind sold per row online."""
    w = data["waybills"].columns
    table = _table([
        ("运单号", "waybill", w["waybill_no"]),
        ("快递公司", None, w["courier"]),
        ("收件人", "name", w["recipient_name"]),
        ("收件人电话", "phone", w["recipient_phone"]),
        ("收件地址", "address", w["recipient_address"]),
        ("寄件人", None, w["sender_name"]),
        ("寄件电话", "phone", w["sender_phone"]),
    ])  # fmt: skip
    path = "exports/waybills_2026-03.tsv"
    write_atomic(root / path, _csv_bytes(table, "utf-8", "\t"))
    return _Entry(path, "tsv", "utf-8", len(w["waybill_no"]), table.column_types(),
                  extra={"delimiter": "\t"})  # fmt: skip


def _crm_jsonl(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """A CRM dump, one JSON object per line, nested; keys are camelCase English."""
    c = data["customers"].columns
    n = len(c["id"])
    ips, macs = v.ipv4s(n), v.macs(n)
    spec: list[tuple[str, str | None, list[Any]]] = [
        ("uid", None, c["id"]),
        ("userName", "name", c["name"]),
        ("contact.mobile", "phone", c["mobile"]),
        ("contact.email", "email", c["email"]),
        ("idNo", "id", c["id_card"]),
        ("lastLoginIp", None, ips),
        ("deviceMac", None, macs),
        ("segment", None, c["segment"]),
    ]
    table = _table(spec)
    lines = []
    for uid, name, mobile, email, id_no, ip, mac, segment in table.rows():
        record = {
            "uid": uid,
            "userName": name,
            "contact": {"mobile": mobile, "email": email},
            "idNo": id_no,
            "lastLoginIp": ip,
            "deviceMac": mac,
            "segment": segment,
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    path = "exports/crm_users.jsonl"
    write_atomic(root / path, ("\n".join(lines) + "\n").encode("utf-8"))
    columns = table.column_types()
    columns["lastLoginIp"] = {"ip_address": n}
    columns["deviceMac"] = {"mac_address": n}
    return _Entry(path, "jsonl", "utf-8", n, columns)


def _profile_parquet(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """A data-science extract in Parquet with real types (date32, bool)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    c = data["customers"].columns
    table = _table([
        ("customer_id", None, c["id"]),
        ("full_name", "name", c["name"]),
        ("cert_no", "id", c["id_card"]),
        ("tel", "phone", c["mobile"]),
        ("dob", "birth", c["birth_date"]),
        ("is_vip", None, [bool(x) for x in c["vip"]]),
        ("segment", None, c["segment"]),
    ])  # fmt: skip
    arrow = pa.table(dict(zip(table.headers, table.values, strict=True)))
    path = "exports/customer_profile.parquet"
    with atomic_path(root / path) as tmp:
        pq.write_table(arrow, tmp)
    return _Entry(path, "parquet", None, arrow.num_rows, table.column_types())


def _vip_xlsx(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """A VIP list someone mailed around as Excel, plus a sheet of notes without personal data."""
    from openpyxl import Workbook

    c = data["customers"].columns
    cards = data["payment_cards"].columns
    first_card: dict[int, str] = {}
    for owner, number in zip(cards["customer_id"], cards["card_no"], strict=True):
        first_card.setdefault(owner, number)
    vips = [i for i, vip in enumerate(c["vip"]) if vip] or [0]
    table = _table([
        ("姓名", "name", [c["name"][i] for i in vips]),
        ("手机", "phone", [c["mobile"][i] for i in vips]),
        ("身份证", "id", [c["id_card"][i] for i in vips]),
        ("银行卡号", "card", [first_card.get(c["id"][i], "") for i in vips]),
        ("地址", "address", [c["address"][i] for i in vips]),
    ])  # fmt: skip
    book = Workbook(write_only=True)
    sheet = book.create_sheet("VIP客户")
    sheet.append(table.headers)
    for row in table.rows():
        sheet.append(row)
    notes = book.create_sheet("说明")
    notes.append(["字段", "说明"])
    notes.append(["会员等级", "按近12个月消费金额划分"])
    notes.append(["导出时间", "2026-03-01"])
    path = "exports/VIP客户名单.xlsx"
    with atomic_path(root / path) as tmp:
        book.save(tmp)
    columns = {f"VIP客户!{h}": t for h, t in table.column_types().items()}
    columns.update({"说明!字段": {}, "说明!说明": {}})
    return _Entry(path, "xlsx", None, len(vips), columns)


def _stamps(v: Values, n: int) -> list[datetime]:
    return sorted(v.datetimes(n, _LOG_DAY, _LOG_DAY + timedelta(days=1)))


def _order_log(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """An order service's log where developers logged whole user objects."""
    c, o, w = data["customers"].columns, data["orders"].columns, data["waybills"].columns
    n = max(len(o["id"]), 10)
    out = _Lines()
    picks = v.rng.integers(0, 8, n).tolist()
    ips = v.ipv4s(n)
    for k, (when, pick) in enumerate(zip(_stamps(v, n), picks, strict=True)):
        i = k % len(c["id"])
        j = k % len(o["id"])
        head = f"{when:%Y-%m-%d %H:%M:%S}.{k % 1000:03d} "
        if pick == 0:
            out.add(head + "INFO  [http-nio-8080-exec-3] c.h.order.OrderService - create order "
                    f"orderId={o['id'][j]} user=")  # fmt: skip
            out.add(c["name"][i], "name")
            out.add(" phone=")
            out.add(c["mobile"][i], "phone")
            out.add(" idcard=")
            out.add(c["id_card"][i], "id")
        elif pick == 1:
            out.add(head + "WARN  [http-nio-8080-exec-9] c.h.order.AddressChecker - "
                    "address not in delivery area: ")  # fmt: skip
            out.add(o["ship_to_address"][j], "address")
        elif pick == 2:
            out.add(head + "DEBUG [sms-sender-2] c.h.notify.SmsClient - sms sent to ")
            out.add(o["ship_to_phone"][j], "phone")
            out.add(" template=ORDER_SHIPPED")
        elif pick == 3 and w["waybill_no"]:
            out.add(head + "INFO  [mq-consumer-1] c.h.logistics.WaybillListener - waybill ")
            out.add(w["waybill_no"][k % len(w["waybill_no"])], "waybill")
            out.add(f" created for order {w['order_id'][k % len(w['order_id'])]}")
        elif pick == 4:
            out.add(head + "INFO  [http-nio-8080-exec-1] c.h.user.LoginController - login ok "
                    f"ip={ips[k]} email=")  # fmt: skip
            out.add(c["email"][i], "email")
        elif pick == 5:
            out.add(head + f"INFO  [http-nio-8080-exec-5] c.h.pay.PayCallback - payment ok "
                    f"orderId={o['id'][j]} amount={float(o['amount'][j]):.2f}")  # fmt: skip
        elif pick == 6:
            out.add(head + "ERROR [http-nio-8080-exec-2] c.h.order.OrderController - "
                    "java.lang.NullPointerException: null at OrderController.java:88")  # fmt: skip
        else:
            out.add(head + f"INFO  [scheduler-1] c.h.job.Reconcile - reconciled {k * 7 % 500} "
                    "orders in 132 ms")  # fmt: skip
        out.end()
    path = "logs/order-service.log"
    write_atomic(root / path, out.text().encode("utf-8"))
    spans = _with_ips(out)
    return _Entry(path, "text", "utf-8", len(out.lines), types=_span_types(spans), spans=spans)


def _with_ips(lines: _Lines) -> list[list[object]]:
    """Spans of the IPv4 addresses written as ``ip=...`` (typed by hand: ``type_of`` does not
    know IPs), merged with the line builder's spans."""
    spans = list(lines.spans)
    for number, line in enumerate(lines.lines, start=1):
        start = line.find(" ip=")
        if start >= 0:
            begin = start + 4
            end = line.find(" ", begin)
            spans.append([number, begin, end if end >= 0 else len(line), "ip_address"])
    return sorted(spans, key=lambda s: (int(str(s[0])), int(str(s[1]))))


def _span_types(spans: list[list[object]]) -> dict[str, int]:
    return dict(sorted(Counter(str(s[3]) for s in spans).items()))


def _gateway_log_gz(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """A payment gateway's debug log, gzip-compressed: card numbers, IBANs, IPv6 addresses."""
    cards = data["payment_cards"].columns
    n = max(len(cards["card_no"]), 10)
    ibans, ip6, ip4 = v.ibans(n), v.ipv6s(n), v.ipv4s(n)
    out = _Lines()
    for k, when in enumerate(_stamps(v, n)):
        j = k % max(len(cards["card_no"]), 1)
        head = f"{when:%Y-%m-%dT%H:%M:%S}Z "
        if k % 4 == 0 and cards["card_no"]:
            out.add(head + "DEBUG gateway.charge request card=")
            out.add(cards["card_no"][j], "card")
            out.add(f" exp={cards['expiry'][j]} holder=")
            out.add(cards["holder_name"][j], "name")
        elif k % 4 == 1:
            out.add(head + "INFO gateway.sepa payout iban=")
            out.add(ibans[k])
            out.add(" status=ACCEPTED")
        elif k % 4 == 2:
            out.add(head + "INFO gateway.http client=")
            out.add(ip6[k] if k % 8 == 2 else ip4[k])
            out.add(" path=/v2/charge latency_ms=41")
        else:
            out.add(head + f"INFO gateway.health ok upstream=unionpay rtt_ms={k % 90 + 10}")
        out.end()
    spans = list(out.spans)
    for number, line in enumerate(out.lines, start=1):
        for marker, kind in ((" iban=", "iban"), (" client=", "ip_address")):
            start = line.find(marker)
            if start >= 0:
                begin = start + len(marker)
                spans.append([number, begin, line.index(" ", begin), kind])
    spans.sort(key=lambda s: (int(str(s[0])), int(str(s[1]))))
    path = "logs/payment-gateway.log.gz"
    write_atomic(root / path, gzip.compress(out.text().encode("utf-8"), mtime=0))
    return _Entry(path, "text.gz", "utf-8", len(out.lines), types=_span_types(spans), spans=spans)


def _api_json(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """A saved response of an internal user-lookup API: documents, plates, employers."""
    c = data["customers"].columns
    n = min(len(c["id"]), 200)
    passports, permits = v.passports(n), v.hk_macau_permits(n)
    plates, usccs = v.license_plates(n), v.usccs(n)
    spec: list[tuple[str, str | None, list[Any]]] = [
        ("data.list[].userId", None, c["id"][:n]),
        ("data.list[].realName", "name", c["name"][:n]),
        ("data.list[].phone", "phone", c["mobile"][:n]),
        ("data.list[].idCard", "id", c["id_card"][:n]),
        ("data.list[].address", "address", c["address"][:n]),
    ]
    table = _table(spec)
    records = []
    for k, (uid, name, phone, id_card, address) in enumerate(table.rows()):
        records.append({"userId": uid, "realName": name, "phone": phone, "idCard": id_card,
                        "address": address, "passportNo": passports[k],
                        "hkMacauPermitNo": permits[k], "plateNo": plates[k],
                        "employerUscc": usccs[k]})  # fmt: skip
    body = {"code": 0, "msg": "success", "data": {"total": n, "page": 1, "list": records}}
    path = "api/user_lookup_response.json"
    write_atomic(root / path, json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8"))
    columns = table.column_types()
    columns.update({
        "data.list[].passportNo": {"cn_passport": n},
        "data.list[].hkMacauPermitNo": {"cn_hk_macau_permit": n},
        "data.list[].plateNo": {"cn_license_plate": n},
        "data.list[].employerUscc": {"cn_uscc": n},
        "code": {}, "msg": {}, "data.total": {}, "data.page": {},
    })  # fmt: skip
    return _Entry(path, "json", "utf-8", n, columns)


def _ean13(body: str) -> str:
    """An EAN-13 barcode: product codes look like long numbers but are not personal data."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _catalog_csv(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """Product catalogue: prices, barcodes, stock. No personal data."""
    from leakwarden.demo.company import PRODUCTS

    n = len(PRODUCTS)
    codes = v.rng.integers(0, 10**6, n).tolist()
    table = _table([
        ("sku", None, [f"SKU-{100200 + i}" for i in range(n)]),
        ("name", None, [p for p, _ in PRODUCTS]),
        ("price", None, [f"{price:.2f}" for _, price in PRODUCTS]),
        ("barcode", None, [_ean13(f"693{c:06d}{i:03d}") for i, c in enumerate(codes)]),
        ("stock", None, v.rng.integers(0, 5000, n).tolist()),
    ])  # fmt: skip
    path = "clean/product_catalog.csv"
    write_atomic(root / path, _csv_bytes(table, "utf-8"))
    return _Entry(path, "csv", "utf-8", n, table.column_types(), extra={"delimiter": ","})


def _health_log(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """A health-check log: timestamps, latencies, request ids. No personal data."""
    lines = []
    ids = v.rng.integers(0, 2**63, 400).tolist()
    for k, when in enumerate(_stamps(v, 400)):
        lines.append(
            f"{when:%Y-%m-%d %H:%M:%S} INFO health probe=/ready status=200 "
            f"latency_ms={k % 37 + 3} request_id={ids[k]:016x} build=2026.02.{k % 28 + 1}"
        )
    path = "clean/app-health.log"
    write_atomic(root / path, ("\n".join(lines) + "\n").encode("utf-8"))
    return _Entry(path, "text", "utf-8", len(lines), types={}, spans=[])


def _metrics_parquet(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """Daily sales metrics in Parquet. No personal data."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(90)]
    table = pa.table({
        "day": days,
        "orders": v.rng.integers(500, 5000, 90).tolist(),
        "gmv_yuan": [round(x, 2) for x in v.rng.uniform(1e5, 1e6, 90).tolist()],
        "refund_rate": [round(x, 4) for x in v.rng.uniform(0.01, 0.08, 90).tolist()],
    })  # fmt: skip
    path = "clean/daily_metrics.parquet"
    with atomic_path(root / path) as tmp:
        pq.write_table(table, tmp)
    return _Entry(path, "parquet", None, 90, {name: {} for name in table.column_names})


def _decoys_csv(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """Numbers shaped like IDs, cards and mobiles that fail their checks: an 18-digit batch
    number failing the resident-ID, Luhn and USCC checks, a 16/19-digit reference failing Luhn,
    an 11-digit device code in no mobile segment.  A detector that trusts shapes alone reports
    personal data here."""
    import numpy as np

    from leakwarden.demo.checkdigits import (
        luhn_check_digits,
        resident_id_check_chars,
        uscc_check_chars,
    )

    n = 300
    bodies = [x[:17] for x in v.resident_ids(n)]
    digits = np.array([[int(ch) for ch in x] for x in bodies], dtype=np.int64)
    id_checks = resident_id_check_chars(digits).tolist()
    luhn_ok = luhn_check_digits(digits).tolist()
    uscc_ok = uscc_check_chars(digits).tolist()
    # A last digit that is none of the ID check character, the Luhn digit and the USCC check
    # character, so the number is no resident ID, no 18-digit card and no credit code either.
    wrong_ids = [
        body + next(d for d in "0123456789" if d not in (chr(ok), chr(lu), chr(uc)))
        for body, ok, lu, uc in zip(bodies, id_checks, luhn_ok, uscc_ok, strict=True)
    ]
    # A card's last digit is its Luhn digit: any other one breaks the check.
    wrong_cards = [c[:-1] + str((int(c[-1]) + 5) % 10) for c, _bank in v.bank_cards(n)]
    devices = [f"12{x:09d}" for x in v.rng.integers(0, 10**9, n).tolist()]
    table = _table([
        ("batch_no", None, wrong_ids),
        ("ref", None, wrong_cards),
        ("device_code", None, devices),
        ("qty", None, v.rng.integers(1, 100, n).tolist()),
    ])  # fmt: skip
    path = "clean/inventory_batches.csv"
    write_atomic(root / path, _csv_bytes(table, "utf-8"))
    return _Entry(path, "csv", "utf-8", n, table.column_types(), extra={"delimiter": ","})


def _truncated_gz(root: Path, data: Mapping[str, Batch], v: Values) -> _Entry:
    """Last month's log archive, cut off mid-stream (a disk filled up): a scan must report it,
    naming the file and position, and go on.  The manifest's ``rows``, ``types`` and ``spans``
    cover the complete lines that can still be decompressed."""
    c = data["customers"].columns
    out = _Lines()
    for k in range(2000):
        i = k % len(c["name"])
        out.add(f"2026-02-{k % 28 + 1:02d} 08:00:00 INFO c.h.user.UserService - profile name=")
        out.add(c["name"][i], "name")
        out.add(" mobile=")
        out.add(c["mobile"][i], "phone")
        out.end()
    whole = gzip.compress(out.text().encode("utf-8"), mtime=0)
    cut = whole[: len(whole) // 2]
    readable = zlib.decompressobj(wbits=31).decompress(cut).decode("utf-8", errors="ignore")
    complete = readable.count("\n")  # lines whose newline made it through
    spans = [s for s in out.spans if int(str(s[0])) <= complete]
    path = "logs/archive/order-service-2026-02.log.gz"
    write_atomic(root / path, cut)
    return _Entry(path, "text.gz", "utf-8", complete, types=_span_types(spans), spans=spans,
                  problem="truncated gzip stream", extra={"broken": True})  # fmt: skip
