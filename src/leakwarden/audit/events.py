"""One audit event: who touched which personal information, why, and what came of it.

:class:`AuditEvent` is what callers build (keyword arguments, flat Python names).  What the ledger
stores, hashes and exports is its **ECS document** (:meth:`AuditEvent.to_ecs`), with field names
from the Elastic Common Schema where one fits and ``leakwarden.*`` where none does:

==================  ==============================  ==========================================
AuditEvent          stored field                    notes
==================  ==============================  ==========================================
timestamp           ``@timestamp``                  UTC, ISO 8601, microseconds, ``Z``
event_id            ``event.id``                    128 random bits (hex) unless given
(leaf index)        ``event.sequence``              set by the ledger: the event's position
action              ``event.action``                e.g. ``gateway.query``, ``export.approve``
outcome             ``event.outcome``               ``success``/``failure``; ``denied`` is
                                                    stored as ``failure`` with ``event.type``
                    ``event.type``                  ``["access", "allowed"|"denied"|"error"]``
reason              ``event.reason``
actor               ``user.id``                     person or application id
on_behalf_of        ``user.effective.id``           whose behalf the actor acted on
source_ip           ``source.ip``
policy              ``rule.name``                   the policy that made the decision
extra               ``labels``                      string to string
purpose             ``leakwarden.purpose``
dataset             ``leakwarden.dataset``          ``source/container`` of the data touched
columns             ``leakwarden.columns``
rows                ``leakwarden.rows``             rows returned
customers           ``leakwarden.customers``        distinct customers touched
customer_ids        ``leakwarden.customer_ids``     internal customer ids (never PI values)
ticket              ``leakwarden.ticket``
export_id           ``leakwarden.export_id``
query_fingerprint   ``leakwarden.query_fingerprint``
==================  ==============================  ==========================================

Fields that are ``None`` or empty are left out of the document.

**Canonical serialisation** (what is hashed): the ECS document as JSON with keys sorted at every
level, no whitespace (separators ``,`` and ``:``), non-ASCII characters written as themselves, the
whole encoded as UTF-8 (:func:`canonical_bytes`).  The Merkle leaf is exactly these bytes; its
hash is ``SHA-256(0x00 || bytes)`` (RFC 9162 section 2.1.1).

The ledger adds ``event.sequence`` (the leaf index) to the stored text, so a row moved to
another position no longer matches its place, even when its hash is recomputed.

An event never holds clear personal information: ids, counts, column names, never values.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import secrets
import socket
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Outcome = Literal["success", "failure", "denied"]

_TYPE_OF_OUTCOME = {"success": "allowed", "denied": "denied", "failure": "error"}
_OUTCOME_OF_TYPE: dict[str, Outcome] = {
    "allowed": "success",
    "denied": "denied",
    "error": "failure",
}
# event.outcome as stored, and the second event.type
_OUTCOME_PARTS = {
    "success": ('"success"', "allowed"),
    "denied": ('"failure"', "denied"),
    "failure": ('"failure"', "error"),
}
_TYPE_TAIL = {kind: f',"type":["access","{kind}"]}}' for kind in ("allowed", "denied", "error")}
_MARK = -7_777_777  # stands in for the sequence number in canonical_template
_LEAKWARDEN_FIELDS = (
    "purpose",
    "dataset",
    "columns",
    "rows",
    "customers",
    "customer_ids",
    "ticket",
    "export_id",
    "query_fingerprint",
)


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return secrets.token_hex(16)  # 128 random bits, as a UUID4 has (uuid4() is 10x slower)


def format_timestamp(ts: datetime) -> str:
    """``2026-11-23T14:39:11.123456Z``: always UTC, always six fraction digits."""
    utc = ts if ts.tzinfo is UTC else ts.astimezone(UTC)
    # what utc.isoformat(timespec="microseconds") gives without "+00:00", in half the time
    # (isoformat spends most of its time on the offset it then loses; a property test holds
    # the two equal)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 (faster than f-string)
        utc.year,
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second,
        utc.microsecond,
    )


def normalize_ip(value: str) -> str:
    """An IP address in its standard text form (``str(ipaddress.ip_address(...))``); a plain
    dotted IPv4 address is checked by ``inet_pton`` (strict dotted quad, no leading zeros, as
    ``ipaddress`` wants) and kept as it is, ten times faster than ``ipaddress``; anything else
    goes through ``ipaddress``.  ValueError names the value."""
    text = value.strip()
    if text.count(".") == 3 and ":" not in text:
        with contextlib.suppress(OSError, ValueError):
            socket.inet_pton(socket.AF_INET, text)
            return text
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"source_ip {value!r} is not an IPv4 or IPv6 address") from None


class AuditEvent(BaseModel):
    """One access to personal information (or a refusal of one).  See the module docstring for
    the stored (ECS) name of each field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str = Field(min_length=1)
    outcome: Outcome
    actor: str = Field(min_length=1)
    timestamp: datetime = Field(default_factory=_now)
    event_id: str = Field(default_factory=_new_id, min_length=1)
    reason: str | None = None
    purpose: str | None = None
    dataset: str | None = None
    columns: list[str] = Field(default_factory=list)
    rows: int | None = Field(default=None, ge=0)
    customers: int | None = Field(default=None, ge=0)
    customer_ids: list[str] = Field(default_factory=list)
    ticket: str | None = None
    export_id: str | None = None
    policy: str | None = None
    on_behalf_of: str | None = None
    source_ip: str | None = None
    query_fingerprint: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamp must carry a time zone (a naive time would be a guess)")
        return value.astimezone(UTC)

    @field_validator("source_ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return normalize_ip(value)

    def to_ecs(self, sequence: int | None = None) -> dict[str, Any]:
        """The stored document (ECS field names, ``None``/empty fields left out);
        ``sequence`` is the leaf index the ledger gives the event."""
        ecs_outcome = "success" if self.outcome == "success" else "failure"
        event: dict[str, Any] = {
            "id": self.event_id,
            "action": self.action,
            "outcome": ecs_outcome,
            "type": ["access", _TYPE_OF_OUTCOME[self.outcome]],
        }
        if sequence is not None:
            event["sequence"] = sequence
        if self.reason is not None:
            event["reason"] = self.reason
        user: dict[str, Any] = {"id": self.actor}
        if self.on_behalf_of is not None:
            user["effective"] = {"id": self.on_behalf_of}
        doc: dict[str, Any] = {
            "@timestamp": format_timestamp(self.timestamp),
            "event": event,
            "user": user,
        }
        if self.source_ip is not None:
            doc["source"] = {"ip": self.source_ip}
        if self.policy is not None:
            doc["rule"] = {"name": self.policy}
        if self.extra:
            doc["labels"] = dict(self.extra)
        lw: dict[str, Any] = {}
        for name in _LEAKWARDEN_FIELDS:
            value = getattr(self, name)
            if value is None or value == []:
                continue
            lw[name] = list(value) if isinstance(value, list) else value
        if lw:
            doc["leakwarden"] = lw
        return doc

    @classmethod
    def from_ecs(cls, doc: dict[str, Any]) -> AuditEvent:
        """Back from a stored document (the inverse of :meth:`to_ecs`)."""
        event = doc.get("event", {})
        types = event.get("type", [])
        outcome: Outcome | None = next(
            (_OUTCOME_OF_TYPE[t] for t in types if t in _OUTCOME_OF_TYPE), None
        )
        if outcome is None:
            outcome = "success" if event.get("outcome") == "success" else "failure"
        user = doc.get("user", {})
        lw = doc.get("leakwarden", {})
        return cls(
            action=event.get("action", ""),
            outcome=outcome,
            actor=user.get("id", ""),
            timestamp=datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")),
            event_id=event.get("id", ""),
            reason=event.get("reason"),
            on_behalf_of=user.get("effective", {}).get("id"),
            source_ip=doc.get("source", {}).get("ip"),
            policy=doc.get("rule", {}).get("name"),
            extra=doc.get("labels", {}),
            **{name: lw[name] for name in _LEAKWARDEN_FIELDS if name in lw},
        )

    def canonical(self, sequence: int | None = None) -> bytes:
        """The bytes that are stored and hashed: :func:`canonical_bytes` of :meth:`to_ecs`."""
        return canonical_bytes(self.to_ecs(sequence))

    def canonical_template(self) -> tuple[str, str]:
        """The canonical text split around the sequence number: ``head + str(n) + tail`` is
        ``canonical(n)`` (the ledger learns ``n`` only inside its write turn).

        Written out by hand in the canonical key order (the ledger's hot path: several times
        faster than building the document and encoding it); a property test holds it equal to
        :func:`canonical_bytes` of :meth:`to_ecs`."""
        head, tail, _ = self.canonical_parts()
        return head, tail

    def canonical_parts(self) -> tuple[str, str, str]:
        """:meth:`canonical_template` and the ``@timestamp`` text it holds (formatted once: the
        ledger's query copy of the time is cut from it)."""
        q = _quote
        stamp = format_timestamp(self.timestamp)
        ecs_outcome, kind = _OUTCOME_PARTS[self.outcome]
        reason = self.reason
        head = (
            f'{{"@timestamp":"{stamp}","event":{{"action":{q(self.action)},'
            f'"id":{q(self.event_id)},"outcome":{ecs_outcome}'
            + ("" if reason is None else ',"reason":' + q(reason))
            + ',"sequence":'
        )
        out = [_TYPE_TAIL[kind]]
        extra = self.extra
        if extra:
            out += [
                ',"labels":{',
                ",".join([q(k) + ":" + q(v) for k, v in sorted(extra.items())]),
                "}",
            ]
        lw = []
        if self.columns:
            lw.append('"columns":[' + ",".join(map(q, self.columns)) + "]")
        if self.customer_ids:
            lw.append('"customer_ids":[' + ",".join(map(q, self.customer_ids)) + "]")
        if self.customers is not None:
            lw.append(f'"customers":{int(self.customers)}')
        if self.dataset is not None:
            lw.append('"dataset":' + q(self.dataset))
        if self.export_id is not None:
            lw.append('"export_id":' + q(self.export_id))
        if self.purpose is not None:
            lw.append('"purpose":' + q(self.purpose))
        if self.query_fingerprint is not None:
            lw.append('"query_fingerprint":' + q(self.query_fingerprint))
        if self.rows is not None:
            lw.append(f'"rows":{int(self.rows)}')
        if self.ticket is not None:
            lw.append('"ticket":' + q(self.ticket))
        if lw:
            out += [',"leakwarden":{', ",".join(lw), "}"]
        if self.policy is not None:
            out += [',"rule":{"name":', q(self.policy), "}"]
        if self.source_ip is not None:
            out += [',"source":{"ip":', q(self.source_ip), "}"]
        if self.on_behalf_of is not None:
            out += [',"user":{"effective":{"id":', q(self.on_behalf_of), '},"id":']
        else:
            out.append(',"user":{"id":')
        out += [q(self.actor), "}}"]
        return head, "".join(out), stamp


def sequence_of(text: str) -> int | None:
    """``event.sequence`` read from a stored canonical text without parsing the JSON (the
    first ``"sequence":`` is the event's: ``event`` sorts before every other object that could
    hold such a key, and quotes inside strings are escaped)."""
    at = text.find('"sequence":')
    if at < 0:
        return None
    start = at + len('"sequence":')
    end = start
    while end < len(text) and text[end].isdigit():
        end += 1
    return int(text[start:end]) if end > start else None


def canonical_bytes(doc: dict[str, Any]) -> bytes:
    """JSON, keys sorted, no whitespace, UTF-8 (non-ASCII characters not escaped)."""
    return _ENCODER.encode(doc).encode()


_quote = json.encoder.encode_basestring  # the C escaper json.dumps itself uses

# One encoder, made once (json.dumps with options builds a new one per call).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
