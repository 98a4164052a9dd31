"""Train and evaluate the name/address tagger: ``python -m leakwarden.detect.ner.train``.

Reads ``<data>/cluener/train.json`` and ``<data>/cn-address/train.txt``, holds out 10 % of each
by a hash of the text (:func:`corpora.split`), builds the gazetteers from the training side only,
adds seeded synthetic record/log lines (Faker zh_CN names, training-side addresses) and lone
company/organisation/title strings from CLUENER's training side labelled as no PI, trains the
CRF, writes every resource file to ``--out`` (default: the package's ``models/`` folder) and then
evaluates the written tagger on the held-out sets: per-type precision/recall/F1 with exact span
match, plus throughput.  Figures go to stdout (a table) and to ``--metrics`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from leakwarden.detect.ner import resources
from leakwarden.detect.ner.corpora import (
    ADDR,
    NEGATIVE_CLASSES,
    PER,
    Example,
    bio_tags,
    cluener_entities,
    iter_spans_text,
    read_cluener,
    read_cn_address,
    split,
)
from leakwarden.detect.ner.features import COMPOUND_SURNAMES, Featurizer, has_cjk
from leakwarden.detect.ner.synthetic import (
    ZH_UNSEEN_TEMPLATES,
    faker_zh_names,
    latin_records,
    zh_records,
)
from leakwarden.detect.ner.tagger import ADDRESS, PERSON, NameAddressTagger

PLACE_LABELS = ("prov", "city", "district", "town", "devZone", "devzone")
_LABEL_OF_TYPE = {PERSON: PER, ADDRESS: ADDR}


def build_word_lists(out: Path, cn_train: Sequence[Example]) -> tuple[list[str], list[str]]:
    """Write the gazetteers and Latin word lists; return (surnames, places) for the featurizer."""
    from faker.providers.address.en_AU import Provider as AddressAU
    from faker.providers.address.en_GB import Provider as AddressGB
    from faker.providers.address.en_US import Provider as AddressUS
    from faker.providers.address.zh_CN import Provider as AddressCN
    from faker.providers.person.en_GB import Provider as PersonGB
    from faker.providers.person.en_US import Provider as PersonUS
    from faker.providers.person.zh_CN import Provider as PersonCN

    surnames = sorted(set(PersonCN.last_names) | set(COMPOUND_SURNAMES))
    places: set[str] = set(AddressCN.provinces)
    for ex in cn_train:
        for part in ex.parts:
            if part.label in PLACE_LABELS:
                word = ex.text[part.start : part.end]
                if 2 <= len(word) <= 12 and has_cjk(word):
                    places.add(word)
    out.mkdir(parents=True, exist_ok=True)
    resources.write_lines(
        out / resources.SURNAMES_FILE,
        "Chinese surnames: Faker zh_CN person provider (MIT) plus common compound surnames.",
        surnames,
    )
    resources.write_lines(
        out / resources.PLACES_FILE,
        "Chinese administrative divisions: Faker zh_CN provinces plus prov/city/district/town/\n"
        "devzone components of the training side of the NAACL 2019 cn-address corpus.",
        places,
    )
    first = set(PersonUS.first_names) | set(PersonGB.first_names)
    last = set(PersonUS.last_names) | set(PersonGB.last_names)
    resources.write_lines(
        out / resources.LATIN_FIRST_FILE, "Given names: Faker en_US + en_GB (MIT).", first
    )
    resources.write_lines(
        out / resources.LATIN_LAST_FILE, "Family names: Faker en_US + en_GB (MIT).", last
    )
    suffixes = (
        set(AddressUS.street_suffixes)
        | set(AddressGB.street_suffixes)
        | set(AddressAU.street_suffixes)
    )
    resources.write_lines(
        out / resources.STREET_SUFFIXES_FILE,
        "Street suffixes: Faker en_US + en_GB + en_AU (MIT).",
        suffixes,
    )
    return surnames, sorted(places)


def train_crf(
    examples: Sequence[Example],
    featurizer: Featurizer,
    model_path: Path,
    iterations: int,
    c1: float,
    c2: float,
) -> None:
    """Fit the CRF with L-BFGS and write it to ``model_path``; a Rich bar shows the iterations."""
    import pycrfsuite
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task("L-BFGS iterations", total=iterations)

        class _Trainer(pycrfsuite.Trainer):  # type: ignore[misc]
            """crfsuite's log events, turned into progress instead of printed lines."""

            def on_iteration(self, log: str, info: dict[str, object]) -> None:
                progress.update(task, completed=int(str(info.get("num", 0))))

            def on_start(self, log: str) -> None: ...
            def on_featgen_progress(self, log: str, percent: float) -> None: ...
            def on_featgen_end(self, log: str) -> None: ...
            def on_prepared(self, log: str) -> None: ...
            def on_prepare_error(self, log: str) -> None: ...
            def on_optimization_end(self, log: str) -> None: ...
            def on_end(self, log: str) -> None: ...

        trainer = _Trainer(verbose=True)
        for ex in examples:
            if ex.text:
                trainer.append(featurizer.features(ex.text), bio_tags(ex))
        trainer.set_params(
            {
                "c1": c1,
                "c2": c2,
                "max_iterations": iterations,
                "feature.possible_transitions": True,
                "feature.minfreq": 2,
            }
        )
        trainer.train(str(model_path))


