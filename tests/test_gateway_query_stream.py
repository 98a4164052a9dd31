"""The streamed answer of ``POST /query`` (``Accept: application/x-ndjson``): the line format,
chunks fetched from a server-side cursor, a cut at the row limit that releases exactly the limit,
the quota charged per chunk and exact under concurrent streams, and the audit record written
before each chunk, so that a failing ledger or quota store stops the stream with nothing more
released.  Small chunks (``chunk_rows`` 2 or 3) make several chunks out of a few rows."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from gateway_world import GatewayWorld, customers_contact_masked, gateway_world
from leakwarden.audit.ledger import AuditWriteError, Ledger
from leakwarden.demo.build import build_company
from leakwarden.gateway.app import create_app
from leakwarden.gateway.identity import TokenStore
from leakwarden.gateway.quota import QuotaExceeded, SqlQuota
from leakwarden.gateway.settings import QuotaLimits
from leakwarden.store import db

BIG = QuotaLimits(day=10_000, week=10_000, vip_day=10_000, vip_week=10_000, rows_per_request=500)
NDJSON = {"Accept": "application/x-ndjson"}


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('company')}/company.db"
    build_company(url, customers=120, seed=5)
    return url


class World(GatewayWorld):
    def app(self, limits: QuotaLimits = BIG, chunk: int = 3, **kw: Any) -> Any:
        app = create_app(self.settings(quota=limits), decide=customers_contact_masked, **kw)
        app.state.queries.chunk_rows = chunk
        return app

    def analyst(self) -> dict[str, str]:
        analyst = self.q(
            "SELECT id FROM employees WHERE department = '数据分析' AND leave_date IS NULL "
            "ORDER BY id LIMIT 1"
        )[0].id
        return self.token(analyst)

    def charged(self) -> int:
        with create_engine(self.store).connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM gateway_quota_ledger")).scalar())

    def query_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["event"]["action"] == "gateway.query"]


@pytest.fixture
def world(company: str, tmp_path: Path) -> Iterator[World]:
    with gateway_world(company, tmp_path, World) as w:
        assert isinstance(w, World)
        yield w


def _stream(c: TestClient, h: dict[str, str], sql: str, **kw: Any) -> tuple[int, list[Any]]:
    r = c.post("/query", json={"sql": sql, "purpose": "analytics", **kw}, headers={**h, **NDJSON})
    if r.status_code != 200:
        return r.status_code, [r.json()]
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert r.text.endswith("\n")
    return 200, [json.loads(line) for line in r.text.splitlines()]


def _ctx(app: Any, headers: dict[str, str]) -> Any:
    """The caller of ``headers`` as the route would see it (for QueryService.open)."""
    from types import SimpleNamespace

    from leakwarden.gateway.app import caller_context

    request = SimpleNamespace(app=app, client=None, headers={}, url=SimpleNamespace(path="/query"))
    return caller_context(request, headers["Authorization"], purpose="analytics")  # type: ignore[arg-type]


def _rows(lines: list[Any]) -> list[Any]:
    return [row for line in lines if line["type"] == "rows" for row in line["rows"]]


def test_stream_is_header_chunks_end_each_chunk_audited(world: World) -> None:
    c = TestClient(world.app(chunk=3))
    status, lines = _stream(c, world.analyst(), "SELECT id, segment FROM customers WHERE id <= 8 "
                            "ORDER BY id")  # fmt: skip
    assert status == 200, lines
    head, *chunks, end = lines
    assert head["type"] == "header" and end["type"] == "end"
    assert head["decision"] == "allowed" and head["reason"] == "test: contact masked"
    assert head["columns"] == ["id", "segment"]
    assert head["policy_ids"] == ["test.masked"]
    assert head["consent"].startswith("permissive-default")
    assert head["treatments"] == {"customers.id": "clear", "customers.segment": "clear"}
    assert head["estimated_rows"] == 8 and head["estimated_customers"] == 8
    assert head["customer_basis"] == "returned"
    # 8 rows in chunks of 3: 3 + 3 + 2
    assert [len(x["rows"]) for x in chunks] == [3, 3, 2]
    assert [r[0] for r in _rows(lines)] == list(range(1, 9))
    assert end == {"type": "end", "complete": True, "stopped": None, "reason": None,
                   "rows": 8, "customers": 8, "audit_index": chunks[-1]["audit_index"]}  # fmt: skip
    # one audit event per chunk, the first being the decision; each chunk names its own
    events = world.query_events()
    assert [e["event"]["sequence"] for e in events] == [x["audit_index"] for x in chunks]
    assert head["audit_index"] == chunks[0]["audit_index"]
    assert [e["labels"]["stage"] for e in events] == ["decision", "release", "release"]
    assert [e["leakwarden"]["rows"] for e in events] == [3, 3, 2]
    ids = [i for e in events for i in e["leakwarden"]["customer_ids"]]
    assert sorted(map(int, ids)) == list(range(1, 9))  # each customer once, in its chunk
    assert [e["labels"]["last"] for e in events] == ["false", "false", "true"]
    assert world.charged() == 8


def test_a_cut_at_the_row_limit_releases_exactly_the_limit(world: World) -> None:
    c = TestClient(world.app(chunk=3))
    h = world.analyst()
    for limit in (7, 6, 1):  # inside a chunk, on a chunk boundary, the first row only
        status, lines = _stream(
            c, h, "SELECT id FROM customers WHERE id <= 10 ORDER BY id", max_rows=limit
        )
        assert status == 200, lines
        assert _rows(lines) == [[i] for i in range(1, limit + 1)]
        end = lines[-1]
        assert end["complete"] is False and end["stopped"] == "row limit"
        assert end["rows"] == limit and f"first {limit} rows" in end["reason"]
    # the quota was charged the released customers only (never the row past the limit)
    assert world.charged() == 7
    # the audit covers exactly the rows released
    assert sum(e["leakwarden"]["rows"] for e in world.query_events()) == 7 + 6 + 1
    # a query with exactly the limit's rows is complete
    status, lines = _stream(c, h, "SELECT id FROM customers WHERE id <= 6 ORDER BY id", max_rows=6)
    assert lines[-1]["complete"] is True and len(_rows(lines)) == 6


def test_the_one_document_answer_is_the_same_stream(world: World) -> None:
    c = TestClient(world.app(chunk=2))
    r = c.post(
        "/query",
        json={"sql": "SELECT id FROM customers WHERE id <= 5 ORDER BY id", "max_rows": 4,
              "purpose": "analytics"},
        headers={**world.analyst(), "Accept": "application/json"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rows"] == [[1], [2], [3], [4]] and body["stopped"] == "row limit"
    assert body["truncated"] is True and body["customers"] == 4
    assert body["estimated_rows"] == 5 and body["estimated_customers"] == 5


def test_only_chunk_and_lookahead_are_fetched_before_release(world: World) -> None:
    """The cursor is read chunk by chunk: after the first chunk was admitted, the service has
    fetched that chunk and one of lookahead, not the whole answer."""
    app = world.app(chunk=2)
    queries = app.state.queries
    ctx = _ctx(app, world.analyst())
    stream = queries.open(ctx, "SELECT id FROM customers WHERE id <= 9 ORDER BY id")
    assert stream.reader.fetched == 4  # 2 released with the header, 2 looked ahead
    pieces = list(stream.pieces())
    assert [len(p.rows or []) for p in pieces] == [2, 2, 2, 2, 1, 0]
    assert pieces[-1].end is not None and pieces[-1].end["complete"] is True


def test_quota_is_charged_per_chunk_and_stops_the_stream(world: World) -> None:
    regular = [r.id for r in world.q("SELECT id FROM customers WHERE vip = 0 ORDER BY id LIMIT 9")]
    quota = QuotaLimits(day=5, week=100, vip_day=100, vip_week=100, rows_per_request=100)
    c = TestClient(world.app(limits=quota, chunk=3))
    ids = ",".join(map(str, regular))
    status, lines = _stream(c, world.analyst(), f"SELECT id FROM customers WHERE id IN ({ids}) "
                            "ORDER BY id")  # fmt: skip
    assert status == 200, lines
    # chunks 3 + 2 (the second chunk's prefix that fits), then the end at the quota
    assert [len(x["rows"]) for x in lines[1:-1]] == [3, 2]
    assert [r[0] for r in _rows(lines)] == regular[:5]
    end = lines[-1]
    assert end["stopped"] == "quota" and "distinct customers per day" in end["reason"]
    assert world.charged() == 5
    assert world.query_events()[-1]["labels"]["stopped"] == "quota"


def test_quota_stays_exact_under_concurrent_streams(world: World) -> None:
    """Four streams of one person, ten different customers each, against a 25-a-day quota:
    exactly 25 customers leave in all, as many as charged and as audited."""
    regular = [r.id for r in world.q("SELECT id FROM customers WHERE vip = 0 ORDER BY id LIMIT 40")]
    assert len(regular) == 40
    quota = QuotaLimits(day=25, week=100, vip_day=100, vip_week=100, rows_per_request=100)
    app = world.app(limits=quota, chunk=3)
    h = world.analyst()
    released: list[list[Any]] = []
    errors: list[Any] = []
    start = threading.Barrier(4)
    lock = threading.Lock()

    def worker(mine: list[int]) -> None:
        c = TestClient(app)
        start.wait()
        ids = ",".join(map(str, mine))
        status, lines = _stream(c, h, f"SELECT id FROM customers WHERE id IN ({ids}) ORDER BY id")
        with lock:
            if status == 200:
                released.append(_rows(lines))
            else:
                errors.append((status, lines))

    threads = [threading.Thread(target=worker, args=(regular[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = [r[0] for rows in released for r in rows]
    assert all(status == 429 for status, _ in errors), errors
    assert len(out) == len(set(out)) == 25
    assert world.charged() == 25
    audited = {
        int(i)
        for e in world.query_events()
        if e["event"]["outcome"] == "success"
        for i in e["leakwarden"].get("customer_ids", [])
    }
    assert audited == set(out)


class FailingLedger:
    """The real ledger, failing on its ``fail_at``-th append (1-based) and after."""

    def __init__(self, url: str, fail_at: int) -> None:
        self.real = Ledger.open(url)
        self.fail_at = fail_at
        self.calls = 0

    def append(self, event: Any) -> Any:
        self.calls += 1
        if self.calls >= self.fail_at:
            raise AuditWriteError("disk full (test)")
        return self.real.append(event)


def test_audit_failure_mid_stream_releases_nothing_after(world: World) -> None:
    ledger = FailingLedger(world.store, fail_at=2)
    c = TestClient(world.app(chunk=2, ledger=ledger))
    status, lines = _stream(c, world.analyst(), "SELECT id FROM customers WHERE id <= 7 "
                            "ORDER BY id")  # fmt: skip
    assert status == 200, lines
    # the first chunk (audited by append 1) left; the second chunk's audit failed
    assert [x["type"] for x in lines] == ["header", "rows", "end"]
    assert _rows(lines) == [[1], [2]]
    end = lines[-1]
    assert end["complete"] is False and end["stopped"] == "error"
    assert "audit ledger unavailable" in end["reason"] and "nothing further" in end["reason"]
    assert end["rows"] == 2
    # what left is covered by the one durable event
    events = world.query_events()
    assert len(events) == 1 and events[0]["leakwarden"]["rows"] == 2
    # the same through the one-document answer: the audited chunk and the reason
    ledger.calls = 0
    r = c.post("/query", json={"sql": "SELECT id FROM customers WHERE id <= 7 ORDER BY id",
                               "purpose": "analytics"}, headers=world.analyst())  # fmt: skip
    assert r.status_code == 200 and r.json()["rows"] == [[1], [2]]
    assert r.json()["stopped"] == "error"


def test_audit_failure_of_the_decision_sends_nothing(world: World) -> None:
    c = TestClient(world.app(chunk=2, ledger=FailingLedger(world.store, fail_at=1)))
    status, lines = _stream(c, world.analyst(), "SELECT id FROM customers WHERE id <= 7")
    assert status == 503 and "rows" not in lines[0]


def test_quota_store_failure_mid_stream_stops_it(world: World) -> None:
    class FailingQuota(SqlQuota):
        calls = 0

        def charge(self, *a: Any, **kw: Any) -> Any:
            FailingQuota.calls += 1
            if FailingQuota.calls >= 2:
                raise RuntimeError("store down (test)")
            return super().charge(*a, **kw)

    c = TestClient(world.app(chunk=2, quota=FailingQuota.for_store(world.store, BIG)))
    status, lines = _stream(c, world.analyst(), "SELECT id FROM customers WHERE id <= 7 "
                            "ORDER BY id")  # fmt: skip
    assert status == 200 and _rows(lines) == [[1], [2]]
    assert lines[-1]["stopped"] == "error" and "RuntimeError" in lines[-1]["reason"]
    stop = world.query_events()[-1]
    assert stop["labels"]["stage"] == "stop" and stop["event"]["outcome"] == "failure"


def test_consent_refusal_mid_stream_stops_before_that_chunk(world: World) -> None:
    from leakwarden.gateway.consent import ConsentResult

    class NoFive:
        label = "test: customer 5 refused"

        def check(self, purpose: str, customer_ids: Any) -> ConsentResult:
            ok = 5 not in customer_ids
            return ConsentResult(ok, "allowed" if ok else "customer 5 did not consent", self.label)

    c = TestClient(world.app(chunk=2, consent=NoFive()))
    status, lines = _stream(c, world.analyst(), "SELECT id FROM customers WHERE id <= 7 "
                            "ORDER BY id")  # fmt: skip
    assert status == 200 and _rows(lines) == [[1], [2], [3], [4]]
    assert lines[-1]["stopped"] == "consent" and "did not consent" in lines[-1]["reason"]
    assert world.charged() == 4  # chunk 3 (customers 5, 6) was never charged


def test_charge_prefix_finds_the_longest_prefix_that_fits() -> None:
    """Against a fake quota of 4 new customers: rows of customers 1,1,2,3,4,5,6 -> the first
    5 rows (customers 1-4) are charged, each customer once, in order."""
    from leakwarden.gateway.query_stream import charge_prefix

    seen: set[int] = set()
    charged_rows: list[int] = []

    def charge(customers: dict[int, bool], n: int, size: int) -> None:
        if len(seen | set(customers)) > 4:
            raise QuotaExceeded("distinct customers per day", 4, None, "test")
        seen.update(customers)
        charged_rows.append(n)

    keys = [[1], [1], [2], [3], [4], [5], [6]]
    rows: list[list[Any]] = [[k[0]] for k in keys]
    n, refused = charge_prefix(charge, rows, keys, {})
    assert n == 5 and seen == {1, 2, 3, 4} and sum(charged_rows) == 5
    assert refused is not None and refused.quota == "distinct customers per day"
    n, refused = charge_prefix(charge, rows[:2], keys[:2], {})
    assert n == 2 and refused is None


@pytest.mark.postgres
def test_stream_on_postgres_uses_a_server_side_cursor(pg_server: Any, tmp_path: Path) -> None:
    company = pg_server.create_database()
    store = pg_server.create_database()
    try:
        build_company(company, customers=40, seed=5)
        engine = db.make_engine(store)
        db.upgrade(engine)
        w = World(company, store, TokenStore(engine), tmp_path)
        app = w.app(chunk=2)
        c = TestClient(app)
        h = w.analyst()
        status, lines = _stream(c, h, "SELECT id FROM customers ORDER BY id", max_rows=5)
        assert status == 200, lines
        assert _rows(lines) == [[1], [2], [3], [4], [5]]
        assert [len(x["rows"]) for x in lines[1:-1]] == [2, 2, 1]
        assert lines[-1]["stopped"] == "row limit" and w.charged() == 5

        ctx = _ctx(app, h)
        stream = app.state.queries.open(ctx, "SELECT id FROM customers ORDER BY id", max_rows=9)
        # while the answer is open, its rows wait in a cursor on the server
        raw = stream.reader.result.cursor
        assert type(raw).__name__ == "ServerCursor", type(raw)
        assert stream.reader.fetched == 4
        assert sum(len(p.rows or []) for p in stream.pieces()) == 9
        # the aggregate mode's probe runs there too
        r = c.post("/query", headers=h, json={"sql": "SELECT segment, COUNT(*) AS n FROM customers "
                   "GROUP BY segment", "purpose": "analytics", "mode": "aggregate"})  # fmt: skip
        want = w.q("SELECT segment, COUNT(*) AS n FROM customers GROUP BY segment")
        assert r.status_code == 200, r.text
        assert sorted(map(tuple, r.json()["rows"])) == sorted(
            (x.segment, x.n) for x in want if x.n >= 10
        )
        assert r.json()["notes"]["suppressed"] == sum(1 for x in want if x.n < 10)
        engine.dispose()
    finally:
        pg_server.drop_database(company)
        pg_server.drop_database(store)


# ----------------------------------------------------------------------------- the CLI client


def _cli(world: World, monkeypatch: pytest.MonkeyPatch, app: Any) -> Any:
    import typer
    from typer.testing import CliRunner

    from leakwarden.gateway import command

    client = TestClient(app)
    monkeypatch.setattr(command, "_http_client", lambda url, timeout: client)
    cli = typer.Typer()
    cli.command("query")(command.query_command)
    token = world.analyst()["Authorization"].removeprefix("Bearer ")

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), env={"LEAKWARDEN_TOKEN": token})

    return run


SQL7 = "SELECT id, segment FROM customers WHERE id <= 7 ORDER BY id"


def test_cli_writes_the_streamed_answer_to_a_file(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = _cli(world, monkeypatch, world.app(chunk=2))
    segments = [
        r.segment for r in world.q("SELECT segment FROM customers WHERE id <= 7 ORDER BY id")
    ]
    out = tmp_path / "out" / "answer.csv"
    r = run(SQL7, "--purpose", "analytics", "--format", "csv", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_text().splitlines() == ["id,segment"] + [
        f"{i},{s}" for i, s in zip(range(1, 8), segments, strict=True)
    ]
    assert "7 rows, 7 customers charged (returned)" in r.stderr
    assert [p.name for p in out.parent.iterdir()] == ["answer.csv"]  # no temporary left
    nd = tmp_path / "answer.ndjson"
    r = run(SQL7, "--purpose", "analytics", "--format", "ndjson", "-o", str(nd), "--max-rows", "3")
    assert r.exit_code == 0, r.output
    kinds = [json.loads(line)["type"] for line in nd.read_text().splitlines()]
    assert kinds == ["header", "rows", "rows", "end"]
    assert "first 3 rows" in r.stderr
    r = run(SQL7, "--purpose", "analytics", "-o", str(nd))
    assert r.exit_code == 2 and "--format" in r.stderr


def test_cli_keeps_the_old_file_when_the_answer_is_cut(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from leakwarden.gateway.query_stream import QueryStream

    real = QueryStream.lines

    def without_end(self: QueryStream) -> Iterator[bytes]:
        for line in real(self):
            if b'"type":"end"' not in line:
                yield line

    monkeypatch.setattr(QueryStream, "lines", without_end)
    run = _cli(world, monkeypatch, world.app(chunk=2))
    out = tmp_path / "out" / "answer.csv"
    out.parent.mkdir()
    out.write_text("the previous answer\n")
    r = run(SQL7, "--purpose", "analytics", "--format", "csv", "-o", str(out))
    assert r.exit_code == 1 and "cut" in r.stderr and "no file written" in r.stderr
    assert out.read_text() == "the previous answer\n"
    assert [p.name for p in out.parent.iterdir()] == ["answer.csv"]


def test_cli_exits_1_when_the_stream_stopped_on_an_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _cli(world, monkeypatch, world.app(chunk=2, ledger=FailingLedger(world.store, 2)))
    r = run(SQL7, "--purpose", "analytics", "--format", "json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert [row[0] for row in doc["rows"]] == [1, 2] and doc["end"]["stopped"] == "error"
    assert "audit ledger unavailable" in r.stderr


def test_read_answer_refuses_malformed_streams() -> None:
    from leakwarden.gateway.query_client import StreamCut, read_answer

    head = '{"type":"header","columns":["id"]}'
    end = '{"type":"end","complete":true}'
    assert read_answer([head, '{"type":"rows","rows":[[1]]}', end]).rows == [[1]]
    for lines, why in (
        ([head, '{"type":"rows","rows":[[1]]}'], "cut in transit"),
        (['{"type":"rows","rows":[[1]]}', end], "header"),
        ([head, end, '{"type":"rows","rows":[[2]]}'], "after the end"),
        ([head, "{not json", end], "line 2: not JSON"),
    ):
        with pytest.raises(StreamCut, match=why):
            read_answer(lines)


def test_a_stream_open_past_its_deadline_stops(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leakwarden.gateway.query_stream import ChunkReader, ListResult, TooSlow

    reader = ChunkReader(ListResult([(1,), (2,), (3,)]), 10, 1, contextlib.nullcontext)
    reader.deadline = time.monotonic() + 3600
    assert reader.next() == [(1,)]
    reader.deadline = time.monotonic() - 1
    with pytest.raises(TooSlow):
        reader.next()
    # in a stream: the third read (the second lookahead) is past the deadline
    real, calls = ChunkReader.next, []

    def late(self: ChunkReader) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise TooSlow
        return real(self)

    monkeypatch.setattr(ChunkReader, "next", late)
    c = TestClient(world.app(chunk=2))
    status, lines = _stream(c, world.analyst(), SQL7)
    assert status == 200 and [r[0] for r in _rows(lines)] == [1, 2]
    assert lines[-1]["stopped"] == "time limit" and "nothing further" in lines[-1]["reason"]
    stop = world.query_events()[-1]
    assert stop["labels"]["stopped"] == "time limit" and stop["event"]["outcome"] == "failure"


def test_property_released_rows_are_the_direct_prefix_and_all_audited(world: World) -> None:
    """For any chunk size, row limit and range of customers: the rows that leave are exactly the
    first min(limit, n) rows of the same query run directly, the end line says cut exactly when
    n > limit, and the audit events of the answer carry exactly the rows and customers that
    left."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    app = world.app(chunk=3)
    c = TestClient(app)
    h = world.analyst()

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        chunk=st.integers(1, 5),
        limit=st.integers(1, 12),
        low=st.integers(1, 60),
        span=st.integers(0, 15),
    )
    def check(chunk: int, limit: int, low: int, span: int) -> None:
        app.state.queries.chunk_rows = chunk
        sql = (
            f"SELECT id, segment FROM customers WHERE id BETWEEN {low} AND {low + span} ORDER BY id"
        )
        direct = [[r.id, r.segment] for r in world.q(sql)]
        before = len(world.query_events())
        status, lines = _stream(c, h, sql, max_rows=limit)
        assert status == 200, lines
        assert _rows(lines) == direct[:limit]
        end = lines[-1]
        assert end["complete"] is (len(direct) <= limit)
        assert end["stopped"] == (None if len(direct) <= limit else "row limit")
        events = world.query_events()[before:]
        assert sum(e["leakwarden"].get("rows", 0) for e in events) == len(direct[:limit])
        audited = [int(i) for e in events for i in e.get("leakwarden", {}).get("customer_ids", [])]
        assert sorted(audited) == [r[0] for r in direct[:limit]]

    check()
