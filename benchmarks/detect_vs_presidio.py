"""leakwarden's detector against Presidio's analyzer: same corpus, same run.

Throughput: each system runs in its own process pinned to one CPU (``benchmarks.worker``),
end to end from UTF-8 bytes (decode, then find), after a warm-up; MB/s per core is corpus
megabytes (10^6 bytes) over that process's CPU seconds for the best of ``--repeat`` passes (CPU
time, not wall clock, because the machine may be shared; wall figures are kept too).  Before
each pass leakwarden's per-value validator memo is cleared, so a pass is not answered from the
one before it (``systems.FORGET``).

Accuracy: precision/recall/F1 per type, exact span match and overlap match, on the types both
systems support (``systems.SHARED_TYPES``) for every system, and on all of leakwarden's types
for leakwarden.  Presidio gets a score threshold per type, tuned to its best exact-match F1 on
this very corpus (which favours it).  leakwarden is scored as it answers, untuned.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import machine
from benchmarks.corpus import BACKGROUND_SHARE, Corpus, build_corpus
from benchmarks.scoring import Gold, Pred, Report, apply_thresholds, score, tune_thresholds
from benchmarks.systems import (
    PRESIDIO_DEFAULT_PHONE_REGIONS,
    PRESIDIO_PHONE_REGIONS,
    SHARED_TYPES,
    shared_group,
)

THROUGHPUT_BAR = 50.0
ACCURACY_BAR = 0.99
THRESHOLD_GRID = tuple(round(i * 0.05, 2) for i in range(21))
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Used only when leakwarden.detect.types cannot say which types have a validator.
FALLBACK_VALIDATED = ("bank_card", "cn_resident_id", "cn_uscc", "iban")
NER_TYPES = frozenset({"person_name", "address"})


@dataclass
class SystemRun:
    name: str
    raw: dict[str, Any]
    predictions: list[list[Pred]]

    @property
    def cpu_s(self) -> float:
        return min(float(r["cpu_s"]) for r in self.raw["runs"])

    @property
    def wall_s(self) -> float:
        return min(float(r["wall_s"]) for r in self.raw["runs"])

    def mb_per_s_per_core(self) -> float:
        return float(self.raw["n_bytes"]) / 1e6 / self.cpu_s

    def wall_mb_per_s(self) -> float:
        return float(self.raw["n_bytes"]) / 1e6 / self.wall_s


def leakwarden_available() -> bool:
    try:
        return importlib.util.find_spec("leakwarden.detect.engine") is not None
    except ModuleNotFoundError:
        return False


def validated_types() -> tuple[list[str], str]:
    """leakwarden's types that carry a validator, and where that list came from."""
    try:
        from leakwarden.detect.types import PI_TYPES
    except ImportError:
        return list(FALLBACK_VALIDATED), "fallback list (leakwarden.detect.types not importable)"
    return (
        sorted(t for t, pt in PI_TYPES.items() if pt.validator is not None),
        "leakwarden.detect.types.PI_TYPES (validator is not None)",
    )


def run_worker(system: str, texts: Path, workdir: Path, repeat: int, cpu: int | None) -> SystemRun:
    out = workdir / f"{system}.json"
    cmd = [sys.executable, "-m", "benchmarks.worker", system, str(texts), str(out)]
    cmd += ["--repeat", str(repeat)]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(
            f"benchmark worker for {system} failed (exit {proc.returncode}):\n{tail}"
        )
    raw = json.loads(out.read_text("utf-8"))
    preds = [
        [Pred(str(t), int(s), int(e), float(sc)) for t, s, e, sc in doc]
        for doc in raw.pop("predictions")
    ]
    return SystemRun(system, raw, preds)


def _gold(corpus: Corpus) -> list[list[Gold]]:
    return [[Gold(s.type, s.start, s.end, s.variant) for s in d.spans] for d in corpus.documents]