def evaluate(
    tagger: NameAddressTagger, examples: Sequence[Example], *, crf_only: bool = False
) -> dict[str, dict[str, float]]:
    """Exact-span precision/recall/F1 per label (PER, ADDR) over ``examples``."""
    counts = {lab: {"tp": 0, "fp": 0, "fn": 0} for lab in (PER, ADDR)}
    for ex in examples:
        found = tagger.tag_cjk(ex.text) if crf_only else tagger.tag(ex.text)
        pred = {(_LABEL_OF_TYPE[f.type], f.start, f.end) for f in found}
        gold = {(s.label, s.start, s.end) for s in ex.spans}
        for lab in (PER, ADDR):
            p = {x for x in pred if x[0] == lab}
            g = {x for x in gold if x[0] == lab}
            counts[lab]["tp"] += len(p & g)
            counts[lab]["fp"] += len(p - g)
            counts[lab]["fn"] += len(g - p)
    result: dict[str, dict[str, float]] = {}
    for lab, c in counts.items():
        tp, fp, fn = c["tp"], c["fp"], c["fn"]
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        name = PERSON if lab == PER else ADDRESS
        result[name] = {
            "precision": round(prec, 4),
            "recall": round(rec, 4),
            "f1": round(f1, 4),
            "gold": tp + fn,
            "predicted": tp + fp,
        }
    return result


def _bare_negatives(
    path: Path, cl_train: Sequence[Example], cl_test: Sequence[Example]
) -> tuple[list[Example], list[Example]]:
    """Lone CLUENER company/organisation/game/movie/book/position strings, as they appear in a
    table cell, labelled as no PI; split by the sentence they come from.  Strings that are also
    labelled a name or an address anywhere are left out."""
    pi = set(iter_spans_text([*cl_train, *cl_test], PER)) | set(
        iter_spans_text([*cl_train, *cl_test], ADDR)
    )
    train_texts = {e.text for e in cl_train}
    test_texts = {e.text for e in cl_test}
    train: dict[str, Example] = {}
    test: dict[str, Example] = {}
    for sentence, entity in cluener_entities(path, NEGATIVE_CLASSES):
        if entity in pi or not has_cjk(entity):
            continue
        if sentence in train_texts:
            train.setdefault(entity, Example(entity, (), "cluener-bare-entity"))
        elif sentence in test_texts:
            test.setdefault(entity, Example(entity, (), "cluener-bare-entity"))
    return list(train.values()), [e for k, e in test.items() if k not in train]


