"""trace (issue 6): the saved customer index (:mod:`leakwarden.trace.index`), its checks, and
the ``trace-index`` / ``trace --index`` commands."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert, select

from leakwarden.demo.build import build_company
from leakwarden.demo.schema import customers
from leakwarden.protect.keys import KeyRing, MasterKey
from leakwarden.store import db
from leakwarden.trace.index import (
    KEY_NAME,
    IndexFileError,
    build_index,
    load_index,
    read_manifest,
    save_index,
    timed_build,
)
from leakwarden.trace.match import CustomerIndex, match_sample
from leakwarden.trace.normalize import read_sample


@dataclass
class World:
    company_url: str
    store_url: str
    raw_master: bytes
    people: list[dict[str, Any]]
    tmp: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("index")
    company_url = f"sqlite:///{tmp / 'company.db'}"
    build_company(company_url, customers=300, seed=97)
    engine = db.make_engine(company_url)
    with engine.connect() as conn:
        people = [
            dict(r._mapping) for r in conn.execute(select(customers).order_by(customers.c.id))
        ]
    engine.dispose()
    store_url = f"sqlite:///{tmp / 'store.db'}"
    db.upgrade(store_url)
    raw = secrets.token_bytes(32)
    KeyRing.open(store_url, MasterKey(raw)).close()
    yield World(company_url, store_url, raw, people, tmp)


@pytest.fixture
def keys(world: World) -> Iterator[KeyRing]:
    ring = KeyRing.open(world.store_url, MasterKey(world.raw_master))
    yield ring
    ring.close()


@pytest.fixture
def company(world: World) -> Iterator[Any]:
    engine = db.make_engine(world.company_url)
    yield engine
    engine.dispose()


def _leak(world: World, name: str) -> Path:
    path = world.tmp / name
    rows = ["name,phone,address"]
    for p in world.people[10:40]:
        if p["locale"] == "zh_CN":
            rows.append(f"{p['name']},{p['mobile']},")
            rows.append(f"{p['name']},{p['mobile'][:3]}****{p['mobile'][7:]},{p['address']}")
            rows.append(f"{p['name']},,{p['address']}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_saved_index_matches_like_the_built_one_and_is_memory_mapped(
    world: World, keys: KeyRing, company: Any
) -> None:
    built, seconds = timed_build(company, keys, world.tmp / "idx1")
    loaded = load_index(world.tmp / "idx1", keys, company=company)
    assert isinstance(loaded.hashes, np.memmap) and isinstance(loaded.owners, np.memmap)
    assert loaded.customers == len(world.people) == 300
    assert loaded.max_customer_id == max(p["id"] for p in world.people)
    sample = read_sample(_leak(world, "leak1.csv"))
    got = match_sample(sample, loaded, company)
    want = match_sample(sample, built, company)
    assert [(m.customer_id, m.confidence) for m in got] == [
        (m.customer_id, m.confidence) for m in want
    ]
    # the expected customers, from the leak's construction: three rows per zh_CN customer
    zh = [p["id"] for p in world.people[10:40] if p["locale"] == "zh_CN"]
    assert [m.customer_id for m in got] == [c for c in zh for _ in range(3)]
    doc = read_manifest(world.tmp / "idx1")
    assert doc["key"]["name"] == KEY_NAME and doc["key"]["version"] == 1
    assert doc["customers"] == 300
    assert doc["build_seconds"] == pytest.approx(seconds, abs=0.001)
    assert doc["company"]["url"].endswith("company.db")
    text = "".join(p.read_bytes().hex() for p in (world.tmp / "idx1").iterdir())
    assert world.people[0]["mobile"].encode().hex() not in text  # no clear value is kept


def test_another_key_ring_is_refused(world: World, keys: KeyRing, company: Any) -> None:
    timed_build(company, keys, world.tmp / "idx2")
    other_url = f"sqlite:///{world.tmp / 'other-store.db'}"
    db.upgrade(other_url)
    with KeyRing.open(other_url, MasterKey.generate()) as other:
        with pytest.raises(IndexFileError, match="does not hold"):
            load_index(world.tmp / "idx2", other)
        other.ensure(KEY_NAME, KEY_NAME)  # a version 1 of its own: not the same key
        with pytest.raises(IndexFileError, match="not the one the index was built with"):
            load_index(world.tmp / "idx2", other)


def test_stale_and_mismatched_indexes_are_refused(
    world: World, keys: KeyRing, company: Any, tmp_path: Path
) -> None:
    folder = world.tmp / "idx3"
    timed_build(company, keys, folder)
    built = read_manifest(folder)["built_at"]
    later = datetime.fromisoformat(built) + timedelta(days=8)
    with pytest.raises(IndexFileError, match="stale, built"):
        load_index(folder, keys, now=later)
    assert load_index(folder, keys, now=later, max_age=None).customers == 300
    with pytest.raises(IndexFileError, match="pseudonym key"):
        load_index(folder, keys, pseudonym_keys=[(secrets.token_bytes(32), 1)])
    # another company database
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    build_company(other_url, customers=10, seed=1)
    other = db.make_engine(other_url)
    with pytest.raises(IndexFileError, match="company database"):
        load_index(folder, keys, company=other)
    other.dispose()
    # a customer added since the build
    copy_url = f"sqlite:///{tmp_path / 'copy.db'}"
    build_company(copy_url, customers=300, seed=97)
    copy = db.make_engine(copy_url)
    save_index(build_index(copy, keys), tmp_path / "idx", company=copy)
    assert load_index(tmp_path / "idx", keys, company=copy, count_customers=True).customers == 300
    with copy.begin() as conn:
        new = dict(world.people[0], id=99_999, mobile="13900000009")
        conn.execute(insert(customers), [new])
    with pytest.raises(IndexFileError, match="stale, built for 300 customers"):
        load_index(tmp_path / "idx", keys, company=copy)
    copy.dispose()


def test_damaged_folders_are_refused(world: World, keys: KeyRing, company: Any) -> None:
    folder = world.tmp / "idx4"
    timed_build(company, keys, folder)
    with pytest.raises(IndexFileError, match="exists; give --replace"):
        timed_build(company, keys, folder)
    timed_build(company, keys, folder, replace=True)  # replacing a saved index is fine
    np.save(folder / "owners.npy", np.zeros(3, dtype=np.int64))
    with pytest.raises(IndexFileError, match=re.escape("owners.npy: int64[3], the manifest says")):
        load_index(folder, keys)
    manifest = folder / "manifest.json"
    doc = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(dict(doc, format_version=99)))
    with pytest.raises(IndexFileError, match="format version 99"):
        load_index(folder, keys)
    manifest.write_text("{not json")
    with pytest.raises(IndexFileError, match="unreadable"):
        load_index(folder, keys)
    with pytest.raises(IndexFileError, match=re.escape("no manifest.json")):
        load_index(world.tmp / "nowhere", keys)
    plain = world.tmp / "plain"
    plain.mkdir()
    with pytest.raises(IndexFileError, match="not a saved index; not replacing"):
        save_index(build_index(company, keys), plain, company=company, replace=True)
    with pytest.raises(IndexFileError, match="only an index keyed from the key ring"):
        save_index(CustomerIndex.build(company), world.tmp / "idx5", company=company)


def test_commands_build_show_and_trace_with_the_index(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from leakwarden.trace.command import trace_app, trace_index_app

    monkeypatch.setenv("INDEX_TEST_MASTER", base64.b64encode(world.raw_master).decode())
    folder = world.tmp / "cli-idx"
    common = ["--company-url", world.company_url, "--db", world.store_url,
              "--master-env", "INDEX_TEST_MASTER"]  # fmt: skip
    res = CliRunner().invoke(trace_index_app, ["build", "--out", str(folder), *common])
    assert res.exit_code == 0, res.output
    assert "indexed 300 customers" in res.output
    res = CliRunner().invoke(trace_index_app, ["build", "--out", str(folder), *common])
    assert res.exit_code == 2 and "give --replace" in res.output
    res = CliRunner().invoke(trace_index_app, ["show", str(folder)])
    assert res.exit_code == 0 and "300 customers" in res.output and KEY_NAME in res.output
    leak = _leak(world, "cli.csv")
    out = world.tmp / "cli.json"
    args = [str(leak), *common, "--index", str(folder), "--format", "json", "--out", str(out)]
    res = CliRunner().invoke(trace_app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    zh = [p for p in world.people[10:40] if p["locale"] == "zh_CN"]
    assert doc["affected"]["count"] == len(zh)
    # a stale index (built more than --index-max-age days ago) is refused with the reason
    manifest = folder / "manifest.json"
    m = json.loads(manifest.read_text())
    m["built_at"] = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    manifest.write_text(json.dumps(m))
    res = CliRunner().invoke(trace_app, [*args, "--index-max-age", "2"])
    assert res.exit_code == 2
    assert "stale" in res.output