def run(
    size_bytes: int,
    seed: int = 20261123,
    repeat: int = 3,
    presidio_repeat: int = 1,
    systems: list[str] | None = None,
    console: Console | None = None,
    doc_bytes: int = 8192,
    background_share: float = BACKGROUND_SHARE,
) -> dict[str, Any]:
    """Build the corpus, run every system, score them; return the JSON-ready result."""
    console = console or Console()
    if systems is None:
        systems = ["presidio-noop", "presidio-tokens", "presidio-default-regions"]
        if leakwarden_available():
            systems = ["leakwarden", "leakwarden-no-ner", *systems]
    desc = machine.describe()
    with console.status("building corpus"):
        corpus = build_corpus(
            size_bytes, seed=seed, doc_bytes=doc_bytes, background_share=background_share
        )
    gold = _gold(corpus)
    texts = [d.text for d in corpus.documents]
    console.print(
        f"corpus: {len(texts)} documents, {corpus.n_bytes / 1e6:.2f} MB, {corpus.n_spans} labelled "
        f"spans ({corpus.n_spans / (corpus.n_bytes / 1000):.1f} per kB), seed {seed}"
    )
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cpu = usable[-1] if usable else None
    runs: dict[str, SystemRun] = {}
    with tempfile.TemporaryDirectory(prefix="leakwarden-bench-") as tmp:
        workdir = Path(tmp)
        texts_path = workdir / "texts.json"
        corpus.save_texts(texts_path)
        for system in systems:
            reps = presidio_repeat if system.startswith("presidio") else repeat
            with console.status(f"running {system} ({reps} pass(es), pinned to CPU {cpu})"):
                runs[system] = run_worker(system, texts_path, workdir, reps, cpu)
            r = runs[system]
            console.print(
                f"  {system}: {r.mb_per_s_per_core():.3f} MB/s per core "
                f"(CPU {r.cpu_s:.2f} s, wall {r.wall_s:.2f} s)"
            )

    result: dict[str, Any] = {
        "benchmark": "detect_vs_presidio",
        "machine": desc,
        "method": _method(cpu, repeat, presidio_repeat, doc_bytes),
        "corpus": {
            "seed": seed,
            "value_source": corpus.value_source,
            "documents": len(texts),
            "bytes": corpus.n_bytes,
            "labelled_spans": corpus.n_spans,
            "labelled_spans_per_kb": round(corpus.n_spans / (corpus.n_bytes / 1000), 2),
            "background_share": corpus.background_share,
            "spans_per_type": corpus.type_counts(),
            "spans_per_variant": dict(
                sorted(Counter(s.variant for d in corpus.documents for s in d.spans).items())
            ),
        },
        "type_map": {
            g: {"leakwarden": sorted(ours), "presidio": sorted(theirs)}
            for g, (ours, theirs) in SHARED_TYPES.items()
        },
        "systems": {},
    }
    for name, r in runs.items():
        entry: dict[str, Any] = {
            "mb_per_s_per_core": round(r.mb_per_s_per_core(), 4),
            "wall_mb_per_s": round(r.wall_mb_per_s(), 4),
            "runs": r.raw["runs"],
            "build_and_warmup_s": round(float(r.raw["build_and_warmup_s"]), 3),
            "peak_rss_mib": round(float(r.raw["peak_rss_mib"]), 1),
            "pinned_cpus": r.raw["pinned_cpus"],
            "network_attempts": r.raw["network_attempts"],
        }
        preds = r.predictions
        if name.startswith("presidio"):
            thresholds = tune_thresholds(texts, gold, preds, shared_group, THRESHOLD_GRID)
            entry["score_thresholds"] = thresholds
            entry["unscored_entities"] = dict(
                Counter(p.type for doc in preds for p in doc if shared_group(p.type) is None)
            )
            preds = apply_thresholds(preds, thresholds, shared_group)
        entry["shared"] = {
            mode: score(texts, gold, preds, mode, shared_group).as_json()
            for mode in ("exact", "overlap")
        }
        if name.startswith("leakwarden"):
            own = {mode: score(texts, gold, preds, mode) for mode in ("exact", "overlap")}
            if name == "leakwarden-no-ner":
                own = {
                    m: _without(rep, NER_TYPES) for m, rep in own.items()
                }  # names/addresses are off by design
            entry["all_types"] = {m: rep.as_json() for m, rep in own.items()}
        result["systems"][name] = entry
    result["comparison"] = _compare(result)
    result["bar"] = _bar(result)
    result["caveats"] = _caveats(result)
    return result


