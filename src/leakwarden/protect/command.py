"""The ``leakwarden protect`` and ``leakwarden reveal`` commands.

Only Typer and the standard library are imported at module level (the CLI registers these
without slowing ``leakwarden --help``).

``protect`` rewrites files (CSV/TSV, JSON Lines, Parquet; a folder means every such file in it
that a rule names) and SQL tables (a database URL: the tables the rules name), following a rule
file (``--rules``) or the discovery inventory (``--from-inventory``).  Exit codes: 0 done (or
nothing left to do); 1 stopped at a value the rules say must fail (``on_bad: fail``); 2 usage
error, unreadable input, missing key, or a store that cannot be reached.

``reveal`` decrypts (FF1) or detokenises (vault) one value, or a column of a file into a new
file.  It needs ``--key`` and ``--reason``, and records the reveal in the audit ledger before
anything is printed or written; if the record cannot be written nothing is revealed (exit 2).

Keys come from the key ring in the store (``--db``), unlocked by the master key as ``leakwarden
keys`` takes it (``--master-file``, ``--master-env``, ``--passphrase-env``, else
``$LEAKWARDEN_MASTER_KEY``, else a prompt).  Vault tokens are detokenised by the vault itself,
which also checks that the actor is in ``$LEAKWARDEN_VAULT_REVEAL_ALLOW`` and records its own
event; ``reveal`` records one more with the file and column.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from leakwarden.protect.keys_command import MasterEnv, MasterFile, PassphraseEnv

if TYPE_CHECKING:
    from rich.console import Console

    from leakwarden.protect.operator import Operator
    from leakwarden.protect.rules import RuleSet

EXIT_OK = 0
EXIT_BAD_VALUE = 1
EXIT_ERROR = 2
#: Actors allowed to detokenise vault tokens (comma-separated ids), set by whoever deploys.
REVEAL_ALLOW_ENV = "LEAKWARDEN_VAULT_REVEAL_ALLOW"
_DB_HELP = "Store URL (inventory, key ring): default $LEAKWARDEN_DB_URL, else ./leakwarden.db."


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


class OnBad(StrEnum):
    fail = "fail"
    mask = "mask"
    suppress = "suppress"


class TableOutput(StrEnum):
    columns = "columns"
    table = "table"


class RevealKind(StrEnum):
    ff1 = "ff1"
    token = "token"


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    _stderr().print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


class Operators:
    """Builds operators from specs, opening the key ring (and the token vault) only when a
    spec needs them; keys through :func:`leakwarden.protect.keys_command.open_key_ring`."""

    def __init__(
        self,
        db: str | None,
        master_file: Path | None = None,
        master_env: str | None = None,
        passphrase_env: str | None = None,
        *,
        ledger: Any = None,
        reveal_allow: tuple[str, ...] = (),
        namespace: str = "default",
    ) -> None:
        self.db = db
        self.master_file = master_file
        self.master_env = master_env
        self.passphrase_env = passphrase_env
        self.ledger = ledger
        self.reveal_allow = reveal_allow
        self.namespace = namespace
        self._keys: Any = None
        self._vault: Any = None
        self._cache: dict[str, Operator] = {}

    def keys(self) -> Any:
        if self._keys is None:
            from leakwarden.protect.keys_command import open_key_ring

            self._keys = open_key_ring(
                self.db, self.master_file, self.master_env, self.passphrase_env
            )
        return self._keys

    def vault(self) -> Any:
        if self._vault is None:
            from leakwarden.protect.vault import TokenVault

            self._vault = TokenVault(
                self.keys(),
                namespace=self.namespace,
                ledger=self.ledger,
                reveal_allow=self.reveal_allow,
            )
        return self._vault

    def __call__(self, spec: str) -> Operator:
        """The operator for ``spec``; ``ValueError`` naming the spec when it cannot be built."""
        if spec in self._cache:
            return self._cache[spec]
        from leakwarden.protect.keys import KeyRingError
        from leakwarden.protect.registry import build_operator
        from leakwarden.store.db import StoreError

        kind = spec.partition(":")[0].strip()
        try:
            keys = self.keys() if kind in ("hmac", "ff1", "token") else None
            vault = self.vault() if kind == "token" else None
        except (KeyRingError, StoreError) as exc:
            raise ValueError(f"operator {spec!r}: cannot open the key ring: {exc}") from None
        op = build_operator(spec, keys=keys, vault=vault)
        self._cache[spec] = op
        return op

    def close(self) -> None:
        close = getattr(self._keys, "close", None)
        if callable(close):
            close()


def _is_url(target: str) -> bool:
    return "://" in target


def _load_ruleset(
    rules_file: Path | None,
    from_inventory: bool,
    targets: list[str],
    db: str | None,
    key: str,
    on_bad: OnBad,
) -> RuleSet:
    from leakwarden.protect.rules import load_rules, rules_from_inventory

    if (rules_file is None) == (not from_inventory):
        raise ValueError("give exactly one of --rules FILE or --from-inventory")
    if rules_file is not None:
        return load_rules(rules_file)
    from leakwarden.store import db as store_db
    from leakwarden.store.inventory import InventoryRepo

    url = db or store_db.default_url()
    store_db.upgrade(url)
    repo = InventoryRepo(store_db.make_engine(url))
    entries = []
    for target in targets:
        if _is_url(target):
            source = store_db.redact_url(target)
        else:
            source = str(Path(target).expanduser().resolve())
        found = repo.latest(source)
        if not found and not _is_url(target):
            # A file inside a scanned folder: its entries are under the folder's source.
            path = Path(source)
            for parent in path.parents:
                found = [
                    e
                    for e in repo.latest(str(parent))
                    if str(parent / e.location.container) == str(path)
                ]
                if found:
                    break
        entries.extend(found)
    return rules_from_inventory(entries, key=key, on_bad=on_bad.value)


def _file_jobs(
    target: str, ruleset: RuleSet, out: Path | None, in_place: bool
) -> list[tuple[Path, Path | None, list[Any]]]:
    """(file, output, rules) for a file or every ruled file under a folder."""
    from leakwarden.protect.rewrite_files import MANIFEST_SUFFIX

    path = Path(target).expanduser()
    if not path.exists():
        raise ValueError(f"{target}: no such file or folder")
    if out is None and not in_place:
        raise ValueError(f"{target}: say where the protected output goes: --out PATH or --in-place")
    if path.is_file():
        rules = ruleset.for_file(path, path.parent)
        if not rules and ruleset.source == "inventory":
            rules = [
                r for r in ruleset.rules if r.kind == "file" and Path(r.target).name == path.name
            ]
        dest = None if in_place else (out / path.name if out is not None and out.is_dir() else out)
        return [(path, dest, rules)]
    jobs = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if file.name.endswith((MANIFEST_SUFFIX, ".tmp")) or file.name.startswith("."):
            continue
        rules = ruleset.for_file(file, path)
        if not rules:
            continue
        rel = file.relative_to(path)
        jobs.append((file, None if in_place else (out / rel if out is not None else None), rules))
    if not jobs:
        raise ValueError(f"{target}: no file in this folder is named by a rule")
    return jobs


def _progress(console: Console) -> Any:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]protecting[/bold] {task.description}", markup=True),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _summary_table(results: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    view = Table(title="leakwarden protect")
    for col in ("target", "output", "status", "column", "operator", "protected", "empty", "bad"):
        view.add_column(col, justify="right" if col in ("protected", "empty", "bad") else "left")
    for res in results:
        target = res.get("path") or f"table {res.get('table')}"
        columns = res["columns"] or [{}]
        for i, c in enumerate(columns):
            bad = str(c.get("bad", ""))
            if c.get("bad"):
                bad += f" ({c['on_bad']})"
            view.add_row(
                str(target) if i == 0 else "",
                str(res["output"]) if i == 0 else "",
                res["status"] if i == 0 else "",
                c.get("column", ""),
                c.get("operator", ""),
                str(c.get("protected", "")),
                str(c.get("empty", "")),
                bad,
            )
    return view


def protect_command(
    targets: Annotated[
        list[str], typer.Argument(metavar="PATH_OR_URL...", help="Files, folders or database URLs.")
    ],
    rules_file: Annotated[
        Path | None, typer.Option("--rules", help="Rule file (.yaml/.yml/.toml).")
    ] = None,
    from_inventory: Annotated[
        bool,
        typer.Option("--from-inventory", help="Protect what discovery found (leakwarden scan)."),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output file (one file) or folder (files mirrored into it)."),
    ] = None,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Replace each file by its protected form.")
    ] = False,
    output: Annotated[
        TableOutput | None,
        typer.Option("--output", help="Tables: new <col>_protected columns, or a new table."),
    ] = None,
    to_table: Annotated[
        str | None, typer.Option("--to-table", help="Name of the new table (--output table).")
    ] = None,
    key: Annotated[
        str, typer.Option("--key", help="Key of the inventory's default operators (ff1/token).")
    ] = "pi",
    on_bad: Annotated[
        OnBad, typer.Option("--on-bad", help="Inventory rules: policy for values that do not fit.")
    ] = OnBad.mask,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows per chunk/transaction.")
    ] = 5000,
    db: Annotated[str | None, typer.Option("--db", help=_DB_HELP)] = None,
    master_file: MasterFile = None,
    master_env: MasterEnv = None,
    passphrase_env: PassphraseEnv = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = (
        OutputFormat.table
    ),
) -> None:
    """Rewrite files and tables with personal information protected (masked, pseudonymised,
    encrypted or tokenised), following a rule file or the discovery inventory.

    Exit code: 0 done; 1 stopped at a value whose rule says fail; 2 usage or input error.
    """
    from leakwarden.protect._cells import BadValueError, RewriteError
    from leakwarden.protect.rewrite_files import protect_file
    from leakwarden.protect.rewrite_tables import protect_table
    from leakwarden.protect.rules import RuleError
    from leakwarden.store.db import StoreError

    err = _stderr()
    try:
        ruleset = _load_ruleset(rules_file, from_inventory, targets, db, key, on_bad)
    except (RuleError, ValueError, StoreError) as exc:
        raise _fail(str(exc)) from None
    for problem in ruleset.problems:
        err.print(f"[yellow]note:[/yellow] {problem}", highlight=False)
    mode = output.value if output is not None else ruleset.output
    digest = ruleset.digest()
    if out is not None and sum(1 for t in targets if not _is_url(t)) > 1:
        # several files or folders: --out is the folder they go into, never one file that
        # each of them would overwrite in turn
        if out.exists() and not out.is_dir():
            raise _fail(f"{out}: several targets need a folder for --out, this is a file")
        out.mkdir(parents=True, exist_ok=True)
        written: dict[Path, Path] = {}
        for target in targets:
            if _is_url(target):
                continue
            try:
                jobs = _file_jobs(target, ruleset, out, in_place)
            except ValueError as exc:
                raise _fail(str(exc)) from None
            for path, dest, _rules in jobs:
                first = written.setdefault((dest or path).resolve(), path)
                if first != path:
                    raise _fail(
                        f"{path} and {first} would both be written to {dest}: "
                        "give them separate --out runs"
                    )
    operators = Operators(db, master_file, master_env, passphrase_env)
    results: list[dict[str, Any]] = []
    code, error = EXIT_OK, ""
    progress = _progress(err)
    try:
        with progress:
            for target in targets:
                if _is_url(target):
                    tables = ruleset.tables()
                    if not tables:
                        raise ValueError(f"no rule names a table of {target}")
                    for table in tables:
                        task = progress.add_task(table, total=None)

                        def step(done: int, total: int | None, task: Any = task) -> None:
                            progress.update(task, completed=done, total=total)

                        res = protect_table(
                            target,
                            table,
                            ruleset.for_table(table),
                            operators,
                            mode=mode,
                            to_table=to_table,
                            rules_digest=digest,
                            chunk_rows=chunk_rows,
                            progress=step,
                            count_rows=progress.console.is_terminal,
                        )
                        results.append(res.as_dict())
                    continue
                for path, dest, rules in _file_jobs(target, ruleset, out, in_place):
                    if not rules:
                        raise ValueError(f"{path}: no rule names a column of this file")
                    task = progress.add_task(path.name, total=path.stat().st_size)
                    advance = partial(progress.advance, task)
                    fres = protect_file(
                        path,
                        rules,
                        operators,
                        output=dest,
                        rules_digest=digest,
                        chunk_rows=chunk_rows,
                        progress=advance,
                    )
                    results.append(fres.as_dict())
    except BadValueError as exc:
        code, error = EXIT_BAD_VALUE, str(exc)
    except (RewriteError, RuleError, ValueError, StoreError, OSError) as exc:
        code, error = EXIT_ERROR, str(exc)
    finally:
        operators.close()
    if fmt is OutputFormat.json:
        doc = {"exit_code": code, "error": error or None, "results": results}
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    else:
        from rich.console import Console

        if results:
            Console().print(_summary_table(results))
    if error:
        err.print(f"[red]error:[/red] {error}", highlight=False, markup=True)
    raise typer.Exit(code)


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    env = os.environ.get("LEAKWARDEN_ACTOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def reveal_command(
    value: Annotated[
        str | None, typer.Argument(help="One protected value (or use --file/--column).")
    ] = None,
    key: Annotated[str, typer.Option("--key", help="Key name the value was protected with.")] = "",
    reason: Annotated[
        str, typer.Option("--reason", help="Why the clear value is needed (recorded).")
    ] = "",
    kind: Annotated[
        RevealKind, typer.Option("--operator", help="ff1 (decrypt) or token (detokenise).")
    ] = RevealKind.ff1,
    type_id: Annotated[
        str | None, typer.Option("--type", help="PI type of the value (cn_mobile, ...).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Reveal a column of this file.")
    ] = None,
    column: Annotated[str | None, typer.Option("--column", help="Column/field to reveal.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where the revealed file goes.")] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who reveals (default $LEAKWARDEN_ACTOR/user).")
    ] = None,
    ticket: Annotated[str | None, typer.Option("--ticket", help="Ticket/approval id.")] = None,
    namespace: Annotated[
        str, typer.Option("--namespace", help="Token vault namespace (--operator token).")
    ] = "default",
    db: Annotated[str | None, typer.Option("--db", help=_DB_HELP)] = None,
    audit_db: Annotated[
        str | None, typer.Option("--audit-db", help="Audit ledger store URL (default: --db).")
    ] = None,
    master_file: MasterFile = None,
    master_env: MasterEnv = None,
    passphrase_env: PassphraseEnv = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = (
        OutputFormat.table
    ),
) -> None:
    """Give back the clear form of FF1-encrypted or tokenised values, with a key and a reason;
    recorded in the audit ledger before anything is shown.

    Exit code: 0 revealed; 2 refused (no key/reason, not reversible, audit not writable).
    """
    from leakwarden.protect._reveal import RevealDenied, RevealRequest, reveal_file, reveal_value

    if not key.strip():
        raise _fail("--key is required: name the key the values were protected with")
    if not reason.strip():
        raise _fail("--reason is required: it is recorded with the reveal in the audit log")
    if (value is None) == (file is None):
        raise _fail("give one VALUE, or --file with --column and --out")
    if file is not None and (column is None or out is None):
        raise _fail("--file needs --column and --out (a revealed file is never written in place)")
    request = RevealRequest(kind.value, key.strip(), reason.strip(), _actor(actor), type_id, ticket)
    from leakwarden.audit.ledger import AuditWriteError, Ledger

    try:
        ledger = Ledger.open(audit_db or db)
    except AuditWriteError as exc:
        raise _fail(f"nothing revealed: {exc}") from None
    allow = tuple(a.strip() for a in os.environ.get(REVEAL_ALLOW_ENV, "").split(",") if a.strip())
    operators = Operators(
        db,
        master_file,
        master_env,
        passphrase_env,
        ledger=ledger,
        reveal_allow=allow,
        namespace=namespace,
    )
    try:
        if value is not None:
            clear, receipt = reveal_value(value, request, operators, ledger)
            if fmt is OutputFormat.json:
                doc = {"value": clear, "audit_index": receipt.index}
                sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
            else:
                sys.stdout.write(clear + "\n")
            return
        assert file is not None and column is not None and out is not None
        result, receipt = reveal_file(file, column, out, request, operators, ledger)
        counts = result.columns[0]
        doc = {
            "file": str(file),
            "output": str(out),
            "column": column,
            "values": counts.protected,
            "empty": counts.empty,
            "audit_index": receipt.index,
        }
        if fmt is OutputFormat.json:
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        else:
            from rich.console import Console

            Console().print(
                f"revealed column {column!r} of {counts.protected} rows into {out} "
                f"(audit event #{receipt.index})",
                highlight=False,
            )
    except RevealDenied as exc:
        raise _fail(str(exc)) from None
    finally:
        ledger.close()
        operators.close()
