"""Where alerts go besides the store: an HTTP webhook and the SIEM stream.

* :func:`alert_doc`: the alert as an ECS-style JSON document (``event.kind: alert``,
  ``event.action: monitor.alert``, ``user.id``, ``rule.name``, ``event.risk_score``, and under
  ``leakwarden.monitor`` the day, peer group, reasons, unexplained customers and audit seqs).
* SIEM: the audit export's two formats (:mod:`leakwarden.audit.export`): JSON lines (the document,
  canonical JSON) or an RFC 5424 syslog line (facility 13, severity warning) carrying CEF built
  with the same escaping (``cs2`` the top reasons, ``cs4`` the audit seqs, ``cfp1`` the score).
  :class:`SiemSink` appends lines to a file or a text stream.
* :class:`WebhookSink`: POSTs the document as JSON; network errors and 5xx/429 answers are retried
  with exponential backoff (``retries`` extra attempts); other 4xx answers are not retried. The
  outcome (attempts, delivered, last error) is returned as a :class:`Delivery` and recorded by
  :func:`leakwarden.monitor.alert_store.AlertStore.record_delivery`; a failure never raises.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from leakwarden import __version__
from leakwarden.audit.events import format_timestamp
from leakwarden.audit.export import SYSLOG_FACILITY, cef_header, cef_value
from leakwarden.monitor.config import Alert

SIEM_FORMATS = ("jsonl", "cef")


@dataclass(frozen=True)
class Delivery:
    alert_id: str
    sink: str
    attempts: int
    delivered: bool
    error: str | None = None


def severity(alert: Alert) -> int:
    """CEF severity 0-10: stream (bulk pull) 9; daily by score: 8 at 40+, 6 at 10+, else 4."""
    if alert.rule == "stream":
        return 9
    return 8 if alert.score >= 40 else 6 if alert.score >= 10 else 4


def alert_doc(alert: Alert) -> dict[str, Any]:
    return {
        "@timestamp": format_timestamp(alert.raised_at),
        "event": {
            "id": alert.alert_id,
            "kind": "alert",
            "action": "monitor.alert",
            "outcome": "success",
            "type": ["indicator"],
            "severity": severity(alert),
            "risk_score": round(alert.score, 4),
        },
        "user": {"id": alert.actor},
        "rule": {"name": alert.rule},
        "leakwarden": {
            "monitor": {
                "day": alert.day.isoformat(),
                "peer_group": alert.peer_group,
                "reasons": [asdict(r) for r in alert.reasons],
                "customers": list(alert.customers),
                "events": list(alert.events),
            }
        },
    }


def to_jsonl(alert: Alert) -> str:
    return json.dumps(alert_doc(alert), sort_keys=True, separators=(",", ":"))


def _reason_text(alert: Alert, limit: int = 5) -> str:
    parts = []
    for r in alert.reasons[:limit]:
        base = ", ".join(
            f"{name} {v:g}"
            for name, v in (("own", r.own), ("peer", r.peer), ("org", r.org))
            if v is not None
        )
        parts.append(f"{r.feature} {r.value:g}" + (f" ({base})" if base else ""))
    return "; ".join(parts)


def to_cef(alert: Alert) -> str:
    ext: list[tuple[str, object]] = [
        ("rt", int(alert.raised_at.timestamp() * 1000)),
        ("externalId", alert.alert_id),
        ("suser", alert.actor),
        ("act", "monitor.alert"),
        ("cs1", alert.rule),
        ("cs1Label", "rule"),
        ("cfp1", round(alert.score, 4)),
        ("cfp1Label", "score"),
        ("cs2", _reason_text(alert)),
        ("cs2Label", "reasons"),
        ("cs3", alert.peer_group),
        ("cs3Label", "peer_group"),
        ("cs4", ",".join(str(s) for s in alert.events[:20])),
        ("cs4Label", "audit_seqs"),
        ("cs5", alert.day.isoformat()),
        ("cs5Label", "day"),
    ]
    head = "|".join(
        [
            "CEF:0",
            "leakwarden",
            "leakwarden",
            cef_header(__version__),
            "monitor.alert",
            cef_header(f"insider risk ({alert.rule})"),
            str(severity(alert)),
        ]
    )
    return head + "|" + " ".join(f"{k}={cef_value(v)}" for k, v in ext)


def to_syslog(alert: Alert, host: str | None = None) -> str:
    pri = SYSLOG_FACILITY * 8 + 4  # warning
    hostname = (host or socket.gethostname() or "-").replace(" ", "_")
    stamp = format_timestamp(alert.raised_at)
    return f"<{pri}>1 {stamp} {hostname} leakwarden - monitor - {to_cef(alert)}"


class SiemSink:
    """Appends one line per alert (``jsonl`` or ``cef``) to a file or a text stream."""

    name = "siem"

    def __init__(self, target: Path | TextIO, fmt: str = "jsonl", host: str | None = None):
        if fmt not in SIEM_FORMATS:
            raise ValueError(f"SIEM format {fmt!r}: use one of {', '.join(SIEM_FORMATS)}")
        self.target = target
        self.fmt = fmt
        self.host = host

    def line(self, alert: Alert) -> str:
        return to_jsonl(alert) if self.fmt == "jsonl" else to_syslog(alert, self.host)

    def send(self, alert: Alert) -> Delivery:
        text = self.line(alert) + "\n"
        try:
            if isinstance(self.target, Path):
                with open(self.target, "a", encoding="utf-8") as handle:
                    handle.write(text)
            else:
                self.target.write(text)
                self.target.flush()
        except OSError as exc:
            return Delivery(alert.alert_id, self.name, 1, False, f"{type(exc).__name__}: {exc}")
        return Delivery(alert.alert_id, self.name, 1, True)


class WebhookSink:
    """POSTs each alert's document to ``url`` (see the module docstring for retries); the
    standard library's HTTP client, so the webhook adds no dependency."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL {url!r}: must start with http:// or https://")
        if retries < 0:
            raise ValueError("webhook retries must be >= 0")
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.sleep = sleep

    def _post(self, body: bytes) -> tuple[int, str]:
        req = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return int(resp.status), ""
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read(200).decode("utf-8", "replace")

    def send(self, alert: Alert) -> Delivery:
        body = json.dumps(alert_doc(alert)).encode()
        error: str | None = None
        attempts = 0
        for attempt in range(self.retries + 1):
            attempts = attempt + 1
            try:
                status, text = self._post(body)
            except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections
                error = f"{type(exc).__name__}: {exc}"
            else:
                if status < 300:
                    return Delivery(alert.alert_id, self.name, attempts, True)
                error = f"HTTP {status}: {text}"
                if status < 500 and status != 429:
                    break
            if attempt < self.retries:
                self.sleep(self.backoff * 2**attempt)
        return Delivery(alert.alert_id, self.name, attempts, False, error)