def _without(report: Report, types: frozenset[str]) -> Report:
    return Report(
        {t: c for t, c in report.per_type.items() if t not in types},
        {t: v for t, v in report.recall_by_variant.items() if t not in types},
        {t: v for t, v in report.false_positive_examples.items() if t not in types},
        {t: v for t, v in report.missed_examples.items() if t not in types},
    )


def _compare(result: dict[str, Any]) -> dict[str, Any]:
    systems = result["systems"]
    presidio = {n: s for n, s in systems.items() if n.startswith("presidio")}
    if not presidio:
        return {}
    fastest = max(presidio, key=lambda n: presidio[n]["mb_per_s_per_core"])
    out: dict[str, Any] = {"presidio_reference": fastest}
    for name in ("leakwarden", "leakwarden-no-ner"):
        if name in systems:
            ratio = systems[name]["mb_per_s_per_core"] / presidio[fastest]["mb_per_s_per_core"]
            out[f"{name}_speedup"] = round(ratio, 1)
    if "leakwarden" in systems:  # informational: against every Presidio configuration
        out["leakwarden_speedup_by_presidio_config"] = {
            n: round(systems["leakwarden"]["mb_per_s_per_core"] / p["mb_per_s_per_core"], 1)
            for n, p in presidio.items()
        }
    return out


def _bar(result: dict[str, Any]) -> dict[str, Any]:
    validated, source = validated_types()
    bar: dict[str, Any] = {
        "throughput_ratio_min": THROUGHPUT_BAR,
        "precision_recall_min": ACCURACY_BAR,
        "validated_types": validated,
        "validated_types_source": source,
        "misses": [],
    }
    lw = result["systems"].get("leakwarden")
    if lw is None:
        bar["met"] = None
        bar["misses"].append("leakwarden.detect.engine is not available yet: not measured")
        return bar
    ratio = result["comparison"].get("leakwarden_speedup")
    if ratio is not None and ratio < THROUGHPUT_BAR:
        bar["misses"].append(f"throughput: {ratio}x Presidio, bar is {THROUGHPUT_BAR:.0f}x")
    per_type = lw["all_types"]["exact"]["per_type"]
    for t in validated:
        c = per_type.get(t)
        if c is None:
            continue  # not in the corpus
        for fig in ("precision", "recall"):
            if c[fig] < ACCURACY_BAR:
                bar["misses"].append(
                    f"{t}: {fig} {c[fig]:.4f} < {ACCURACY_BAR} (tp {c['tp']}, fp {c['fp']}, "
                    f"fn {c['fn']})"
                )
    bar["met"] = not bar["misses"]
    return bar


def _method(cpu: int | None, repeat: int, presidio_repeat: int, doc_bytes: int) -> dict[str, str]:
    return {
        "throughput": (
            f"each system in its own process pinned to CPU {cpu} (os.sched_setaffinity), "
            "BLAS/OpenMP threads set to 1; after building and a warm-up on the first document, "
            "every document is decoded from UTF-8 bytes and searched; MB/s per core = corpus "
            "bytes / 1e6 / process CPU seconds, best of "
            f"{repeat} pass(es) for leakwarden and {presidio_repeat} for Presidio; "
            "leakwarden's per-value validator memo is cleared before each pass (no pass is "
            "answered from an earlier one)"
        ),
        "documents": f"about {doc_bytes} bytes each; both systems get the same documents",
        "leakwarden": (
            "default_detector().find_many (names/addresses on) and "
            "Detector(use_ner=False).find_many over the list of decoded documents (the same "
            "findings as .find per document; the CRF decodes segments of many documents "
            "together), each document decoded by leakwarden.detect.normalize.decode_bytes "
            "(encoding detection included)"
        ),
        "presidio": (
            "AnalyzerEngine.analyze(language='en', score_threshold=0) with CreditCard, Email, "
            "Iban, Ip, MacAddress, Phone (regions "
            + ",".join(PRESIDIO_PHONE_REGIONS)
            + ") and UsSsn recognizers; 'presidio-noop' uses NoOpNlpEngine, 'presidio-tokens' a "
            "spaCy blank('en') tokenizer with lower-cased tokens as lemmas so context words "
            "count, 'presidio-default-regions' is 'presidio-noop' with Presidio's default phone "
            "regions ("
            + ",".join(PRESIDIO_DEFAULT_PHONE_REGIONS)
            + "); bytes decoded with bytes.decode('utf-8') (no detection); per-type score "
            "thresholds tuned afterwards on a 0.05 grid to the best exact-match F1"
        ),
        "accuracy": (
            "exact: same type, start and end; overlap: same type, spans share a character, "
            "one-to-one. Shared types are compared through the type_map groups (leakwarden's "
            "phone, cn_mobile and cn_landline all count as 'phone')"
        ),
    }


