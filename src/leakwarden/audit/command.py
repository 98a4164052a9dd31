# ruff: noqa: B008  (typer reads its options from argument defaults)
"""``leakwarden audit ...``: keys, checkpoints, witness co-signatures, verification, proofs,
queries and SIEM export of the audit ledger.  The lead registers :data:`audit_app` in the CLI.

Exit status: 0 done (``verify``: the log verifies), 1 ``verify`` found a problem, 2 bad input or
an unreachable store.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from leakwarden.commandline import fail as _fail

if TYPE_CHECKING:
    from leakwarden.audit.ledger import Ledger

audit_app = typer.Typer(
    help="The tamper-evident audit ledger: verify, prove, query, export.", no_args_is_help=True
)

_URL = typer.Option(
    None, "--url", help="Store URL (default: $LEAKWARDEN_DB_URL or ./leakwarden.db)"
)
_DIR = typer.Option(
    Path("leakwarden-checkpoints"), "--checkpoints", help="Folder of published checkpoints."
)


def _open(url: str | None) -> Ledger:
    from leakwarden.audit.ledger import AuditWriteError, Ledger

    try:
        return Ledger.open(url)
    except AuditWriteError as exc:
        _fail(str(exc))
        raise AssertionError from None  # unreachable


def _verifiers(paths: list[Path]) -> list[Any]:
    from leakwarden.audit.note import KeyFileError, load_verifier

    try:
        return [load_verifier(p) for p in paths]
    except KeyFileError as exc:
        _fail(str(exc))
        raise AssertionError from None


def _signer(path: Path) -> Any:
    from leakwarden.audit.note import KeyFileError, Signer

    try:
        return Signer.load(path)
    except KeyFileError as exc:
        _fail(str(exc))
        raise AssertionError from None


@audit_app.command("keygen")
def keygen(
    name: str = typer.Argument(..., help="Key name, e.g. the log's origin or a department."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for NAME.key (0600) and NAME.pub."),
) -> None:
    """Generate an Ed25519 signing key pair in signed-note format."""
    from leakwarden.audit.note import KeyFileError, generate_keys

    safe = name.replace("/", "_")
    try:
        key = generate_keys(name, out / f"{safe}.key", out / f"{safe}.pub")
    except (KeyFileError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"private key: {out / (safe + '.key')} (mode 0600, keep it secret)")
    typer.echo(f"verifier key: {out / (safe + '.pub')}: {key.encode()}")


@audit_app.command("checkpoint")
def checkpoint(
    key: Path = typer.Option(..., "--key", help="The ledger's private key file."),
    origin: str = typer.Option("leakwarden.local/audit", "--origin"),
    url: str | None = _URL,
    checkpoints: Path = _DIR,
) -> None:
    """Sign and publish a checkpoint of the log as it is now."""
    from leakwarden.audit.checkpoints import Publisher

    signer = _signer(key)
    with _open(url) as ledger:
        path = Publisher(checkpoints, signer, origin=origin).publish(ledger)
    typer.echo(f"published {path}")


@audit_app.command("cosign")
def cosign(
    checkpoint_file: Path = typer.Argument(..., help="A published checkpoint file."),
    key: Path = typer.Option(..., "--key", help="The witness's private key file."),
    log_key: Path = typer.Option(..., "--log-key", help="The ledger's verifier key."),
    state: Path = typer.Option(
        Path("witness-state.json"), "--state", help="What this witness co-signed last."
    ),
    url: str | None = _URL,
) -> None:
    """Co-sign a checkpoint as an independent witness: only after checking the ledger's
    signature and that it extends the last checkpoint this witness co-signed."""
    from leakwarden.audit.standalone import (
        Note,
        VerificationError,
        open_checkpoint,
        verify_consistency,
    )
    from leakwarden.fileio import write_atomic

    witness = _signer(key)
    [log] = _verifiers([log_key])
    try:
        _, cp = open_checkpoint(checkpoint_file.read_text(encoding="utf-8"), [log])
        note = Note.parse(checkpoint_file.read_text(encoding="utf-8"))
    except (OSError, VerificationError) as exc:
        _fail(f"{checkpoint_file}: {exc}")
        raise AssertionError from None
    if state.exists():
        last = json.loads(state.read_text())
        old_size, old_root = int(last["size"]), bytes.fromhex(last["root"])
        if last.get("origin", cp.origin) != cp.origin:
            _fail(f"not co-signing: origin {cp.origin!r} is not {last['origin']!r}", 1)
        if cp.size < old_size:
            _fail(f"checkpoint size {cp.size} is older than the co-signed {old_size}")
        with _open(url) as ledger:
            proof = ledger.consistency_proof(old_size, cp.size) if cp.size > old_size else []
        try:
            verify_consistency(old_size, cp.size, old_root, cp.root, proof)
        except VerificationError as exc:
            _fail(f"not co-signing: {exc}", 1)
    write_atomic(checkpoint_file, witness.cosign(note).encode())
    write_atomic(state, json.dumps({"origin": cp.origin, "size": cp.size, "root": cp.root.hex()}))
    typer.echo(f"co-signed {checkpoint_file} (size {cp.size}) as {witness.name}")


@audit_app.command("verify")
def verify(
    key: list[Path] = typer.Option(
        [], "--key", help="Verifier key(s): the ledger's, plus any witness that must co-sign."
    ),
    url: str | None = _URL,
    checkpoints: list[Path] = typer.Option(
        [Path("leakwarden-checkpoints")], "--checkpoints", help="Folder(s) of checkpoints."
    ),
    fmt: str = typer.Option("table", "--format", help="table or json"),
) -> None:
    """Check every entry, the tree and every published checkpoint; name the first bad entry."""
    from rich.console import Console
    from rich.progress import Progress

    from leakwarden.audit.verify import verify_ledger

    keys = _verifiers(key)
    if not keys:
        typer.secho(
            "warning: no --key given: checkpoint signatures are not checked", err=True, fg="yellow"
        )
    with _open(url) as ledger:
        total = ledger.size()
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("verifying", total=total)
            report = verify_ledger(
                ledger,
                [d for d in checkpoints if d.exists()],
                keys,
                progress=lambda n: progress.update(task, completed=n),
            )
    if fmt == "json":
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        console = Console()
        console.print(
            f"{report.rows} entries, {report.checkpoints} checkpoints "
            f"({report.checkpoints_matching} matching) in {report.seconds:.1f} s"
        )
        first = report.first_bad
        if first is None:
            console.print("[green]the log verifies[/green]")
        else:
            from rich.table import Table

            where = "-" if first.index is None else str(first.index)
            console.print(f"[red]first bad entry: {where} ({first.kind})[/red]: {first.message}")
            table = Table("kind", "index", "last", "what")
            for p in report.problems:
                table.add_row(p.kind, str(p.index), str(p.last), p.message)
            console.print(table)
    raise typer.Exit(0 if report.ok else 1)


def _latest_checkpoint(directory: Path, covering: int, keys: list[Any]) -> Any:
    from leakwarden.audit.checkpoints import read_published

    found, _ = read_published(directory)
    good = [p for p in found if p.checkpoint.size > covering]
    good = [p for p in good if all(p.note.verified_by(k) for k in keys)]
    if not good:
        _fail(
            f"no checkpoint in {directory} covers entry {covering}; "
            "publish one with 'leakwarden audit checkpoint'"
        )
    return max(good, key=lambda p: p.checkpoint.size)


@audit_app.command("prove")
def prove(
    event: str = typer.Argument(..., help="Event id (event.id) or leaf index."),
    url: str | None = _URL,
    checkpoints: Path = _DIR,
    key: list[Path] = typer.Option([], "--key", help="Only use checkpoints these keys signed."),
) -> None:
    """Print an inclusion proof of EVENT against the latest checkpoint, as JSON."""
    import base64

    from leakwarden.audit.ledger import LedgerError

    with _open(url) as ledger:
        try:
            index = ledger.find(event)
            text, lh = ledger.leaf(index)
        except LedgerError as exc:
            _fail(str(exc))
            raise AssertionError from None
        cp = _latest_checkpoint(checkpoints, index, _verifiers(key))
        try:
            proof = ledger.inclusion_proof(index, cp.checkpoint.size)
        except LedgerError as exc:
            _fail(f"cannot prove event {index}: {exc} (run 'leakwarden audit verify')")
            raise AssertionError from None
    doc = {
        "type": "inclusion",
        "origin": cp.checkpoint.origin,
        "leaf_index": index,
        "tree_size": cp.checkpoint.size,
        "event": text,
        "leaf_hash": base64.b64encode(lh).decode(),
        "proof": [base64.b64encode(p).decode() for p in proof],
        "checkpoint": cp.note.encode(),
    }
    typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))


@audit_app.command("consistency")
def consistency(
    old: int = typer.Argument(..., help="Older tree size (a published checkpoint's)."),
    new: int = typer.Argument(..., help="Newer tree size (a published checkpoint's)."),
    url: str | None = _URL,
    checkpoints: Path = _DIR,
) -> None:
    """Print a consistency proof between two published checkpoints, as JSON."""
    import base64

    from leakwarden.audit.checkpoints import read_published

    found, _ = read_published(checkpoints)
    notes: dict[int, str] = {}
    for p in found:
        notes.setdefault(p.checkpoint.size, p.note.encode())
    for size in (old, new):
        if size not in notes:
            _fail(f"no published checkpoint of size {size} in {checkpoints}")
    if old > new:
        _fail(f"OLD ({old}) must not be larger than NEW ({new})")
    from leakwarden.audit.ledger import LedgerError

    with _open(url) as ledger:
        try:
            proof = ledger.consistency_proof(old, new)
        except LedgerError as exc:
            _fail(f"cannot prove {old} -> {new}: {exc} (run 'leakwarden audit verify')")
            raise AssertionError from None
    doc = {
        "type": "consistency",
        "old_size": old,
        "new_size": new,
        "proof": [base64.b64encode(p).decode() for p in proof],
        "old_checkpoint": notes[old],
        "new_checkpoint": notes[new],
    }
    typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def _when(text: str | None, option: str) -> datetime | None:
    from datetime import UTC

    if text is None:
        return None
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"{option} {text!r} is not an ISO 8601 time (e.g. 2026-11-23T12:00:00Z)")
        raise AssertionError from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@audit_app.command("query")
def query(
    actor: str | None = typer.Option(None, "--actor", help="Person or application (user.id)."),
    customer: str | None = typer.Option(None, "--customer", help="Customer id touched."),
    dataset: str | None = typer.Option(None, "--dataset"),
    action: str | None = typer.Option(None, "--action"),
    since: str | None = typer.Option(None, "--since", help="ISO 8601 time (UTC unless given)."),
    until: str | None = typer.Option(None, "--until"),
    limit: int = typer.Option(1000, "--limit"),
    fmt: str = typer.Option("table", "--format", help="table or json"),
    url: str | None = _URL,
) -> None:
    """Find events for an investigation."""
    from leakwarden.audit.export import Query, iter_events

    q = Query(actor, customer, dataset, action, _when(since, "--since"), _when(until, "--until"))
    q.limit = limit
    with _open(url) as ledger:
        found = list(iter_events(ledger, q))
    if fmt == "json":
        typer.echo(json.dumps([doc for _, _, doc in found], indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("#", "time", "actor", "action", "outcome", "dataset", "rows", "customers")
    for idx, _, doc in found:
        lw = doc.get("leakwarden", {})
        from leakwarden.audit.export import _outcome

        table.add_row(
            str(idx),
            doc["@timestamp"],
            doc.get("user", {}).get("id", ""),
            doc.get("event", {}).get("action", ""),
            _outcome(doc),
            str(lw.get("dataset", "")),
            str(lw.get("rows", "")),
            str(lw.get("customers", "")),
        )
    Console().print(table)


@audit_app.command("export")
def export(
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or cef (syslog lines)"),
    since: str | None = typer.Option(None, "--since", help="ISO 8601 time, or #INDEX."),
    out: Path | None = typer.Option(None, "--out", help="File (written atomically); default -."),
    url: str | None = _URL,
) -> None:
    """Stream the log to a SIEM as JSON lines or syslog/CEF lines."""
    from leakwarden.audit.export import Query, iter_events, to_syslog

    if fmt not in ("jsonl", "cef"):
        _fail(f"--format {fmt!r}: use jsonl or cef")
    q = Query()
    if since is not None and since.startswith("#"):
        if not since[1:].isdigit():
            _fail(f"--since {since!r}: #INDEX needs digits")
        q.start = int(since[1:])
    else:
        q.since = _when(since, "--since")

    def lines(ledger: Ledger) -> Any:
        for _, text, doc in iter_events(ledger, q):
            yield (text if fmt == "jsonl" else to_syslog(doc)) + "\n"

    with _open(url) as ledger:
        if out is None:
            for line in lines(ledger):
                sys.stdout.write(line)
        else:
            from leakwarden.fileio import atomic_path

            with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as handle:
                handle.writelines(lines(ledger))
