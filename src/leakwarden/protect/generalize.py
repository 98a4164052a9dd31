"""Generalisation: keep a coarser, less identifying form of a value.

``age_band[:N][@YYYY-MM-DD]``
    Age in whole years on the given date (default: today, UTC; give a date to make re-runs on
    other days give the same bands), in bands of N years (default 10): ``30-39``.  From a date
    of birth (any layout ``validators.parse_birth_date`` reads; an ambiguous DD/MM vs MM/DD date
    gives a band only when both readings fall in the same band) or from a resident ID's birth
    date.
``birth_year``
    The year of birth: ``1990``.
``province`` / ``city`` / ``district``
    An address cut to that administrative level (``masking.address_prefix``), or for a resident
    ID the names of its region code (GB/T 2260, stdnum's table): ``110105…`` → ``北京市朝阳区``.

A value that cannot be generalised raises :class:`OperatorError` (the rule's bad-value policy
then fails, masks or suppresses it); the message never contains the value.
"""

from __future__ import annotations

import datetime
from functools import cache

from leakwarden.detect import validators
from leakwarden.protect.masking import address_prefix
from leakwarden.protect.operator import OperatorError

__all__ = ["GENERALIZATIONS", "GeneralizeOperator", "age_band", "birth_date_of"]

GENERALIZATIONS = ("age_band", "birth_year", "province", "city", "district")


def _id_birth(value: str) -> datetime.date | None:
    digits = value.strip().upper()
    try:
        if len(digits) == 18 and digits[:17].isdigit():
            return datetime.date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
        if len(digits) == 15 and digits.isdigit():
            return datetime.date(1900 + int(digits[6:8]), int(digits[8:10]), int(digits[10:12]))
    except ValueError:
        return None
    return None


def birth_date_of(value: str, type_id: str | None) -> list[datetime.date]:
    """The birth date(s) a resident ID or a date of birth denotes (two for an ambiguous
    DD/MM date), or ``[]``."""
    if type_id == "cn_resident_id" or (type_id is None and _id_birth(value)):
        day = _id_birth(value)
        return [day] if day else []
    return validators.parse_birth_date(value)


def _age(born: datetime.date, on: datetime.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def age_band(born: datetime.date, width: int, on: datetime.date) -> str:
    age = _age(born, on)
    if age < 0:
        raise OperatorError("birth date after the reference date")
    low = age // width * width
    return f"{low}-{low + width - 1}"


@cache
def _region_names() -> dict[str, tuple[str, str, str]]:
    from leakwarden.demo.regions import counties

    return {c.code: (c.province, c.city, c.district) for c in counties()}


class GeneralizeOperator:
    """``generalize:<how>`` (see the module docstring)."""

    reversible = False

    def __init__(self, how: str, *, as_of: datetime.date | None = None) -> None:
        how_part, _, on = how.partition("@")
        if on:
            try:
                as_of = datetime.date.fromisoformat(on)
            except ValueError:
                raise ValueError(
                    f"generalisation {how!r}: {on!r} is not a YYYY-MM-DD date"
                ) from None
        name, _, arg = how_part.partition(":")
        if name not in GENERALIZATIONS:
            raise ValueError(
                f"unknown generalisation {name!r}; known: {', '.join(GENERALIZATIONS)}"
            )
        if arg and (name != "age_band" or not arg.isdigit() or int(arg) < 1):
            raise ValueError(
                f"generalisation {how!r}: only age_band takes a band width (age_band:5)"
            )
        self.spec = f"generalize:{how}"
        self.how = name
        self.width = int(arg) if arg else 10
        self.as_of = as_of

    def __repr__(self) -> str:
        return f"GeneralizeOperator({self.spec!r})"

    def apply(self, value: str, type_id: str | None = None) -> str:
        if self.how in ("age_band", "birth_year"):
            days = birth_date_of(value, type_id)
            if not days:
                raise OperatorError(
                    f"{self.spec}: a value of {len(value)} characters is not a birth date "
                    "or resident ID"
                )
            if self.how == "birth_year":
                years = {d.year for d in days}
                if len(years) != 1:
                    raise OperatorError(f"{self.spec}: ambiguous date")
                return str(years.pop())
            on = self.as_of or datetime.datetime.now(datetime.UTC).date()
            bands = {age_band(d, self.width, on) for d in days}
            if len(bands) != 1:
                raise OperatorError(f"{self.spec}: ambiguous date (DD/MM or MM/DD)")
            return bands.pop()
        level = self.how
        if type_id == "cn_resident_id" or (
            type_id is None and value[:6].isdigit() and _id_birth(value)
        ):
            names = _region_names().get(value.strip()[:6])
            if names is None:
                raise OperatorError(f"{self.spec}: region code not in the current GB/T 2260 table")
            province, city, district = names
            if level == "province":
                return province
            if level == "city":
                return province if city == province else province + city
            return (province if city == province else province + city) + district
        prefix = address_prefix(value, level)
        if not prefix:
            raise OperatorError(
                f"{self.spec}: no {level} recognised at the start of a "
                f"{len(value)}-character address"
            )
        return prefix