def _caveats(result: dict[str, Any]) -> list[str]:
    notes = [
        "Presidio runs without any spaCy model (none can be obtained offline), so it has no "
        "PERSON/LOCATION detection; names and addresses are scored for leakwarden only.",
        "Presidio has no Chinese support; it analyses everything with language='en'. Its "
        "context words are English only.",
        "Presidio's DATE_TIME marks every date/time, not birth dates; it is not compared with "
        "date_of_birth.",
        "Presidio's per-type thresholds were tuned on the evaluation corpus itself, which "
        "flatters its precision/recall; leakwarden was not tuned.",
        "Only the Presidio recognizers for shared types were loaded (its default registry "
        "loads more and would be slower); the ratio uses the faster Presidio configuration.",
        "The corpus is synthetic (seeded templates, Faker names/addresses); Faker zh_CN "
        "addresses are not real places. Figures for names/addresses show behaviour on this "
        "corpus, not on real text.",
        "The machine was shared with other work while measuring; CPU time (not wall clock) is "
        "the basis of MB/s per core, so waiting for the CPU is not counted against a system.",
    ]
    for name, s in result["systems"].items():
        if s["network_attempts"]:
            notes.append(f"{name} attempted network access: {s['network_attempts']}")
    return notes


# --------------------------------------------------------------------------- output


def print_tables(result: dict[str, Any], console: Console) -> None:
    systems = result["systems"]
    t = Table(title="Throughput (end to end from UTF-8 bytes, one pinned core)")
    for col in ("system", "MB/s per core", "wall MB/s", "CPU s", "build+warm-up s", "peak RSS MiB"):
        t.add_column(col, justify="right" if col != "system" else "left")
    for name, s in systems.items():
        t.add_row(
            name,
            f"{s['mb_per_s_per_core']:.3f}",
            f"{s['wall_mb_per_s']:.3f}",
            f"{min(r['cpu_s'] for r in s['runs']):.2f}",
            f"{s['build_and_warmup_s']:.2f}",
            f"{s['peak_rss_mib']:.0f}",
        )
    console.print(t)
    comp = result["comparison"]
    if comp:
        for key, value in comp.items():
            if key in ("leakwarden_speedup", "leakwarden-no-ner_speedup"):
                console.print(
                    f"{key.removesuffix('_speedup')}: {value}x {comp['presidio_reference']}"
                )

    t = Table(title="Shared types: precision / recall / F1 (exact span match; overlap in JSON)")
    t.add_column("type")
    for name in systems:
        t.add_column(name, justify="right")
    for group in SHARED_TYPES:
        row = [group]
        for s in systems.values():
            c = s["shared"]["exact"]["per_type"].get(group)
            row.append(
                "-" if c is None else f"{c['precision']:.3f} / {c['recall']:.3f} / {c['f1']:.3f}"
            )
        t.add_row(*row)
    console.print(t)

    lw = systems.get("leakwarden")
    if lw is not None:
        validated = set(result["bar"]["validated_types"])
        t = Table(title="leakwarden, all types (P / R / F1)")
        t.add_column("type")
        t.add_column("validated")
        t.add_column("exact", justify="right")
        t.add_column("overlap", justify="right")
        t.add_column("gold", justify="right")
        exact = lw["all_types"]["exact"]["per_type"]
        overlap = lw["all_types"]["overlap"]["per_type"]
        for typ in sorted(exact):
            e, o = exact[typ], overlap.get(typ, exact[typ])
            t.add_row(
                typ,
                "yes" if typ in validated else "",
                f"{e['precision']:.3f} / {e['recall']:.3f} / {e['f1']:.3f}",
                f"{o['precision']:.3f} / {o['recall']:.3f} / {o['f1']:.3f}",
                str(e["tp"] + e["fn"]),
            )
        console.print(t)
    bar = result["bar"]
    if bar.get("met") is True:
        console.print("[green]bar met[/green]: ≥50x Presidio and ≥0.99 P/R on validated types")
    else:
        console.print("[red]bar not met[/red]:" if bar.get("met") is False else "bar: not measured")
        for miss in bar["misses"]:
            console.print(f"  - {miss}")


