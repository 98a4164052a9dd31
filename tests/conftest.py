"""Shared fixtures: a throwaway PostgreSQL server for the whole session, and ``db_url`` that runs
a test against SQLite and PostgreSQL alike.

The PostgreSQL server is never the machine's own: it is a fresh cluster made with Debian's
``initdb`` in a temporary folder, listening on 127.0.0.1 on a free port with a random password,
stopped and deleted at the end of the session.  ``initdb`` refuses to run as root, so as root the
cluster belongs to the ``postgres`` system user (or ``nobody``).

Environment:
- ``LEAKWARDEN_TEST_PG_URL``: use this server instead (it must allow ``CREATE DATABASE``).
- ``LEAKWARDEN_REQUIRE_PG=1``: a missing PostgreSQL fails the tests instead of skipping them.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PG_SUPERUSER = "leakwarden_test"
_SERVER_OPTIONS = (
    "-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
    "-c max_connections=200 -c shared_buffers=32MB"
)


def _pg_missing(reason: str) -> None:
    """Skip, or fail when CI demands PostgreSQL."""
    if os.environ.get("LEAKWARDEN_REQUIRE_PG") == "1":
        pytest.fail(f"PostgreSQL is required (LEAKWARDEN_REQUIRE_PG=1) but {reason}")
    pytest.skip(f"no throwaway PostgreSQL: {reason}")


def _pg_bindir() -> Path | None:
    """Debian's newest PostgreSQL server binaries, e.g. /usr/lib/postgresql/15/bin."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        bindir = Path(initdb).parent
        version = bindir.parent.name
        if (bindir / "pg_ctl").exists() and version.replace(".", "").isdigit():
            found.append((tuple(int(p) for p in version.split(".")), bindir))
    return max(found)[1] if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _unprivileged_user() -> pwd.struct_passwd | None:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def _world_traversable(path: Path) -> bool:
    """Can any user reach ``path`` (every folder on the way has o+x)?"""
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in [path, *path.parents])


@dataclass
class PgServer:
    """A PostgreSQL server the tests may use freely: ``url(db)`` gives a psycopg URL."""

    host: str
    port: int
    user: str
    password: str
    maintenance_db: str = "postgres"

    def url(self, database: str | None = None) -> str:
        from urllib.parse import quote

        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        db = database or self.maintenance_db
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{db}"

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=self.maintenance_db,
            autocommit=True,
            connect_timeout=10,
        )

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; returns its URL."""
        name = f"{prefix}_{secrets.token_hex(6)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url_or_name: str) -> None:
        name = url_or_name.rsplit("/", 1)[-1].split("?", 1)[0]
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_WATCHDOG = """
import os, shutil, subprocess, sys, time
pid, pg_ctl, data, root, uid, gid = sys.argv[1:7]
while True:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        break
    time.sleep(2)
time.sleep(5)  # let a "pg_ctl start" already under way finish, so that the stop finds it
extra = {"user": int(uid), "group": int(gid), "extra_groups": []} if int(uid) >= 0 else {}
subprocess.run([pg_ctl, "-D", data, "-m", "immediate", "stop"], cwd=root,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **extra)
shutil.rmtree(root, ignore_errors=True)
"""


class _Cluster:
    """initdb + pg_ctl in a temporary folder, as an unprivileged user when we are root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.run_as: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self.run_as = _unprivileged_user()
            if self.run_as is None:
                _pg_missing("running as root and no 'postgres' or 'nobody' user to run initdb as")
        base = Path(tempfile.gettempdir())
        if self.run_as is not None and not _world_traversable(base):
            base = Path("/tmp")
        self.root = Path(tempfile.mkdtemp(prefix="leakwarden-pg-", dir=base))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.password = secrets.token_urlsafe(18)
        if self.run_as is not None:
            os.chown(self.root, self.run_as.pw_uid, self.run_as.pw_gid)
        self.port = 0
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._start_watchdog()

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8", TZ="UTC")
        if self.run_as is not None:
            kwargs.update(user=self.run_as.pw_uid, group=self.run_as.pw_gid, extra_groups=[])
            env.update(HOME=str(self.root), USER=self.run_as.pw_name, LOGNAME=self.run_as.pw_name)
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
            **kwargs,
        )

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no server log)"

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.run_as is not None:
            os.chown(pwfile, self.run_as.pw_uid, self.run_as.pw_gid)
        pwfile.chmod(0o600)
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            PG_SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            check=False,
        )
        pwfile.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        last = ""
        for _attempt in range(3):  # the free port may be taken between choosing and binding
            self.port = _free_port()
            opts = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} "
                f"-c unix_socket_directories={self.root} {_SERVER_OPTIONS}"
            )
            done = self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
                check=False,
            )
            if done.returncode == 0:
                return
            last = f"{done.stdout}\n{done.stderr}\n{self._log_tail()}"
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
            time.sleep(0.5)
        raise RuntimeError(f"pg_ctl could not start PostgreSQL:\n{last}")

    def _start_watchdog(self) -> None:
        """A detached helper that stops the server and deletes its folder should this pytest
        process die without running its finalizers (killed by a CI timeout, say)."""
        uid = self.run_as.pw_uid if self.run_as is not None else -1
        gid = self.run_as.pw_gid if self.run_as is not None else -1
        self._watchdog = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WATCHDOG,
                str(os.getpid()),
                str(self.bindir / "pg_ctl"),
                str(self.data),
                str(self.root),
                str(uid),
                str(gid),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.terminate()
            self._watchdog.wait(timeout=10)
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(
                    "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A throwaway PostgreSQL server for the session (see the module docstring)."""
    env_url = os.environ.get("LEAKWARDEN_TEST_PG_URL", "").strip()
    if env_url:
        from sqlalchemy.engine import make_url

        u = make_url(env_url)
        yield PgServer(
            host=u.host or "127.0.0.1",
            port=u.port or 5432,
            user=u.username or "postgres",
            password=u.password if isinstance(u.password, str) else "",
            maintenance_db=u.database or "postgres",
        )
        return
    bindir = _pg_bindir()
    if bindir is None:
        _pg_missing(
            "Debian's PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb, pg_ctl) are "
            "not installed; `apt-get install postgresql` provides them"
        )
        raise AssertionError("unreachable")  # pragma: no cover - _pg_missing raises
    cluster = _Cluster(bindir)
    try:
        cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        cluster.stop()
        # The binaries are there, so this is a real fault, never a quiet skip.
        pytest.fail(f"the throwaway PostgreSQL server did not start: {exc}")
    server = PgServer(
        host="127.0.0.1", port=cluster.port, user=PG_SUPERUSER, password=cluster.password
    )
    try:
        yield server
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A ``postgresql+psycopg://`` URL of a database on the throwaway server, shared by the
    session: create your own schema or tables in it, or use ``db_url`` for a private database."""
    url = pg_server.create_database("leakwarden")
    yield url
    pg_server.drop_database(url)


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend in turn: a SQLite file in ``tmp_path``, or a fresh
    database on the throwaway PostgreSQL server (dropped after the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)
