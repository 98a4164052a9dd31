"""A saved customer index (:class:`leakwarden.trace.match.CustomerIndex`): built once, which
takes minutes for ten million customers, then loaded memory-mapped in well under a second for
every trace.

Folder layout: ``manifest.json`` and one ``.npy`` file per array (``hashes``, ``owners``, the
masked-value arrays ``mobile_*`` and ``id_*``), read with ``numpy.load(mmap_mode="r")`` so
loading costs the manifest checks, not the arrays' size.  The folder is written beside its
target and renamed into place, so a reader never sees half an index.

Key.  The index hashes with a key derived (HKDF, :meth:`leakwarden.protect.keys.DataKey.
derive`) from the key ring's data key :data:`KEY_NAME` (created on the first build), so the
folder holds no key: without the key ring (and its master key) its hashes cannot be tested
against guessed phone numbers.  The manifest names the key version and a one-way check value.

Manifest: ``format``/``format_version``, ``key`` (name, version, check), ``customers``,
``max_customer_id``, ``built_at`` (UTC), ``build_seconds``, ``company`` (URL without password,
the :class:`~leakwarden.trace.match.CustomerSource`), ``pseudonym_keys`` (version and one-way
check of each gateway pseudonym key indexed), ``arrays`` (dtype, shape of each file).

:func:`load_index` refuses, with :class:`IndexFileError` naming the problem and the folder:

- a missing or unreadable folder, manifest or array, another format version, an array whose
  dtype or shape is not the manifest's;
- a key the key ring does not hold or that gives another check value (a rebuilt key ring);
- another company (URL) or customer source than the trace's, other pseudonym keys;
- a stale index: the company's largest customer id (and, when asked, its customer count: a
  table scan, seconds at ten million rows) is no longer the one recorded, or the index is older
  than ``max_age`` (default :data:`MAX_AGE`).  Changed values of existing customers (a new
  mobile) and, without the count, deleted customers are not detected by these checks: rebuild
  the index on a schedule shorter than ``max_age``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from leakwarden.trace.match import CustomerIndex, CustomerSource, _MaskIndex

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy.engine import Engine

    from leakwarden.protect.keys import KeyRing

__all__ = [
    "KEY_NAME",
    "MAX_AGE",
    "IndexFileError",
    "IndexInfo",
    "build_index",
    "company_state",
    "company_url",
    "info",
    "load_index",
    "pseudonym_check",
    "read_manifest",
    "save_index",
    "timed_build",
]

FORMAT = "leakwarden-trace-index"
FORMAT_VERSION = 2  # 2: na: keys carry the address numbers, a: keys added
KEY_NAME = "trace-index"
MAX_AGE = timedelta(days=7)
MANIFEST = "manifest.json"
_ARRAYS = ("hashes", "owners", "mobile_codes", "mobile_values", "mobile_owners", "id_codes",
           "id_values", "id_owners")  # fmt: skip


class IndexFileError(ValueError):
    """A saved index cannot be used; the message names the folder and the reason."""


@dataclass(frozen=True)
class IndexInfo:
    """What a saved index's manifest says (for ``trace-index show`` and reports)."""

    path: str
    customers: int
    max_customer_id: int
    built_at: datetime
    build_seconds: float
    key: str
    company_url: str
    entries: int


def pseudonym_check(key: bytes) -> str:
    """A one-way check value of a gateway pseudonym key (which keys an index was built with)."""
    import hashlib

    return hashlib.blake2b(b"leakwarden-pseudonym-check", key=key[:64]).hexdigest()[:16]


def company_url(company: Engine) -> str:
    """The company's URL as recorded: password hidden, a SQLite file as an absolute path."""
    url = company.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).resolve()))
    return url.render_as_string(hide_password=True)


def company_state(
    company: Engine, source: CustomerSource, *, count: bool = False
) -> tuple[int | None, int]:
    """(number of customers or None when ``count`` is false, largest customer id) in the
    company now.  The largest id is one primary-key lookup; counting reads the whole table
    (seconds at ten million rows)."""
    from sqlalchemy import column, func, select, table

    t = table(source.table, column(source.id))
    with company.connect() as conn:
        top = conn.execute(select(func.max(t.c[source.id]))).scalar()
        total = conn.execute(select(func.count()).select_from(t)).scalar() if count else None
    return (None if total is None else int(total)), int(top or 0)


def _index_key(keys: KeyRing, version: int | None = None) -> tuple[bytes, int]:
    data_key = keys.ensure(KEY_NAME, KEY_NAME) if version is None else keys.get(KEY_NAME, version)
    return data_key.derive(KEY_NAME), data_key.version