def _false_alarms(tagger: NameAddressTagger, examples: Sequence[Example]) -> dict[str, float]:
    """Share of strings holding no PI on which the tagger reports anything (at any score, and
    at score >= 0.5, the engine's default threshold)."""
    any_hit = strong_hit = 0
    for ex in examples:
        found = tagger.tag(ex.text)
        any_hit += bool(found)
        strong_hit += any(f.score >= 0.5 for f in found)
    n = max(len(examples), 1)
    return {
        "strings": len(examples),
        "with_any_finding": round(any_hit / n, 4),
        "with_finding_score_ge_0.5": round(strong_hit / n, 4),
    }


def throughput(
    tagger: NameAddressTagger, corpora: dict[str, Sequence[str]], repeat: int = 5
) -> dict[str, dict[str, float]]:
    """Characters per CPU-second of ``tag`` over each corpus joined by newlines.

    CPU time of this process (``time.process_time``, best of ``repeat``) rather than wall time,
    because the machine is shared: it approximates one idle core.  Wall time is reported too.
    """
    out: dict[str, dict[str, float]] = {}
    for name, texts in corpora.items():
        joined = "\n".join(texts)
        cjk = sum(1 for ch in joined if "\u4e00" <= ch <= "\u9fff")
        best_cpu = best_wall = float("inf")
        for _ in range(repeat):
            c0, w0 = time.process_time(), time.perf_counter()
            tagger.tag(joined)
            best_cpu = min(best_cpu, time.process_time() - c0)
            best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = max(best_cpu, 1e-9)
        out[name] = {
            "chars": len(joined),
            "cjk_chars": cjk,
            "cpu_seconds": round(best_cpu, 4),
            "wall_seconds": round(best_wall, 4),
            "chars_per_cpu_s": round(len(joined) / best_cpu),
            "cjk_chars_per_cpu_s": round(cjk / best_cpu),
        }
    return out


def _held_out_person_names(cluener_test: Sequence[Example]) -> list[str]:
    names = [
        n
        for n in iter_spans_text(cluener_test, PER)
        if 2 <= len(n) <= 4 and all("\u4e00" <= ch <= "\u9fff" for ch in n)
    ]
    return sorted(set(names))


