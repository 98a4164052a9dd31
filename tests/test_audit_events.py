"""The event's canonical form: a hand-checked example of the documented serialisation, the ECS
round trip, and the ledger's fast writer held equal to the plain JSON encoding."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakwarden.audit.events import (
    AuditEvent,
    canonical_bytes,
    format_timestamp,
    normalize_ip,
    sequence_of,
)
from leakwarden.audit.ledger import _prepare


def test_canonical_form_of_a_known_event() -> None:
    e = AuditEvent(
        action="gateway.export",
        outcome="denied",
        actor="emp0042",
        timestamp=datetime(2026, 11, 23, 20, 30, 1, 5, tzinfo=timezone(timedelta(hours=8))),
        event_id="e1",
        reason="quota exceeded",
        dataset="crm/customers",
        rows=0,
        customers=0,
        policy="bulk-export",
        source_ip="10.0.0.7",
        extra={"b": "2", "a": "é"},
    )
    # written by hand from the documented mapping: sorted keys, no spaces, UTF-8, UTC "Z"
    expected = (
        '{"@timestamp":"2026-11-23T12:30:01.000005Z",'
        '"event":{"action":"gateway.export","id":"e1","outcome":"failure",'
        '"reason":"quota exceeded","sequence":9,"type":["access","denied"]},'
        '"labels":{"a":"é","b":"2"},'
        '"leakwarden":{"customers":0,"dataset":"crm/customers","rows":0},'
        '"rule":{"name":"bulk-export"},"source":{"ip":"10.0.0.7"},"user":{"id":"emp0042"}}'
    )
    assert e.canonical(9) == expected.encode("utf-8")
    head, tail = e.canonical_template()
    assert (head + "9" + tail).encode() == expected.encode()
    assert sequence_of(expected) == 9
    assert AuditEvent.from_ecs(json.loads(expected)) == e
    leaf = hashlib.sha256(b"\x00" + expected.encode()).hexdigest()
    assert len(leaf) == 64


text = st.text(max_size=12)
opt = st.none() | text


@settings(max_examples=300, deadline=None)
@given(
    action=text.filter(bool),
    actor=text.filter(bool),
    outcome=st.sampled_from(["success", "failure", "denied"]),
    reason=opt,
    purpose=opt,
    dataset=opt,
    columns=st.lists(text, max_size=3),
    rows=st.none() | st.integers(0, 10**12),
    customers=st.none() | st.integers(0, 10**9),
    customer_ids=st.lists(text, max_size=3),
    ticket=opt,
    export_id=opt,
    policy=opt,
    on_behalf_of=opt,
    query_fingerprint=opt,
    extra=st.dictionaries(text, text, max_size=3),
    seq=st.integers(0, 10**12),
    micro=st.integers(0, 999_999),
)
def test_fast_writer_equals_plain_json(seq: int, micro: int, **fields: object) -> None:
    e = AuditEvent(timestamp=datetime(2026, 1, 2, 3, 4, 5, micro, tzinfo=UTC), **fields)  # type: ignore[arg-type]
    head, tail = e.canonical_template()
    assert (head + str(seq) + tail).encode() == canonical_bytes(e.to_ecs(seq))
    assert sequence_of(head + str(seq) + tail) == seq
    # the ledger's SQLite copy of the time, cut from the formatted stamp, is what SQLAlchemy
    # stores for the same UTC datetime (so `audit query --since` compares like with like)
    assert _prepare(e, True).copies[0] == f"2026-01-02 03:04:05.{micro:06d}"
    assert _prepare(e, False).copies[0] == e.timestamp


@settings(max_examples=300, deadline=None)
@given(
    when=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5))]
        ),
    )
)
def test_timestamp_format_is_utc_isoformat_with_z(when: datetime) -> None:
    utc = when.astimezone(UTC)
    assert format_timestamp(when) == utc.isoformat(timespec="microseconds").replace("+00:00", "Z")
    assert len(format_timestamp(when)) == 27


octet = st.sampled_from(
    ["0", "00", "01", "7", "10", "099", "255", "256", "1000", "", " ", "a", "-1"]
)


@settings(max_examples=500, deadline=None)
@given(
    parts=st.lists(octet | st.integers(0, 300).map(str), min_size=2, max_size=5),
    sep=st.sampled_from([".", ".", ".", ":"]),
    pad=st.sampled_from(["", " ", "\t"]),
)
def test_ip_fast_path_agrees_with_ipaddress(parts: list[str], sep: str, pad: str) -> None:
    """The inet_pton shortcut accepts and writes exactly what ipaddress does."""
    import ipaddress

    text = pad + sep.join(parts) + pad
    try:
        expected: str | None = str(ipaddress.ip_address(text.strip()))
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(ValueError, match="source_ip"):
            normalize_ip(text)
    else:
        assert normalize_ip(text) == expected


def test_ip_examples() -> None:
    assert normalize_ip(" 192.168.0.1 ") == "192.168.0.1"
    assert normalize_ip("2001:DB8:0:0::1") == "2001:db8::1"  # RFC 5952 form, by hand
    assert normalize_ip("::ffff:10.0.0.1") == str(
        __import__("ipaddress").ip_address("::ffff:10.0.0.1")
    )
    for bad in ("192.168.0.01", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 5", "1..2.3"):
        with pytest.raises(ValueError, match="source_ip"):
            normalize_ip(bad)