def build_index(
    company: Engine,
    keys: KeyRing,
    *,
    pseudonym_keys: Sequence[tuple[bytes, int]] = (),
    source: CustomerSource | None = None,
    progress: Callable[[int], None] | None = None,
) -> CustomerIndex:
    """A :class:`CustomerIndex` keyed from the key ring (module docstring), ready to save."""
    key, version = _index_key(keys)
    index = CustomerIndex.build(
        company,
        pseudonym_keys=pseudonym_keys,
        progress=progress,
        key=key,
        key_id=f"{KEY_NAME}:{version}",
        source=source or CustomerSource(),
    )
    index.built_at = datetime.now(UTC)
    return index


def save_index(
    index: CustomerIndex,
    path: str | Path,
    *,
    company: Engine,
    pseudonym_keys: Sequence[tuple[bytes, int]] = (),
    build_seconds: float = 0.0,
    replace: bool = False,
) -> Path:
    """Write ``index`` (from :func:`build_index`) to the folder ``path``, atomically.

    An existing folder is replaced only with ``replace=True`` and only if it is a saved index
    (it has a manifest); otherwise :class:`IndexFileError`."""
    target = Path(path)
    if not index.key_id.startswith(f"{KEY_NAME}:"):
        raise IndexFileError(f"{target}: only an index keyed from the key ring can be saved")
    if target.exists():
        if not replace:
            raise IndexFileError(f"{target}: exists; give --replace to rebuild it")
        if not (target / MANIFEST).is_file():
            raise IndexFileError(f"{target}: exists and is not a saved index; not replacing it")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.parent / f".{target.name}.partial-{secrets.token_hex(4)}"
    work.mkdir(mode=0o700)
    try:
        arrays: dict[str, npt.NDArray[Any]] = {
            "hashes": index.hashes,
            "owners": index.owners,
            "mobile_codes": index.mobiles.codes,
            "mobile_values": index.mobiles.values,
            "mobile_owners": index.mobiles.owners,
            "id_codes": index.ids.codes,
            "id_values": index.ids.values,
            "id_owners": index.ids.owners,
        }
        for name, array in arrays.items():
            with (work / f"{name}.npy").open("wb") as fh:
                np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
        built_at = index.built_at or datetime.now(UTC)
        _key_name, version = index.key_id.split(":", 1)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "key": {"name": KEY_NAME, "version": int(version), "check": index.key_check()},
            "customers": index.customers,
            "max_customer_id": index.max_customer_id,
            "built_at": built_at.isoformat(),
            "build_seconds": round(build_seconds, 3),
            "company": {"url": company_url(company), "source": index.source.to_json()},
            "pseudonym_keys": sorted(
                ({"version": v, "check": pseudonym_check(k)} for k, v in pseudonym_keys),
                key=lambda d: (d["version"], d["check"]),
            ),
            "arrays": {
                name: {"dtype": str(a.dtype), "shape": list(a.shape)} for name, a in arrays.items()
            },
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
            target.rename(old)
        work.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the saved index at ``path``; :class:`IndexFileError` if unreadable."""
    folder = Path(path)
    try:
        doc = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexFileError(f"{folder}: not a saved index (no {MANIFEST})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFileError(f"{folder}/{MANIFEST}: unreadable: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise IndexFileError(f"{folder}/{MANIFEST}: not a leakwarden trace index manifest")
    if doc.get("format_version") != FORMAT_VERSION:
        raise IndexFileError(
            f"{folder}: index format version {doc.get('format_version')!r}, this leakwarden "
            f"reads version {FORMAT_VERSION}: rebuild it (leakwarden trace-index build)"
        )
    return doc


def info(path: str | Path) -> IndexInfo:
    """The manifest of a saved index, as an :class:`IndexInfo`."""
    doc = read_manifest(path)
    try:
        return IndexInfo(
            str(path),
            int(doc["customers"]),
            int(doc["max_customer_id"]),
            datetime.fromisoformat(doc["built_at"]),
            float(doc["build_seconds"]),
            f"{doc['key']['name']}:{doc['key']['version']}",
            str(doc["company"]["url"]),
            int(doc["arrays"]["hashes"]["shape"][0]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFileError(f"{path}/{MANIFEST}: missing or bad field: {exc}") from None


def load_index(
    path: str | Path,
    keys: KeyRing,
    *,
    company: Engine | None = None,
    source: CustomerSource | None = None,
    pseudonym_keys: Sequence[tuple[bytes, int]] = (),
    max_age: timedelta | None = MAX_AGE,
    now: datetime | None = None,
    count_customers: bool = False,
) -> CustomerIndex:
    """The saved index at ``path``, memory-mapped, after the checks of the module docstring.

    ``company``: the trace's company database (checked: same URL, same largest customer id,
    and with ``count_customers`` the same number of customers, which costs a table scan;
    None skips these checks, for offline use); ``source``: the trace's customer source
    (default: the demo's); ``max_age``: None disables the age check."""
    folder = Path(path)
    doc = read_manifest(folder)
    meta = info(folder)
    where = str(folder)
    try:
        key_doc = doc["key"]
        version = int(key_doc["version"])
    except (KeyError, TypeError, ValueError):
        raise IndexFileError(f"{where}: manifest names no key version") from None
    from leakwarden.protect.keys import KeyRingError

    try:
        key, _ = _index_key(keys, version)
    except KeyRingError as exc:
        raise IndexFileError(
            f"{where}: built with key {KEY_NAME} version {version}, which this key ring does "
            f"not hold ({exc}): rebuild the index"
        ) from None
    index = CustomerIndex(key, f"{KEY_NAME}:{version}")
    if index.key_check() != key_doc.get("check"):
        raise IndexFileError(
            f"{where}: key {KEY_NAME} version {version} of this key ring is not the one the "
            "index was built with (another key ring?): rebuild the index"
        )
    want_source = source or CustomerSource()
    try:
        saved_source = CustomerSource.from_json(doc["company"]["source"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFileError(f"{where}: manifest customer source unreadable: {exc}") from None
    if saved_source != want_source:
        raise IndexFileError(
            f"{where}: built from customer source {saved_source.to_json()}, the trace reads "
            f"{want_source.to_json()}"
        )
    want_pseudo = sorted(
        ({"version": v, "check": pseudonym_check(k)} for k, v in pseudonym_keys),
        key=lambda d: (d["version"], d["check"]),
    )
    if doc.get("pseudonym_keys", []) != want_pseudo:
        raise IndexFileError(
            f"{where}: built with {len(doc.get('pseudonym_keys', []))} pseudonym key(s), the "
            f"trace has {len(want_pseudo)} (or other keys): rebuild the index with the same "
            "--pseudonym-key-env"
        )
    moment = now or datetime.now(UTC)
    if max_age is not None and moment - meta.built_at > max_age:
        raise IndexFileError(
            f"{where}: stale, built {meta.built_at.isoformat(timespec='seconds')}, older than "
            f"{max_age}: rebuild it (or give a larger --index-max-age)"
        )
    if company is not None:
        url = company_url(company)
        if url != meta.company_url:
            raise IndexFileError(
                f"{where}: built from the company database {meta.company_url}, the trace "
                f"reads {url}"
            )
        count, top = company_state(company, want_source, count=count_customers)
        if top != meta.max_customer_id or count not in (None, meta.customers):
            now_has = f"{count:,} customers, " if count is not None else ""
            raise IndexFileError(
                f"{where}: stale, built for {meta.customers:,} customers (largest id "
                f"{meta.max_customer_id}), the company now has {now_has}largest id {top}: "
                "rebuild it"
            )
    arrays: dict[str, Any] = {}
    for name in _ARRAYS:
        spec = doc.get("arrays", {}).get(name)
        try:
            arr = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexFileError(f"{where}/{name}.npy: unreadable: {exc}") from None
        if not spec or str(arr.dtype) != spec.get("dtype") or list(arr.shape) != spec.get("shape"):
            raise IndexFileError(
                f"{where}/{name}.npy: {arr.dtype}{list(arr.shape)}, the manifest says {spec}"
            )
        arrays[name] = arr
    index.hashes = arrays["hashes"]
    index.owners = arrays["owners"]
    index.mobiles = _MaskIndex(
        arrays["mobile_codes"], arrays["mobile_values"], arrays["mobile_owners"]
    )
    index.ids = _MaskIndex(arrays["id_codes"], arrays["id_values"], arrays["id_owners"])
    index.customers = meta.customers
    index.max_customer_id = meta.max_customer_id
    index.source = saved_source
    index.built_at = meta.built_at
    return index


def timed_build(
    company: Engine,
    keys: KeyRing,
    path: str | Path,
    *,
    pseudonym_keys: Sequence[tuple[bytes, int]] = (),
    source: CustomerSource | None = None,
    replace: bool = False,
    progress: Callable[[int], None] | None = None,
) -> tuple[CustomerIndex, float]:
    """Build and save in one step; (index, build seconds)."""
    if Path(path).exists() and not replace:
        raise IndexFileError(f"{path}: exists; give --replace to rebuild it")
    t0 = time.perf_counter()
    index = build_index(
        company, keys, pseudonym_keys=pseudonym_keys, source=source, progress=progress
    )
    seconds = time.perf_counter() - t0
    save_index(
        index,
        path,
        company=company,
        pseudonym_keys=pseudonym_keys,
        build_seconds=seconds,
        replace=replace,
    )
    return index, seconds