def run(args: argparse.Namespace) -> dict[str, object]:
    data: Path = args.data
    out: Path = args.out
    t_start = time.perf_counter()
    cluener = read_cluener(data / "cluener" / "train.json")
    cn_address = read_cn_address(data / "cn-address" / "train.txt")
    if args.limit:
        cluener, cn_address = cluener[: args.limit], cn_address[: args.limit]
    cl_train, cl_test = split(cluener, args.test_percent)
    ad_train, ad_test = split(cn_address, args.test_percent)
    neg_train, neg_test = _bare_negatives(data / "cluener" / "train.json", cl_train, cl_test)
    if not cl_test or not ad_test:
        raise SystemExit(
            "held-out split is empty: use more data (--limit) or a larger --test-percent"
        )

    n_syn = args.synthetic if not args.limit else min(args.synthetic, args.limit)
    train_s = 0.0
    syn_count = 0
    if not args.eval_only:
        surnames, places = build_word_lists(out, ad_train)
        featurizer = Featurizer(surnames, places)
        syn_train = zh_records(
            n_syn, args.seed, faker_zh_names(args.seed), [e.text for e in ad_train]
        )
        syn_count = len(syn_train)
        training = [*cl_train, *ad_train, *syn_train, *neg_train]
        random.Random(args.seed).shuffle(training)
        print(
            f"training on {len(cl_train)} CLUENER + {len(ad_train)} cn-address + {syn_count} "
            f"synthetic lines + {len(neg_train)} bare non-PI entity strings "
            f"({sum(len(e.text) for e in training)} chars), "
            f"{args.iterations} iterations ...",
            file=sys.stderr,
        )
        t0 = time.perf_counter()
        train_crf(
            training, featurizer, out / resources.MODEL_FILE, args.iterations, args.c1, args.c2
        )
        train_s = time.perf_counter() - t0

    tagger = NameAddressTagger.from_directory(out)
    held_names = _held_out_person_names(cl_test) or ["张伟"]
    syn_test = zh_records(
        max(len(ad_test), 200),
        args.seed + 1,
        lambda rng: rng.choice(held_names),
        [e.text for e in ad_test],
    )
    syn_unseen = zh_records(
        max(len(ad_test), 200),
        args.seed + 5,
        lambda rng: rng.choice(held_names),
        [e.text for e in ad_test],
        negatives=0.0,
        templates=ZH_UNSEEN_TEMPLATES,
    )
    en_us = latin_records(args.latin_eval, args.seed + 2, "en_US")
    evals = {
        "cluener_test": evaluate(tagger, cl_test),
        "cn_address_test": evaluate(tagger, ad_test),
        "synthetic_zh_test": evaluate(tagger, syn_test),
        "synthetic_zh_unseen_templates": evaluate(tagger, syn_unseen),
        "synthetic_en_US": evaluate(tagger, en_us),
        "synthetic_en_GB": evaluate(tagger, latin_records(args.latin_eval, args.seed + 3, "en_GB")),
        "synthetic_en_AU": evaluate(tagger, latin_records(args.latin_eval, args.seed + 4, "en_AU")),
        # Names from lists the gazetteer never saw, in the same English templates.
        "synthetic_en_US_names_from_es_ES": evaluate(
            tagger, latin_records(args.latin_eval, args.seed + 6, "en_US", name_locale="es_ES")
        ),
    }
    model_file = out / resources.MODEL_FILE
    report: dict[str, object] = {
        "split": {
            "test_percent": args.test_percent,
            "cluener_train": len(cl_train),
            "cluener_test": len(cl_test),
            "cn_address_train": len(ad_train),
            "cn_address_test": len(ad_test),
            "bare_entities_train": len(neg_train),
            "bare_entities_test": len(neg_test),
            "synthetic_zh_train": syn_count if not args.eval_only else n_syn,
            "synthetic_zh_test": len(syn_test),
        },
        "training": (
            {
                "iterations": args.iterations,
                "c1": args.c1,
                "c2": args.c2,
                "seconds": round(train_s, 1),
                "model_bytes": model_file.stat().st_size,
            }
            if not args.eval_only
            else {
                "evaluated_existing_model": str(model_file),
                "model_bytes": model_file.stat().st_size,
            }
        ),
        "evaluation": evals,
        "false_alarms": {"bare_non_pi_entities_test": _false_alarms(tagger, neg_test)},
        "throughput": throughput(
            tagger,
            {
                "cluener_test": [e.text for e in cl_test],
                "synthetic_zh_test": [e.text for e in syn_test],
                "synthetic_en_US": [e.text for e in en_us],
            },
        ),
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    return report


def print_report(report: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="name/address tagger, exact span match")
    for col in ("set", "type", "precision", "recall", "F1", "gold", "predicted"):
        table.add_column(col)
    evaluation = report["evaluation"]
    assert isinstance(evaluation, dict)
    for set_name, per_type in evaluation.items():
        for type_name, m in per_type.items():
            table.add_row(
                set_name,
                type_name,
                f"{m['precision']:.3f}",
                f"{m['recall']:.3f}",
                f"{m['f1']:.3f}",
                str(m["gold"]),
                str(m["predicted"]),
            )
    console = Console()
    console.print(table)
    console.print({k: v for k, v in report.items() if k != "evaluation"})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m leakwarden.detect.ner.train", description=__doc__
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=resources.package_models_dir())
    parser.add_argument("--metrics", type=Path, default=None, help="write figures as JSON here")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N of each corpus")
    parser.add_argument("--test-percent", type=int, default=10)
    parser.add_argument("--synthetic", type=int, default=4000)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--c1", type=float, default=0.1)
    parser.add_argument("--c2", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--eval-only", action="store_true", help="evaluate the model already in --out, no training"
    )
    parser.add_argument(
        "--latin-eval", type=int, default=1000, help="synthetic Latin lines per set"
    )
    args = parser.parse_args(argv)
    for sub in ("cluener/train.json", "cn-address/train.txt"):
        if not (args.data / sub).is_file():
            parser.error(f"{args.data / sub} not found (point --data at the shared data folder)")
    report = run(args)
    print_report(report)
    if args.metrics is not None:
        args.metrics.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