def to_markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# leakwarden vs Presidio: detection benchmark",
        "",
        f"Run {m['date_utc']} on {m['machine']} · {m['cpu_model']} · {m['logical_cores']} logical "
        f"cores · Python {m['python']} · commit {m['git_commit']}.",
        f"Corpus: seed {result['corpus']['seed']}, {result['corpus']['documents']} documents, "
        f"{result['corpus']['bytes'] / 1e6:.2f} MB, {result['corpus']['labelled_spans']} labelled "
        f"spans ({result['corpus']['labelled_spans_per_kb']} per kB; "
        f"{result['corpus']['background_share']:.0%} of records without personal information). "
        "Command: `python -m benchmarks` (see `--help`).",
        "",
        "## Throughput",
        "",
        "| system | MB/s per core | wall MB/s | peak RSS MiB |",
        "|---|---:|---:|---:|",
    ]
    for name, s in result["systems"].items():
        lines.append(
            f"| {name} | {s['mb_per_s_per_core']:.3f} | {s['wall_mb_per_s']:.3f} | "
            f"{s['peak_rss_mib']:.0f} |"
        )
    comp = result["comparison"]
    for key, value in comp.items():
        if key in ("leakwarden_speedup", "leakwarden-no-ner_speedup"):
            lines.append(
                f"\n{key.removesuffix('_speedup')}: **{value}x** {comp['presidio_reference']}"
            )
    lines += ["", "## Shared types (exact match: precision / recall / F1)", ""]
    names = list(result["systems"])
    lines.append("| type | " + " | ".join(names) + " |")
    lines.append("|---|" + "---:|" * len(names))
    for group in SHARED_TYPES:
        cells = []
        for s in result["systems"].values():
            c = s["shared"]["exact"]["per_type"].get(group)
            cells.append(
                "-" if c is None else f"{c['precision']:.3f} / {c['recall']:.3f} / {c['f1']:.3f}"
            )
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    lw = result["systems"].get("leakwarden")
    if lw is not None:
        validated = set(result["bar"]["validated_types"])
        lines += [
            "",
            "## leakwarden, all types",
            "",
            "| type | validated | exact P / R / F1 | overlap P / R / F1 |",
            "|---|---|---:|---:|",
        ]
        for typ, e in sorted(lw["all_types"]["exact"]["per_type"].items()):
            o = lw["all_types"]["overlap"]["per_type"].get(typ, e)
            lines.append(
                f"| {typ} | {'yes' if typ in validated else ''} | "
                f"{e['precision']:.3f} / {e['recall']:.3f} / {e['f1']:.3f} | "
                f"{o['precision']:.3f} / {o['recall']:.3f} / {o['f1']:.3f} |"
            )
    bar = result["bar"]
    lines += ["", "## Bar (≥50x Presidio, ≥0.99 precision and recall on validated types)", ""]
    lines.append({True: "Met.", False: "Not met:", None: "Not measured:"}[bar.get("met")])
    lines += [f"- {miss}" for miss in bar["misses"]]
    lines += ["", "## Method", ""] + [f"- **{k}**: {v}" for k, v in result["method"].items()]
    lines += ["", "## Caveats", ""] + [f"- {c}" for c in result["caveats"]]
    return "\n".join(lines) + "\n"


def write_results(
    result: dict[str, Any], out_dir: Path, stem: str = "detect_vs_presidio"
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem}.json"
    md_path = out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
    md_path.write_text(to_markdown(result), "utf-8")
    return [json_path, md_path]
