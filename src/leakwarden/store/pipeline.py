"""One PostgreSQL transaction in psycopg's pipeline mode, for the gateway's per-request writes
(the quota charge, the audit append): its statements go to the server in as few round trips as
their dependencies allow.

psycopg on its own sends ``BEGIN`` and waits for it, and in a pipeline waits again for the
pipeline's closing sync after ``COMMIT``.  :func:`pipelined_transaction` sends ``BEGIN`` and
``COMMIT`` as ordinary statements of the pipeline instead (the connection in autocommit meanwhile,
so that psycopg adds none of its own), so ``BEGIN`` travels with the first statements and
``COMMIT`` with the last, whose answer the block's exit waits for: a transaction that returns
has committed (durably, when the session's ``synchronous_commit`` is on).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["pipelined_transaction"]


@contextlib.contextmanager
def pipelined_transaction(dbapi_connection: Any, *, pipeline: bool = True) -> Iterator[Any]:
    """``BEGIN``, the statements run in the block, ``COMMIT``, on a psycopg connection that is
    idle (no transaction open).  Yields psycopg's ``Pipeline`` (its ``sync()`` waits for every
    answer so far; a cursor's ``fetch*`` waits for its own), or ``None`` when pipelines are off
    (``pipeline=False``, e.g. for ``COPY``, which a pipeline cannot carry, or a libpq before 14):
    then the statements run one round trip each, in an ordinary transaction.  Returns once the
    commit is done; an exception in the block or from the commit rolls back and propagates.  The
    connection is handed back in the autocommit mode it came in."""
    import psycopg

    conn = dbapi_connection
    if not (pipeline and psycopg.Pipeline.is_supported()):
        try:
            yield None
            conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        return
    was = conn.autocommit
    conn.autocommit = True
    try:
        with conn.pipeline() as pipe:
            conn.execute("BEGIN")
            yield pipe
            conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            conn.rollback()  # sends ROLLBACK only if a transaction is still open
        raise
    finally:
        try:
            conn.autocommit = was
        except Exception:
            conn.close()  # never back in the pool in the wrong mode: the pool drops it
