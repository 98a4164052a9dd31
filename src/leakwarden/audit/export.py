"""The ledger for a SIEM and for investigators: queries, JSON lines and syslog lines with CEF.

- JSON lines: each stored event exactly as hashed (canonical JSON, ECS names), one per line, so a
  SIEM may re-hash what it receives.
- CEF (ArcSight Common Event Format 0) inside an RFC 5424 syslog line, facility 13 (log audit):
  ``<PRI>1 TIME HOST leakwarden - audit - CEF:0|leakwarden|leakwarden|VERSION|ACTION|NAME|SEV|``
  followed by ``key=value`` extensions.  Header fields escape ``\\`` and ``|``; extension values
  escape ``\\``, ``=``, and newlines (``\\n``, ``\\r``), as the CEF specification requires.
  Severity: denied 7, failure 5, success 3.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leakwarden import __version__

SEVERITY = {"denied": 7, "failure": 5, "success": 3}
SYSLOG_FACILITY = 13  # log audit


def cef_header(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|")


def cef_value(value: object) -> str:
    text = str(value)
    return (
        text.replace("\\", "\\\\")
        .replace("=", "\\=")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def _outcome(doc: dict[str, Any]) -> str:
    types = doc.get("event", {}).get("type", [])
    if "denied" in types:
        return "denied"
    return "success" if doc.get("event", {}).get("outcome") == "success" else "failure"


def to_cef(doc: dict[str, Any]) -> str:
    """The CEF message of one stored event document."""
    event = doc.get("event", {})
    lw = doc.get("leakwarden", {})
    outcome = _outcome(doc)
    action = str(event.get("action", ""))
    ts = datetime.fromisoformat(str(doc["@timestamp"]).replace("Z", "+00:00"))
    ext: list[tuple[str, object]] = [
        ("rt", int(ts.timestamp() * 1000)),
        ("externalId", event.get("id", "")),
        ("cn2", event.get("sequence", "")),
        ("cn2Label", "sequence"),
        ("suser", doc.get("user", {}).get("id", "")),
        ("act", action),
        ("outcome", outcome),
    ]
    optional: list[tuple[str, object, str | None]] = [
        ("duser", doc.get("user", {}).get("effective", {}).get("id"), None),
        ("src", doc.get("source", {}).get("ip"), None),
        ("reason", event.get("reason"), None),
        ("cnt", lw.get("rows"), None),
        ("cn1", lw.get("customers"), "customers"),
        ("cs1", lw.get("purpose"), "purpose"),
        ("cs2", lw.get("dataset"), "dataset"),
        ("cs3", lw.get("ticket"), "ticket"),
        ("cs4", lw.get("export_id"), "export_id"),
        ("cs5", doc.get("rule", {}).get("name"), "policy"),
        ("cs6", ",".join(lw.get("columns", [])) or None, "columns"),
    ]
    for key, value, label in optional:
        if value is None:
            continue
        ext.append((key, value))
        if label:
            ext.append((key + "Label", label))
    head = "|".join(
        [
            "CEF:0",
            "leakwarden",
            "leakwarden",
            cef_header(__version__),
            cef_header(action),
            cef_header(f"{action} {outcome}"),
            str(SEVERITY[outcome]),
        ]
    )
    return head + "|" + " ".join(f"{k}={cef_value(v)}" for k, v in ext)


def to_syslog(doc: dict[str, Any], host: str | None = None) -> str:
    """An RFC 5424 syslog line carrying the event's CEF message."""
    outcome = _outcome(doc)
    pri = SYSLOG_FACILITY * 8 + (4 if outcome == "denied" else 6)
    hostname = (host or socket.gethostname() or "-").replace(" ", "_")
    return f"<{pri}>1 {doc['@timestamp']} {hostname} leakwarden - audit - {to_cef(doc)}"


@dataclass
class Query:
    actor: str | None = None
    customer: str | None = None
    dataset: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    start: int = 0
    limit: int | None = None


def iter_events(ledger: Any, q: Query) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(index, stored text, document)`` of the events that match ``q``, in index order."""
    ph = ledger._ph
    where = ["idx >= " + ph]
    params: list[Any] = [q.start]
    for column, value in (("actor", q.actor), ("dataset", q.dataset), ("action", q.action)):
        if value is not None:
            where.append(f"{column} = {ph}")
            params.append(value)
    if q.since is not None:
        where.append(f"ts >= {ph}")
        params.append(ledger._ts_param(q.since))
    if q.until is not None:
        where.append(f"ts < {ph}")
        params.append(ledger._ts_param(q.until))
    if q.customer is not None:
        where.append(f"event LIKE {ph}")
        params.append("%" + json.dumps(q.customer) + "%")
    sql = "SELECT idx, event FROM audit_log WHERE " + " AND ".join(where) + " ORDER BY idx"
    raw = ledger.engine.raw_connection()
    found = 0
    try:
        cur = raw.cursor()
        cur.execute(sql, params)
        while True:
            rows = cur.fetchmany(10_000)
            if not rows:
                break
            for idx, text in rows:
                doc = json.loads(text)
                if q.customer is not None and q.customer not in doc.get("leakwarden", {}).get(
                    "customer_ids", []
                ):
                    continue
                yield int(idx), str(text), doc
                found += 1
                if q.limit is not None and found >= q.limit:
                    return
    finally:
        raw.rollback()
        raw.close()
