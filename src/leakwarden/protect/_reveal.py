"""Revealing protected values (FF1 decryption, vault detokenisation), recorded before release.

A reveal names its key and gives a reason.  The audit event (``protect.reveal``: who, why, which
key, which file and column, how many values) is appended to the ledger and durably committed
before a single clear value is printed or a revealed file is renamed into place.  If the event
cannot be written (:class:`~leakwarden.audit.ledger.AuditWriteError`) nothing is released: fail
closed.  A value that does not decrypt is recorded as a failed reveal.  Clear values never go
into the event, a log line or an error message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from leakwarden.protect._cells import RewriteError
from leakwarden.protect.operator import Operator, OperatorError, ReversibleOperator
from leakwarden.protect.rules import Rule

if TYPE_CHECKING:
    from leakwarden.audit.events import AuditEvent
    from leakwarden.audit.ledger import AppendReceipt
    from leakwarden.protect.rewrite_files import FileResult, OperatorFactory

__all__ = ["REVEAL_ACTION", "RevealDenied", "RevealRequest", "reveal_file", "reveal_value"]

REVEAL_ACTION = "protect.reveal"
REVERSIBLE_KINDS = ("ff1", "token")


class RevealDenied(Exception):
    """The reveal was not done (no audit record could be written, the key cannot reverse,
    the value is not a protected value of that key); nothing was released."""


class AppendsEvents(Protocol):
    def append(self, event: AuditEvent) -> AppendReceipt: ...


@dataclass(frozen=True)
class RevealRequest:
    """Who reveals what with which key, and why."""

    kind: str  # ff1 | token
    key: str
    reason: str
    actor: str
    type_id: str | None = None
    ticket: str | None = None
    purpose: str | None = None

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.key}"

    def check(self) -> None:
        if self.kind not in REVERSIBLE_KINDS:
            raise RevealDenied(
                f"{self.kind!r} cannot be reversed; reveal works for {', '.join(REVERSIBLE_KINDS)}"
            )
        if not self.key.strip():
            raise RevealDenied("an explicit key name is required (--key)")
        if not self.reason.strip():
            raise RevealDenied("a reason is required (--reason) and is recorded in the audit log")


def _reverser(request: RevealRequest, make_operator: OperatorFactory) -> ReversibleOperator:
    try:
        op = make_operator(request.spec)
    except ValueError as exc:
        raise RevealDenied(str(exc)) from None
    if not (getattr(op, "reversible", False) and isinstance(op, ReversibleOperator)):
        raise RevealDenied(f"operator {request.spec} is not reversible")
    with_grant = getattr(op, "with_grant", None)
    if callable(with_grant):  # vault tokens: the vault checks and records the grant itself
        from leakwarden.protect.vault import RevealGrant

        grant = RevealGrant(request.actor, request.reason, request.purpose, request.ticket)
        granted: ReversibleOperator = with_grant(grant)
        return granted
    return op


def _event(
    request: RevealRequest,
    outcome: str,
    dataset: str,
    columns: list[str],
    rows: int | None,
    note: str = "",
) -> AuditEvent:
    from leakwarden.audit.events import AuditEvent

    extra = {"key": request.key, "operator": request.kind}
    if request.type_id:
        extra["type"] = request.type_id
    if note:
        extra["note"] = note
    return AuditEvent(
        action=REVEAL_ACTION,
        outcome=outcome,  # type: ignore[arg-type]
        actor=request.actor,
        reason=request.reason,
        purpose=request.purpose,
        dataset=dataset,
        columns=columns,
        rows=rows,
        ticket=request.ticket,
        extra=extra,
    )


def _record(ledger: AppendsEvents, event: AuditEvent) -> AppendReceipt:
    from leakwarden.audit.ledger import AuditWriteError

    try:
        return ledger.append(event)
    except AuditWriteError as exc:
        raise RevealDenied(f"the reveal could not be recorded in the audit log ({exc})") from None
    except Exception as exc:  # any failure to record is a refusal, never a release
        raise RevealDenied(
            f"the reveal could not be recorded in the audit log ({type(exc).__name__})"
        ) from None


def _record_failure(ledger: AppendsEvents, event: AuditEvent) -> None:
    with contextlib.suppress(Exception):
        ledger.append(event)


def reveal_value(
    protected: str,
    request: RevealRequest,
    make_operator: OperatorFactory,
    ledger: AppendsEvents,
) -> tuple[str, AppendReceipt]:
    """The clear value of one protected value, once the reveal is recorded."""
    request.check()
    op = _reverser(request, make_operator)
    from leakwarden.protect.vault import VaultError

    try:
        clear = op.reverse(protected, request.type_id)
    except (OperatorError, VaultError) as exc:
        _record_failure(ledger, _event(request, "failure", "value", [], 1, "not reversible"))
        raise RevealDenied(f"the value does not reverse under {request.spec}: {exc}") from None
    receipt = _record(ledger, _event(request, "success", "value", [], 1))
    return clear, receipt


class _Reverse:
    """An operator whose ``apply`` is another operator's ``reverse`` (for the file rewriter)."""

    reversible = False

    def __init__(self, op: ReversibleOperator, spec: str) -> None:
        self._op = op
        self.spec = spec
        self.revealed = 0

    def apply(self, value: str, type_id: str | None = None) -> str:
        if not value:
            return ""  # an empty (suppressed) cell has nothing to reveal
        clear = self._op.reverse(value, type_id)
        self.revealed += 1
        return clear


def reveal_file(
    path: str | Path,
    column: str,
    output: str | Path,
    request: RevealRequest,
    make_operator: OperatorFactory,
    ledger: AppendsEvents,
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[FileResult, AppendReceipt]:
    """Write ``output``: the file at ``path`` with ``column`` revealed.  The new file is written
    beside ``output``, the reveal recorded (with the row count), and only then renamed into
    place.  Values that do not reverse stop the reveal (nothing is written)."""
    from leakwarden.protect.rewrite_files import protect_file

    request.check()
    src, out = Path(path), Path(output)
    if out.exists() and out.resolve() == src.resolve():
        raise RevealDenied("a revealed file is written to a new file (--out), never in place")
    op = _reverser(request, make_operator)
    reverse = _Reverse(op, request.spec)
    rule = Rule("file", "*", column, request.spec, request.type_id, "fail", "reveal")
    receipts: list[AppendReceipt] = []

    def record(result: FileResult) -> None:
        rows = reverse.revealed
        receipts.append(_record(ledger, _event(request, "success", str(src), [column], rows)))

    as_operator: Operator = reverse
    try:
        result = protect_file(
            src,
            [rule],
            lambda _spec: as_operator,
            output=out,
            manifest=False,
            before_commit=record,
            progress=progress,
        )
    except RewriteError as exc:
        if not receipts:
            _record_failure(ledger, _event(request, "failure", str(src), [column], None))
        raise RevealDenied(f"nothing revealed: {exc}") from None
    return result, receipts[0]
