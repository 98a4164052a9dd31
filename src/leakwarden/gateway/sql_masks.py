"""SQL mask expressions: what a MASKED column becomes inside the gateway's per-table subquery.

The SQL path cannot call Python operators (``leakwarden.protect``) row by row, so each data class's
default mask (``leakwarden.detect.types``, ``PIType.default_mask``) is written as an SQL
expression built from sqlglot nodes, which sqlglot then writes for the target dialect (SQLite and
PostgreSQL are tested).  Every expression starts from ``CAST(col AS TEXT)`` so dates and numbers
mask like strings, and yields text.

Simplifications against the Python masks, all towards hiding more:

* ``keep:A,B`` keeps the first A and last B characters and turns *every* character between them
  (separators too) into ``*``; a value shorter than A+B+4 becomes ``***`` entirely (a short value
  would otherwise be shown nearly or wholly in clear).
* ``email:A`` keeps A characters of the local part and the domain: ``z***@example.com``; a value
  without ``@`` (or with ``@`` within the kept part) becomes ``***``.
* ``name`` keeps the first character: ``张*`` (the Python mask keeps the last character of long
  names too).
* ``address`` keeps the first 6 characters (province and city for Chinese addresses) and adds
  ``****``; shorter values become ``***``.
* ``year`` keeps the first 4 characters (the year of an ISO date): ``1990-**-**``.
* everything else (``redact``, ``full``, ``ip:N``, unknown or missing classes, free text with
  three or more classes) becomes ``***``; a column with two classes of different masks gets the
  mask that shows fewer characters (:func:`mask_spec_for`).

NULL stays NULL (SQL's ``||`` and the CASE guards propagate it), so ``IS NULL`` tells no more
than the column's presence.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from leakwarden.detect.types import PI_TYPES, parse_mask

__all__ = ["CONSTANT_MASK", "TEXT_TYPE", "mask_expression", "mask_spec_for"]

CONSTANT_MASK = "***"
_STARS = "*" * 64
_MIN_HIDDEN = 4  # a keep:A,B mask must hide at least this many characters, or hide everything
_ADDRESS_KEEP = 6
TEXT_TYPE = exp.DataType.build("TEXT")  # built once: DataType.build parses its argument


def _revealed(spec: str) -> int:
    """Roughly how many characters a mask spec shows (to pick the stricter of two)."""
    parsed = parse_mask(spec)
    if parsed.op == "keep":
        return sum(parsed.args)
    return {"email": 64, "address": _ADDRESS_KEEP, "year": 4, "name": 1}.get(parsed.op, 0)


def mask_spec_for(data_classes: Sequence[str]) -> str:
    """The mask spec of a column holding these data classes (PI type ids).

    One class (or several sharing a mask): that type's default mask.  Two with different masks
    (``id_card`` holds resident IDs and US SSNs): the one that shows fewer characters.  Free
    text with three or more classes, unknown classes and no class at all: ``redact``.
    """
    specs: set[str] = set()
    for type_id in data_classes:
        pi_type = PI_TYPES.get(type_id)
        if pi_type is None or not pi_type.default_mask:
            return "redact"
        specs.add(pi_type.default_mask)
    if not specs or len(data_classes) > 2:
        return "redact"
    return min(sorted(specs), key=_revealed)


def _lit(value: str | int) -> exp.Expr:
    return exp.Literal.string(value) if isinstance(value, str) else exp.Literal.number(value)


def _substr(text: exp.Expr, start: exp.Expr | int, length: int | None = None) -> exp.Expr:
    args: dict[str, exp.Expr] = {
        "this": text.copy(),
        "start": start if isinstance(start, exp.Expr) else _lit(start),
    }
    if length is not None:
        args["length"] = _lit(length)
    return exp.Substring(**args)


def _length(text: exp.Expr) -> exp.Expr:
    return exp.Length(this=text.copy())


def _concat(*parts: exp.Expr) -> exp.Expr:
    out = parts[0]
    for part in parts[1:]:
        out = exp.DPipe(this=out, expression=part, safe=True)
    return out


def _case(condition: exp.Expr, then: exp.Expr) -> exp.Expr:
    """CASE WHEN condition THEN then ELSE '***' END (NULL in, NULL out: a NULL condition is
    not true, so NULL would become '***'; callers guard NULL separately)."""
    return exp.Case(ifs=[exp.If(this=condition, true=then)], default=_lit(CONSTANT_MASK))


def _null_safe(text: exp.Expr, masked: exp.Expr) -> exp.Expr:
    return exp.Case(
        ifs=[exp.If(this=exp.Is(this=text.copy(), expression=exp.Null()), true=exp.Null())],
        default=masked,
    )


def mask_expression(column: exp.Expr, data_classes: Sequence[str]) -> exp.Expr:
    """An SQL expression that masks ``column`` (a column reference) by its data classes' mask."""
    text = exp.Cast(this=column.copy(), to=TEXT_TYPE.copy())
    spec = parse_mask(mask_spec_for(data_classes))
    masked: exp.Expr
    if spec.op == "keep":
        head, tail = spec.args
        middle = exp.Sub(this=_length(text), expression=_lit(head + tail))
        parts: list[exp.Expr] = []
        if head:
            parts.append(_substr(text, 1, head))
        parts.append(exp.Substring(this=_lit(_STARS), start=_lit(1), length=exp.Paren(this=middle)))
        if tail:
            start = exp.Add(
                this=exp.Sub(this=_length(text), expression=_lit(tail)), expression=_lit(1)
            )
            parts.append(_substr(text, start, tail))
        guard = exp.GTE(this=_length(text), expression=_lit(head + tail + _MIN_HIDDEN))
        masked = _case(guard, _concat(*parts))
    elif spec.op == "email":
        (keep,) = spec.args
        at = exp.StrPosition(this=text.copy(), substr=_lit("@"))
        masked = _case(
            exp.GT(this=at.copy(), expression=_lit(keep + 1)),
            _concat(_substr(text, 1, keep), _lit("***"), _substr(text, at.copy())),
        )
    elif spec.op == "name":
        masked = _case(
            exp.GTE(this=_length(text), expression=_lit(2)),
            _concat(_substr(text, 1, 1), _lit("*")),
        )
    elif spec.op == "address":
        masked = _case(
            exp.GT(this=_length(text), expression=_lit(_ADDRESS_KEEP + 3)),
            _concat(_substr(text, 1, _ADDRESS_KEEP), _lit("****")),
        )
    elif spec.op == "year":
        masked = _case(
            exp.GTE(this=_length(text), expression=_lit(8)),
            _concat(_substr(text, 1, 4), _lit("-**-**")),
        )
    else:
        masked = _lit(CONSTANT_MASK)
    return _null_safe(text, masked)
