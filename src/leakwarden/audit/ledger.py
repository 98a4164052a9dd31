"""The ledger: durable, concurrent appends to the Merkle log, and reads of it (events, roots,
proofs, checkpoints).

**Durability.**  :meth:`Ledger.append` returns only once the event's transaction has committed:
SQLite in WAL mode with ``synchronous=FULL`` (the WAL is fsynced at every commit), PostgreSQL with
``synchronous_commit=on`` for the ledger's sessions.  A crash loses no acknowledged event, and a
transaction that did not commit leaves no trace, so the log always verifies.

**Concurrency.**  Writers take turns on the one ``audit_head`` row: ``BEGIN IMMEDIATE`` on SQLite
(the database's write lock), ``SELECT ... FOR UPDATE`` on PostgreSQL.  Inside that turn a writer
reads the size, inserts its leaves at the next indexes, adds the cached subtree hashes its leaves
complete, and moves the size on, so indexes and tree never disagree, across threads and processes.

**Group commit.**  An :meth:`append` that finds no write under way and nothing queued commits
its event itself, in the caller's thread (a lone request pays no thread hand-off, which on a
busy machine costs more than the fsync).  Calls that arrive while a write is under way are
queued and handed to one committer thread, which writes everything waiting in one transaction
(one fsync for the lot) once that write is done; :meth:`append_many` writes a caller's own batch
in one transaction.

**Failure.**  Anything that stops a write raises :class:`AuditWriteError`; callers then fail
closed (release nothing).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from typing import TYPE_CHECKING, Any, NamedTuple

from leakwarden.audit.events import AuditEvent
from leakwarden.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    fold_pieces,
    inclusion_proof,
    perfect_pieces,
    root_of,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from leakwarden.audit.checkpoints import Publisher

# Levels of the cached complete subtrees: 2**8, 2**16 and 2**24 leaves.
NODE_LEVELS = (8, 16, 24)
LEVEL_STEP = 8
# At most this many events go into one transaction of the committer thread.
MAX_BATCH = 5000
# SQLite connections of the ledger: page cache (KiB) and WAL size (pages) between checkpoints.
SQLITE_CACHE_KIB = 65_536
SQLITE_WAL_PAGES = 16_384


class AuditWriteError(Exception):
    """The ledger could not durably write an event: the caller must fail closed."""


class LedgerError(Exception):
    """The ledger cannot do what was asked (unknown event, bad size...)."""


@dataclass(frozen=True, slots=True)
class AppendReceipt:
    """Proof of acknowledgement: the event's leaf index and hash, and the log's size right
    after the transaction that committed it."""

    index: int
    leaf_hash: bytes
    event_id: str
    size: int


class _Prepared(NamedTuple):
    event: AuditEvent
    head: str
    tail: str
    # the row's query copies, in column order: ts (as the backend's parameter), actor, action,
    # outcome, dataset
    copies: tuple[Any, ...]


class _Waiting:
    """One :meth:`Ledger.append` call waiting for its commit.  ``done`` is a plain lock, held
    until the committer has set ``receipts`` or ``error``: the cheapest wake-up there is (a
    ``Future`` builds a condition and a lock per wait, which with dozens of callers cost more
    CPU than their transaction)."""

    __slots__ = ("done", "error", "items", "receipts")

    def __init__(self, items: list[_Prepared]) -> None:
        self.items = items
        self.done = threading.Lock()
        self.done.acquire()
        self.receipts: list[AppendReceipt] = []
        self.error: AuditWriteError | None = None


def _prepare(event: AuditEvent, sqlite: bool) -> _Prepared:
    if not isinstance(event, AuditEvent):
        raise TypeError(f"Ledger.append takes an AuditEvent, not {type(event).__name__}")
    head, tail, stamp = event.canonical_parts()
    # SQLite's copy of the time, as SQLAlchemy stores it ("2026-11-23 12:00:00.000000"), cut
    # from the "2026-11-23T12:00:00.000000Z" already formatted (see _sqlite_ts)
    ts = f"{stamp[:10]} {stamp[11:26]}" if sqlite else event.timestamp
    copies = (ts, event.actor, event.action, event.outcome, event.dataset)
    return _Prepared(event, head, tail, copies)


def _sqlite_ts(ts: datetime) -> str:
    """How SQLAlchemy stores a UTC datetime in SQLite (``UTCDateTime`` drops the zone)."""
    utc = ts if ts.tzinfo is UTC else ts.astimezone(UTC)
    return utc.isoformat(sep=" ", timespec="microseconds")[:-6]


class Ledger:
    """One ledger in one store.  Open with :meth:`open`; thread-safe; close when done."""

    def __init__(self, engine: Engine, *, publisher: Publisher | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.publisher = publisher
        self._ph = "?" if self.dialect == "sqlite" else "%s"
        self._cv = threading.Condition()
        self._queue: list[_Waiting] = []
        # a write of append() is under way (a caller's own, or the committer thread's batch)
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._lock_path: str | None = None
        # Hashes of complete subtrees never change: proofs reuse them (bounded, see SubtreeReader)
        self._subtree_cache: dict[tuple[int, int], bytes] = {}
        database = engine.url.database
        if self.dialect == "sqlite" and database not in (None, "", ":memory:"):
            self._lock_path = f"{database}-auditlock"

    # ------------------------------------------------------------------ opening and closing

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        publisher: Publisher | None = None,
        migrate: bool = True,
    ) -> Ledger:
        """The ledger in the store at ``url`` (default: the store's default URL), its tables
        created or migrated first (unless ``migrate`` is false).  ``publisher`` signs and
        publishes checkpoints as the log grows (see :mod:`leakwarden.audit.checkpoints`);
        without one, the environment's (``$LEAKWARDEN_AUDIT_KEY`` ...) if it sets a key."""
        from sqlalchemy import event

        from leakwarden.audit.checkpoints import Publisher
        from leakwarden.store import db

        if publisher is None:
            try:
                publisher = Publisher.from_env()
            except ValueError as exc:
                raise AuditWriteError(f"cannot open the audit ledger: {exc}") from None

        from sqlalchemy.engine import make_url

        target = db.normalize_url(url if url is not None else db.default_url())
        try:
            parsed = make_url(target)
        except Exception:
            raise AuditWriteError(f"not a database URL: {db.redact_url(target)!r}") from None
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            raise AuditWriteError(
                "the audit ledger needs a SQLite file or a PostgreSQL server, not an in-memory "
                "database (it would vanish, and each connection would see another one)"
            )
        try:
            engine = db.make_engine(target, pool_size=10, max_overflow=20)
            if migrate:
                db.upgrade(engine)
        except db.StoreError as exc:
            raise AuditWriteError(f"cannot open the audit ledger: {exc}") from None
        if engine.dialect.name == "sqlite":

            def _durable(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.execute("PRAGMA synchronous = FULL")
                # A batch dirties many index pages: a larger page cache and WAL checkpoints
                # every 64 MB instead of every 4 MB cut the write cost per event by half or
                # more; each commit is still fsynced.
                dbapi_connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
                dbapi_connection.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_PAGES}")

            event.listen(engine, "connect", _durable)
            engine.dispose()  # connections made before the listener lack the pragma
        return cls(engine, publisher=publisher)

    def close(self) -> None:
        """Finish what is queued, stop the committer thread, release the connections."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self.publisher is not None:
            self._publish_on_close(self.publisher)
        self.engine.dispose()

    def _publish_on_close(self, publisher: Publisher) -> None:
        try:
            size = self.size()
            if size > publisher.last_size:
                publisher.publish(self, size)
        except Exception:  # the events are committed; only the checkpoint is late
            import logging

            logging.getLogger(__name__).exception("checkpoint publication failed")

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ appending

    def append(self, event: AuditEvent) -> AppendReceipt:
        """Append one event; return once it is durably committed.  Concurrent calls share
        transactions (group commit).  :class:`AuditWriteError` if it could not be written."""
        item = _prepare(event, self.dialect == "sqlite")
        with self._cv:
            if self._closed:
                raise AuditWriteError("the audit ledger is closed")
            lead = not self._busy and not self._queue
            if lead:
                self._busy = True
            else:
                waiting = _Waiting([item])
                self._queue.append(waiting)
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._committer, name="audit-ledger-committer", daemon=True
                    )
                    self._thread.start()
                self._cv.notify_all()
        if lead:
            return self._commit_alone(item)
        waiting.done.acquire()  # released by the committer once the outcome is known
        if waiting.error is not None:
            raise waiting.error
        return waiting.receipts[0]

    def _commit_alone(self, item: _Prepared) -> AppendReceipt:
        """The caller's own transaction, when nothing else was being written; whatever queued
        up meanwhile is then the committer thread's."""
        try:
            receipts = self._commit([item])
        finally:
            with self._cv:
                self._busy = False
                if self._queue:
                    self._cv.notify_all()
        self._after_commit(receipts[-1].size)
        return receipts[0]

    def append_many(self, events: Iterable[AuditEvent]) -> list[AppendReceipt]:
        """Append events in one transaction, in order; return once all are committed."""
        items = [_prepare(e, self.dialect == "sqlite") for e in events]
        if self._closed:
            raise AuditWriteError("the audit ledger is closed")
        if not items:
            return []
        receipts = self._commit(items)
        self._after_commit(receipts[-1].size)
        return receipts

    def _committer(self) -> None:
        while True:
            with self._cv:
                while not self._queue or self._busy:
                    if self._closed and not self._queue:
                        return
                    self._cv.wait()
                self._busy = True
                batch: list[_Waiting] = []
                count = 0
                while self._queue and count < MAX_BATCH:
                    batch.append(self._queue.pop(0))
                    count += len(batch[-1].items)
            items = [item for w in batch for item in w.items]
            try:
                receipts = self._commit(items)
            except Exception as exc:  # never leave a caller waiting: every failure is reported
                err = (
                    exc
                    if isinstance(exc, AuditWriteError)
                    else AuditWriteError(f"audit event not written: {_reason(exc)}")
                )
                self._idle()
                for w in batch:
                    w.error = err
                    w.done.release()
                continue
            self._idle()
            pos = 0
            for w in batch:
                w.receipts = receipts[pos : pos + len(w.items)]
                pos += len(w.items)
                w.done.release()
            self._after_commit(receipts[-1].size)

    def _idle(self) -> None:
        with self._cv:
            self._busy = False

    def _after_commit(self, size: int) -> None:
        if self.publisher is not None and self.publisher.due(size):
            try:
                self.publisher.publish(self, size)
            except Exception:  # a failed publication must not fail appends
                import logging

                logging.getLogger(__name__).exception("checkpoint publication failed")

    def _commit(self, items: Sequence[_Prepared]) -> list[AppendReceipt]:
        try:
            raw = self.engine.raw_connection()
        except Exception as exc:
            raise AuditWriteError(f"cannot reach the audit store: {_reason(exc)}") from None
        lock_fd = self._take_file_lock()
        try:
            cur = raw.cursor()
            try:
                if self.dialect == "postgresql":
                    start, hashes, size = self._write_pg(raw, cur, items)
                else:
                    start, hashes, size = self._write_sqlite(raw, cur, items)
            finally:
                cur.close()
        except AuditWriteError:
            _rollback(raw)
            raise
        except Exception as exc:
            _rollback(raw)
            raise AuditWriteError(f"audit event not written: {_reason(exc)}") from None
        finally:
            raw.close()
            if lock_fd is not None:
                os.close(lock_fd)  # releases the lock
        return [
            AppendReceipt(start + i, hashes[i], it.event.event_id, size)
            for i, it in enumerate(items)
        ]

    def _rows(
        self, items: Sequence[_Prepared], start: int
    ) -> tuple[list[bytes], list[tuple[Any, ...]]]:
        texts = [f"{it.head}{start + i}{it.tail}" for i, it in enumerate(items)]
        hashes = [sha256(b"\x00" + t.encode()).digest() for t in texts]
        rows = [(start + i, *it.copies, texts[i], hashes[i]) for i, it in enumerate(items)]
        return hashes, rows

    def _write_sqlite(
        self, raw: Any, cur: Any, items: Sequence[_Prepared]
    ) -> tuple[int, list[bytes], int]:
        ph = self._ph
        cur.execute("BEGIN IMMEDIATE")
        cur.execute("SELECT size FROM audit_head WHERE id = 1")
        start = _head_size(cur.fetchone())
        hashes, rows = self._rows(items, start)
        cur.executemany(
            f"INSERT INTO audit_log ({_LOG_COLUMNS}) VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, "
            f"{ph}, {ph}, {ph})",
            rows,
        )
        nodes = self._completed_nodes(cur, start, hashes)
        if nodes:
            cur.executemany(
                f"INSERT INTO audit_nodes (level, idx, hash) VALUES ({ph}, {ph}, {ph})", nodes
            )
        size = start + len(items)
        cur.execute(f"UPDATE audit_head SET size = {ph} WHERE id = 1", (size,))
        raw.commit()
        return start, hashes, size

    def _write_pg(
        self, raw: Any, cur: Any, items: Sequence[_Prepared]
    ) -> tuple[int, list[bytes], int]:
        """The same transaction in psycopg's pipeline mode (:func:`pipelined_transaction`): the
        durable-commit setting and the head's lock go with ``BEGIN`` in one round trip, the
        leaves, nodes, new size and ``COMMIT`` in another, which returns once the server has
        flushed the commit.  A batch of more than :data:`_PIPELINED_LEAVES` events goes by
        ``COPY`` in an ordinary transaction (a pipeline cannot carry ``COPY``)."""
        from leakwarden.store.pipeline import pipelined_transaction

        small = len(items) <= _PIPELINED_LEAVES
        with pipelined_transaction(raw.dbapi_connection, pipeline=small):
            cur.execute("SET LOCAL synchronous_commit TO on")
            cur.execute("SELECT size FROM audit_head WHERE id = 1 FOR UPDATE")
            start = _head_size(cur.fetchone())
            hashes, rows = self._rows(items, start)
            size = start + len(items)
            if small:
                cur.executemany(
                    f"INSERT INTO audit_log ({_LOG_COLUMNS}) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
            else:
                with cur.copy(f"COPY audit_log ({_LOG_COLUMNS}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r)
            nodes = self._completed_nodes(cur, start, hashes)
            if nodes:
                cur.executemany(
                    "INSERT INTO audit_nodes (level, idx, hash) VALUES (%s, %s, %s)", nodes
                )
            cur.execute("UPDATE audit_head SET size = %s WHERE id = 1", (size,))
        return start, hashes, size

    def _take_file_lock(self) -> int | None:
        """SQLite file: an exclusive ``flock`` on ``<db>-auditlock`` before ``BEGIN IMMEDIATE``.
        Writers then queue in the kernel and take turns at once; SQLite's own busy handler
        would have them poll with sleeps of up to 100 ms.  One open file per turn, so threads
        of one process exclude each other too."""
        if self._lock_path is None:
            return None
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return None  # read-only folder: SQLite's own locking still keeps writers apart
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            os.close(fd)
            return None
        return fd

    def _ts_param(self, ts: datetime) -> Any:
        return _sqlite_ts(ts) if self.dialect == "sqlite" else ts

    def _completed_nodes(
        self, cur: Any, start: int, hashes: list[bytes]
    ) -> list[tuple[int, int, bytes]]:
        """Hashes of the cached subtrees that leaves ``start ...`` complete."""
        end = start + len(hashes)
        out: list[tuple[int, int, bytes]] = []
        # children known in memory, per level: level -> (first index, hashes)
        known: dict[int, tuple[int, list[bytes]]] = {0: (start, hashes)}
        for level in NODE_LEVELS:
            step = 1 << level
            below = level - LEVEL_STEP
            first, last = start // step, end // step
            made: list[bytes] = []
            for j in range(first, last):
                lo, hi = j << LEVEL_STEP, (j + 1) << LEVEL_STEP
                k_first, k_hashes = known.get(below, (hi, []))
                children = []
                if lo < k_first:
                    children = self._read_hashes(cur, below, lo, min(k_first, hi))
                take_from = max(lo, k_first)
                children += k_hashes[take_from - k_first : hi - k_first]
                if len(children) != 1 << LEVEL_STEP:
                    raise AuditWriteError(
                        f"audit store is inconsistent: level {below} has {len(children)} "
                        f"of the 256 hashes under node {j} of level {level}"
                    )
                h = root_of(children)
                made.append(h)
                out.append((level, j, h))
            if made:
                known[level] = (first, made)
        return out

    def _read_hashes(self, cur: Any, level: int, lo: int, hi: int) -> list[bytes]:
        ph = self._ph
        if level == 0:
            cur.execute(
                f"SELECT leaf_hash FROM audit_log WHERE idx >= {ph} AND idx < {ph} ORDER BY idx",
                (lo, hi),
            )
        else:
            cur.execute(
                f"SELECT hash FROM audit_nodes WHERE level = {ph} AND idx >= {ph} AND idx < {ph} "
                "ORDER BY idx",
                (level, lo, hi),
            )
        return [bytes(r[0]) for r in cur.fetchall()]

    # ------------------------------------------------------------------ reading

    def _reader(self) -> Any:
        return self.engine.raw_connection()

    def size(self) -> int:
        """The number of events in the log (the head row the writers keep)."""
        raw = self._reader()
        try:
            cur = raw.cursor()
            cur.execute("SELECT size FROM audit_head WHERE id = 1")
            row = cur.fetchone()
            raw.rollback()
            return int(row[0]) if row else 0
        finally:
            raw.close()

    def subtree_reader(self, raw: Any) -> SubtreeReader:
        return SubtreeReader(raw.cursor(), self._ph, self._subtree_cache)

    def root(self, size: int | None = None) -> bytes:
        """The tree head (MTH) of the first ``size`` events (default: all)."""
        n = self.size() if size is None else size
        if n == 0:
            return EMPTY_ROOT
        raw = self._reader()
        try:
            return self.subtree_reader(raw).range_hash(0, self._check_size(n))
        finally:
            raw.rollback()
            raw.close()

    def _check_size(self, n: int) -> int:
        current = self.size()
        if not 0 <= n <= current:
            raise LedgerError(f"the log has {current} events; size {n} does not exist")
        return n

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        raw = self._reader()
        try:
            return inclusion_proof(index, size, self.subtree_reader(raw).range_hash)
        finally:
            raw.rollback()
            raw.close()

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        self._check_size(new)
        raw = self._reader()
        try:
            return consistency_proof(old, new, self.subtree_reader(raw).range_hash)
        finally:
            raw.rollback()
            raw.close()

    def leaf(self, index: int) -> tuple[str, bytes]:
        """The stored canonical event text and leaf hash at ``index``."""
        raw = self._reader()
        try:
            cur = raw.cursor()
            cur.execute(f"SELECT event, leaf_hash FROM audit_log WHERE idx = {self._ph}", (index,))
            row = cur.fetchone()
            raw.rollback()
        finally:
            raw.close()
        if row is None:
            raise LedgerError(f"no event at index {index}")
        return str(row[0]), bytes(row[1])

    def find(self, event_id: str) -> int:
        """The index of the event with ``event_id`` (``event.id``), or an index given as digits."""
        if event_id.isdigit():
            return int(event_id)
        needle = f'"id":"{event_id}"'
        raw = self._reader()
        try:
            cur = raw.cursor()
            cur.execute(
                f"SELECT idx, event FROM audit_log WHERE event LIKE {self._ph} ORDER BY idx",
                (f"%{needle}%",),
            )
            rows = cur.fetchall()
            raw.rollback()
        finally:
            raw.close()
        import json

        for idx, text in rows:
            if json.loads(text).get("event", {}).get("id") == event_id:
                return int(idx)
        raise LedgerError(f"no event with id {event_id!r}")

    def iter_rows(
        self,
        start: int = 0,
        end: int | None = None,
        chunk: int = 50_000,
        *,
        events: bool = True,
        as_bytes: bool = False,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Chunks of ``(idx, event, leaf_hash)`` rows (``(idx, leaf_hash)`` without ``events``)
        in index order, read with one cursor (the verifier's bulk path).  ``as_bytes``:
        ``(idx, 0x00 || event bytes, leaf_hash, sequence matches idx)``, never decoded."""
        cols = "idx, event, leaf_hash" if events else "idx, leaf_hash"
        if as_bytes and events:
            # 0x00 || the event's UTF-8 bytes (the leaf hash input), and whether the text holds
            # "sequence":<idx>, both computed by the database in C
            seq = "'\"sequence\":' || idx || ','"
            if self.dialect == "sqlite":
                cols = f"idx, CAST(X'00' || event AS BLOB), leaf_hash, instr(event, {seq}) > 0"
            else:
                cols = (
                    "idx, '\\x00'::bytea || convert_to(event, 'UTF8'), leaf_hash, "
                    f"position(({seq}) in event) > 0"
                )
        raw = self._reader()
        try:
            if self.dialect == "postgresql":
                cur = raw.driver_connection.cursor(name="leakwarden_audit_rows")
                cur.itersize = chunk
            else:
                cur = raw.cursor()
            bound = "" if end is None else f" AND idx < {int(end)}"
            cur.execute(
                f"SELECT {cols} FROM audit_log WHERE idx >= {int(start)}{bound} ORDER BY idx"
            )
            while True:
                rows = cur.fetchmany(chunk)
                if not rows:
                    break
                yield rows
            raw.rollback()
        finally:
            raw.close()

    def checkpoints(self) -> list[tuple[int, bytes, str]]:
        """Checkpoints recorded in the store: ``(size, root, note text)``, oldest first."""
        raw = self._reader()
        try:
            cur = raw.cursor()
            cur.execute("SELECT size, root, note FROM audit_checkpoints ORDER BY id")
            rows = [(int(s), bytes(r), str(n)) for s, r, n in cur.fetchall()]
            raw.rollback()
            return rows
        finally:
            raw.close()

    def record_checkpoint(self, size: int, root: bytes, note: str) -> None:
        ph = self._ph
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO audit_checkpoints (size, root, created_at, note) "
                f"VALUES ({ph}, {ph}, {ph}, {ph})",
                (size, root, self._ts_param(datetime.now(UTC)), note),
            )


class SubtreeReader:
    """MTH of any range [start, end) whose pieces are aligned complete subtrees, from the cached
    nodes (levels 8, 16, 24) and leaf hashes: at most a few hundred rows per piece."""

    CACHE_LIMIT = 200_000
    CACHE_FROM = 16  # subtrees smaller than this are cheaper to read again than to keep

    def __init__(
        self, cur: Any, ph: str, cache: dict[tuple[int, int], bytes] | None = None
    ) -> None:
        self.cur = cur
        self.ph = ph
        self.cache = cache if cache is not None else {}

    def perfect(self, start: int, size: int) -> bytes:
        key = (start, size)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        value = self._perfect(start, size)
        if size >= self.CACHE_FROM:
            if len(self.cache) >= self.CACHE_LIMIT:
                self.cache.clear()
            self.cache[key] = value
        return value

    def _perfect(self, start: int, size: int) -> bytes:
        height = size.bit_length() - 1
        level = max((lv for lv in NODE_LEVELS if lv <= height), default=0)
        lo, hi = start >> level, (start + size) >> level
        hashes = self._read(level, lo, hi)
        if len(hashes) != hi - lo:
            raise LedgerError(
                f"the store lacks hashes for leaves {start}..{start + size - 1} "
                f"(level {level}: {len(hashes)} of {hi - lo})"
            )
        return root_of(hashes)

    def _read(self, level: int, lo: int, hi: int) -> list[bytes]:
        """Hashes ``lo`` .. ``hi`` of a level, stopping at the first gap in the indexes."""
        ph = self.ph
        if level == 0:
            self.cur.execute(
                f"SELECT idx, leaf_hash FROM audit_log WHERE idx >= {ph} AND idx < {ph} "
                "ORDER BY idx",
                (lo, hi),
            )
        else:
            self.cur.execute(
                f"SELECT idx, hash FROM audit_nodes WHERE level = {ph} AND idx >= {ph} "
                f"AND idx < {ph} ORDER BY idx",
                (level, lo, hi),
            )
        out = []
        for n, (idx, h) in enumerate(self.cur.fetchall()):
            if idx != lo + n:
                break
            out.append(bytes(h))
        return out

    def range_hash(self, start: int, end: int) -> bytes:
        return fold_pieces([self.perfect(s, n) for s, n in perfect_pieces(start, end)])


_LOG_COLUMNS = "idx, ts, actor, action, outcome, dataset, event, leaf_hash"
# Batches of up to this many events go into a PostgreSQL pipeline as INSERTs; larger ones by COPY.
_PIPELINED_LEAVES = 64


def _head_size(row: Any) -> int:
    if row is None:
        raise AuditWriteError("the audit store has no head row (not migrated?)")
    return int(row[0])


def _rollback(raw: Any) -> None:
    # the connection may be gone; the write failed anyway
    with contextlib.suppress(Exception):
        raw.rollback()


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
