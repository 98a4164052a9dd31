"""Privacy waybills: the fields a courier label prints, with the recipient's identity masked.

Input: one order or waybill record with the columns of ``leakwarden.demo.schema`` (``waybills``:
``waybill_no``, ``courier``, ``recipient_name``, ``recipient_phone``, ``recipient_address``,
``sender_*``; or ``orders``: ``id``, ``ship_to_name``, ``ship_to_phone``, ``ship_to_address``).
Output (:class:`WaybillLabel`):

- recipient name masked (``张*明``), phone masked (``138****5678``);
- a **virtual relay number** the courier dials instead: ``<relay line> 转 <extension>``, e.g.
  ``95013 转 4821``.  The relay line comes from the company's pool of rented lines (95xxx service
  numbers or 170/171 virtual numbers; :data:`DEFAULT_RELAY_LINES` is a placeholder to be
  configured).  The line and the 4-digit extension are derived deterministically from
  ``HMAC-SHA-256(relay key, waybill no || phone)`` so a reprint gives the same number, then
  registered in ``protect_relay`` against a vault token of the real phone for 30 days (``ttl``;
  afterwards the relay refuses it and the slot can be reused); on a clash with another live
  registration the extension is probed forward (deterministically).  The relay resolves
  it with :meth:`RelayRegistry.resolve`, which goes through the vault's audited, permissioned
  detokenisation: no one reads the real number off the label or the table;
- the address at the level the courier needs: ``full`` (default: street and house number, needed
  to deliver), ``district`` or ``city`` (e.g. for a label shown in a pick-up locker);
- nothing else: no resident ID (``orders.ext_info``), e-mail or order contents.

``waybill_app`` is the ``leakwarden waybill`` command (``label``, reading JSON lines or a
``waybills`` table).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from leakwarden.protect.masking import mask_address, mask_value
from leakwarden.protect.operator import OperatorError

if TYPE_CHECKING:
    from leakwarden.protect.keys import KeyRing
    from leakwarden.protect.vault import TokenVault

__all__ = [
    "DEFAULT_RELAY_LINES",
    "RelayRegistry",
    "WaybillLabel",
    "make_label",
    "waybill_app",
]

#: Placeholder relay lines; a deployment configures the lines it rents.
DEFAULT_RELAY_LINES: tuple[str, ...] = ("95013",)
#: How long a relay number reaches the recipient (delivery plus returns); then the slot is free.
DEFAULT_RELAY_TTL = timedelta(days=30)
ADDRESS_LEVELS = ("full", "district", "city")
_EXTENSIONS = 10_000
RELAY_NAMESPACE = "relay"


@dataclass(frozen=True, slots=True)
class WaybillLabel:
    """What the label prints (no clear name or phone, no ID)."""

    waybill_no: str
    courier: str
    recipient_name: str
    recipient_phone: str
    relay_number: str
    relay_extension: str
    recipient_address: str
    sender_name: str
    sender_phone: str
    sender_address: str

    @property
    def dial(self) -> str:
        return f"{self.relay_number} 转 {self.relay_extension}"


class RelayRegistry:
    """Virtual relay numbers ↔ vault tokens of real phone numbers (table ``protect_relay``)."""

    def __init__(
        self,
        keys: KeyRing,
        vault: TokenVault,
        *,
        key_name: str = "relay",
        lines: Sequence[str] = DEFAULT_RELAY_LINES,
        ttl: timedelta | None = DEFAULT_RELAY_TTL,
    ) -> None:
        if not lines:
            raise ValueError("the relay needs at least one line")
        self.keys = keys
        self.vault = vault
        self.key_name = key_name
        self.lines = tuple(lines)
        self.ttl = ttl
        self._mac = keys.ensure(key_name, "relay").derive("relay")

    def assign(self, waybill_no: str, phone: str) -> tuple[str, str]:
        """The (line, extension) of this waybill's recipient, registered now or earlier (an
        expired registration's slot is taken over)."""
        from sqlalchemy import insert, select, update
        from sqlalchemy.exc import IntegrityError

        from leakwarden.store.protect_tables import RelayNumber

        token = self.vault.tokenize(phone, "cn_mobile", self.key_name)
        mac = hmac.new(self._mac, f"{waybill_no}\0{phone}".encode(), hashlib.sha256).digest()
        start = int.from_bytes(mac[:8], "big")
        t = RelayNumber.__table__
        slots = len(self.lines) * _EXTENSIONS
        now = datetime.now(UTC)
        binding = {
            "vault_namespace": self.vault.namespace,
            "token": token,
            "order_ref": waybill_no,
            "created_at": now,
            "expires_at": now + self.ttl if self.ttl is not None else None,
        }
        for probe in range(64):
            slot = (start + probe) % slots
            line, ext = self.lines[slot // _EXTENSIONS], f"{slot % _EXTENSIONS:04d}"
            where = (t.c.virtual_number == line, t.c.extension == ext)
            with self.keys.engine.connect() as conn:
                row = conn.execute(
                    select(t.c.id, t.c.token, t.c.order_ref, t.c.expires_at).where(*where)
                ).first()
            try:
                with self.keys.engine.begin() as conn:
                    if row is None:
                        conn.execute(
                            insert(RelayNumber).values(
                                virtual_number=line, extension=ext, **binding
                            )
                        )
                        return line, ext
                    if row.token == token and row.order_ref == waybill_no:
                        conn.execute(
                            update(RelayNumber)
                            .where(RelayNumber.id == row.id)
                            .values(expires_at=binding["expires_at"])
                        )
                        return line, ext
                    if row.expires_at is not None and row.expires_at <= now:
                        done = conn.execute(
                            update(RelayNumber)
                            .where(RelayNumber.id == row.id, RelayNumber.expires_at <= now)
                            .values(**binding)
                        )
                        if done.rowcount == 1:
                            return line, ext
            except IntegrityError:
                continue
        raise OperatorError("no free relay extension after 64 probes; add relay lines")

    def resolve(self, line: str, extension: str, *, actor: str, reason: str) -> str:
        """The real phone behind a relay number (the vault checks permission and audits)."""
        from sqlalchemy import select

        from leakwarden.protect.vault import VaultError
        from leakwarden.store.protect_tables import RelayNumber

        t = RelayNumber.__table__
        with self.keys.engine.connect() as conn:
            row = conn.execute(
                select(t.c.token, t.c.expires_at).where(
                    t.c.virtual_number == line, t.c.extension == extension
                )
            ).first()
        if row is None:
            raise VaultError(f"relay number {line} ext {extension} is not registered")
        if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
            raise VaultError(f"relay number {line} ext {extension} has expired")
        return self.vault.detokenize(row.token, actor=actor, reason=reason)


def _first(record: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = record.get(name)
        if value not in (None, ""):
            return str(value)
    return ""


def make_label(
    record: Mapping[str, Any],
    relay: RelayRegistry | None = None,
    *,
    address_level: str = "full",
) -> WaybillLabel:
    """The label of one order/waybill record (module docstring).  Without ``relay`` the relay
    fields are empty.  :class:`OperatorError` when the record has no recipient phone or
    address (a label is not printed without them)."""
    if address_level not in ADDRESS_LEVELS:
        raise ValueError(f"address level {address_level!r}: use one of {', '.join(ADDRESS_LEVELS)}")
    name = _first(record, "recipient_name", "ship_to_name")
    phone = _first(record, "recipient_phone", "ship_to_phone")
    address = _first(record, "recipient_address", "ship_to_address")
    ref = _first(record, "waybill_no", "order_id", "id")
    if not phone or not address:
        raise OperatorError("recipient phone or address missing")  # no waybill no. (PI) here
    line = ext = ""
    if relay is not None:
        line, ext = relay.assign(ref, phone)
    if address_level == "full":
        shown_address = address
    else:
        shown_address = mask_address(address, address_level).rstrip("*") or mask_address(address)
    return WaybillLabel(
        waybill_no=ref,
        courier=_first(record, "courier"),
        recipient_name=mask_value(name, "name") if name else "",
        recipient_phone=mask_value(phone, "keep:3,4", "cn_mobile"),
        relay_number=line,
        relay_extension=ext,
        recipient_address=shown_address,
        sender_name=_first(record, "sender_name"),
        sender_phone=_first(record, "sender_phone"),
        sender_address=_first(record, "sender_address"),
    )


# --- the command ---------------------------------------------------------------------------

waybill_app = typer.Typer(
    name="waybill", help="Privacy waybills: masked labels with virtual relay numbers."
)


def _records(
    source: str, table_url: str | None, limit: int | None
) -> Iterable[tuple[str, dict[str, Any]]]:
    """(where, record) pairs; ``where`` names the file and line or the table row."""
    if table_url:
        from sqlalchemy import create_engine, select

        from leakwarden.demo.schema import waybills

        engine = create_engine(table_url)
        try:
            with engine.connect() as conn:
                q = select(waybills).order_by(waybills.c.waybill_no)
                for n, row in enumerate(conn.execute(q.limit(limit) if limit else q), 1):
                    yield f"waybills row {n}", dict(row._mapping)
        finally:
            engine.dispose()
        return
    fh = sys.stdin if source == "-" else Path(source).open(encoding="utf-8")  # noqa: SIM115
    try:
        for line_no, line in enumerate(fh, 1):
            if limit is not None and line_no > limit:
                break
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise typer.BadParameter(
                    f"{source}, line {line_no}, column {exc.colno}: not JSON ({exc.msg})"
                ) from None
            if not isinstance(rec, dict):
                raise typer.BadParameter(f"{source}, line {line_no}: not a JSON object")
            yield f"{source}, line {line_no}", rec
    finally:
        if fh is not sys.stdin:
            fh.close()


@waybill_app.command("label")
def label_command(
    source: Annotated[
        str, typer.Argument(help="JSON lines of order/waybill records, '-' for stdin.")
    ] = "-",
    table_url: Annotated[
        str | None,
        typer.Option("--from-db", help="Read the 'waybills' table of this database instead."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many records.")] = None,
    address_level: Annotated[
        str, typer.Option("--address", help="full, district or city.")
    ] = "full",
    relay: Annotated[
        bool, typer.Option("--relay/--no-relay", help="Assign virtual relay numbers.")
    ] = True,
    relay_lines: Annotated[
        str, typer.Option("--relay-lines", help="Comma-separated relay lines.")
    ] = ",".join(DEFAULT_RELAY_LINES),
    db: Annotated[str | None, typer.Option("--db", help="Store URL (key ring, vault).")] = None,
    master_file: Annotated[Path | None, typer.Option("--master-file")] = None,
    master_env: Annotated[str | None, typer.Option("--master-env")] = None,
    passphrase_env: Annotated[str | None, typer.Option("--passphrase-env")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines for machines.")] = False,
) -> None:
    """Print privacy-waybill labels (masked name and phone, relay number, address)."""
    from leakwarden.protect.keys import KeyRingError
    from leakwarden.protect.keys_command import open_key_ring
    from leakwarden.protect.vault import TokenVault

    ring = None
    try:
        registry = None
        if relay:
            ring = open_key_ring(db, master_file, master_env, passphrase_env)
            vault = TokenVault(ring, namespace=RELAY_NAMESPACE)
            ring.ensure("relay", "relay")
            lines = [x.strip() for x in relay_lines.split(",") if x.strip()]
            registry = RelayRegistry(ring, vault, lines=lines)
        labels = []
        for where, rec in _records(source, table_url, limit):
            try:
                labels.append(make_label(rec, registry, address_level=address_level))
            except OperatorError as exc:
                raise OperatorError(f"{where}: {exc}") from None
    except (KeyRingError, OperatorError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        if ring is not None:
            ring.close()
    if as_json:
        for lab in labels:
            sys.stdout.write(json.dumps(asdict(lab), ensure_ascii=False) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Privacy waybills")
    for col in ("waybill", "courier", "recipient", "phone", "dial", "address"):
        table.add_column(col)
    for lab in labels:
        table.add_row(
            lab.waybill_no,
            lab.courier,
            lab.recipient_name,
            lab.recipient_phone,
            lab.dial if lab.relay_number else "",
            lab.recipient_address,
        )
    Console().print(table)
