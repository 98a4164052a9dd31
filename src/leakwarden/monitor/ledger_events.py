"""Audit ledger rows to monitor events: :func:`events_from_ledger` and :func:`events_from_docs`.

Each stored event (an ECS document, :meth:`leakwarden.audit.events.AuditEvent.to_ecs`) becomes
one :data:`~leakwarden.monitor.events.EVENT_SCHEMA` row, as the column table in
:mod:`leakwarden.monitor.events` says. Two conversions need rules:

* ``channel``: ``labels.channel`` when the event carries it, else from the action: an action or
  an ``export_id`` naming an export is ``export``; ``query``/``sql`` is ``sql``; ``batch`` is
  ``batch``; ``console`` is ``console``; anything else ``api``.
* ``customer_ids``: the ledger stores text ids. A decimal id is that integer; any other id is
  mapped to a stable 63-bit integer (BLAKE2b of its text), so distinct counts and joins with
  other tables that use the same mapping (:func:`customer_key`) still work.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa

from leakwarden.monitor.events import EVENT_SCHEMA

_OUTCOMES = ("allowed", "denied", "error")


def customer_key(text: str) -> int:
    """The monitor's int64 id of a ledger customer id (see the module docstring)."""
    if text.isdecimal() and len(text) < 19:
        return int(text)
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def channel_of(action: str, labels: dict[str, Any], export_id: str | None) -> str:
    if "channel" in labels:
        return str(labels["channel"])
    low = action.lower()
    if "export" in low or export_id:
        return "export"
    for word, channel in (("query", "sql"), ("sql", "sql"), ("batch", "batch")):
        if word in low:
            return channel
    return "console" if "console" in low else "api"


def _row(doc: dict[str, Any], idx: int) -> dict[str, Any]:
    event = doc.get("event", {})
    lw = doc.get("leakwarden", {})
    types = event.get("type", [])
    outcome = next((t for t in types if t in _OUTCOMES), None)
    if outcome is None:
        outcome = "allowed" if event.get("outcome") == "success" else "error"
    ids = [customer_key(str(c)) for c in lw.get("customer_ids", [])]
    customers = lw.get("customers")
    action = str(event.get("action", ""))
    export_id = lw.get("export_id")
    return {
        "seq": int(event.get("sequence", idx)),
        "ts": datetime.fromisoformat(str(doc["@timestamp"]).replace("Z", "+00:00")),
        "actor": str(doc.get("user", {}).get("id", "")),
        "action": action,
        "outcome": outcome,
        "channel": channel_of(action, doc.get("labels", {}), export_id),
        "purpose": lw.get("purpose"),
        "dataset": lw.get("dataset"),
        "source_ip": doc.get("source", {}).get("ip"),
        "rows": int(lw.get("rows") or 0),
        "customers": len(ids) if customers is None else int(customers),
        "customer_ids": ids,
        "ticket": lw.get("ticket"),
        "export_id": export_id,
    }


def events_from_docs(
    docs: Iterable[tuple[int, dict[str, Any]]], batch_rows: int = 50_000
) -> Iterator[pa.RecordBatch]:
    """``(ledger index, ECS document)`` pairs to event batches of at most ``batch_rows``."""
    rows: list[dict[str, Any]] = []
    for idx, doc in docs:
        try:
            rows.append(_row(doc, idx))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"audit event {idx}: cannot read it as a monitor event: {exc}"
            ) from exc
        if len(rows) >= batch_rows:
            yield pa.RecordBatch.from_pylist(rows, schema=EVENT_SCHEMA)
            rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=EVENT_SCHEMA)


def events_from_ledger(
    ledger: Any,
    since: int | datetime = 0,
    *,
    until: int | None = None,
    batch_rows: int = 50_000,
) -> Iterator[pa.RecordBatch]:
    """The ledger's events (``Ledger.iter_rows``, in index order) as monitor event batches.
    ``since``: the first ledger index, or a time (events before it are skipped); ``until``: the
    index to stop before."""
    start = since if isinstance(since, int) else 0
    after = since if isinstance(since, datetime) else None
    if after is not None and after.tzinfo is None:
        raise ValueError("events_from_ledger: since must carry a time zone")

    def docs() -> Iterator[tuple[int, dict[str, Any]]]:
        for chunk in ledger.iter_rows(start, until):
            for idx, text, _leaf in chunk:
                doc = json.loads(text)
                if after is not None:
                    ts = datetime.fromisoformat(str(doc["@timestamp"]).replace("Z", "+00:00"))
                    if ts < after:
                        continue
                yield int(idx), doc

    yield from events_from_docs(docs(), batch_rows)
