"""One benchmark measurement in its own process: ``python -m benchmarks.worker SYSTEM TEXTS OUT``.

The process pins itself to one CPU (``--cpu``), refuses network access, builds the system,
warms it up on the first document, then runs every document end to end from UTF-8 bytes
(decode each, then find; all documents in one ``find_many`` call for the systems in
``BATCH_SYSTEMS``, unless ``--per-document``) ``--repeat`` times, each pass after the system's
``FORGET`` hook (leakwarden's per-value validator memo is cleared, so no pass is answered from
the one before), timing wall clock and this
process's CPU time.  It writes the timings, peak memory and the predictions of the first pass
as JSON to OUT.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from benchmarks.systems import BATCH_SYSTEMS, FORGET, SYSTEMS, leakwarden_decode, no_network


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("texts", type=Path, help="JSON array of document texts")
    parser.add_argument("out", type=Path)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin this process to")
    parser.add_argument(
        "--per-document",
        action="store_true",
        help="call find once per document even when the system has a batch entry point",
    )
    args = parser.parse_args(argv)

    pinned: list[int] | None = None
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
        pinned = sorted(os.sched_getaffinity(0))
    texts: list[str] = json.loads(args.texts.read_text("utf-8"))
    datas = [t.encode("utf-8") for t in texts]
    if args.system.startswith("leakwarden"):
        decode = leakwarden_decode()
    else:

        def decode(data: bytes) -> str:
            return data.decode("utf-8")

    with no_network() as attempts:
        t0 = time.perf_counter()
        find = SYSTEMS[args.system]()
        batch = BATCH_SYSTEMS.get(args.system)
        find_many = batch() if batch is not None and not args.per_document else None
        if datas:
            find(decode(datas[0]))  # warm-up: lazy compilation, first-call caches
        build_seconds = time.perf_counter() - t0
        runs = []
        preds: list[list[list[object]]] = []
        forget = FORGET.get(args.system)
        for rep in range(max(1, args.repeat)):
            if forget is not None:
                forget()  # every pass validates as if the values were new
            wall0, cpu0 = time.perf_counter(), time.process_time()
            if find_many is not None:
                out = find_many([decode(d) for d in datas])
            else:
                out = [find(decode(d)) for d in datas]
            runs.append(
                {"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0}
            )
            if rep == 0:
                preds = [[[p.type, p.start, p.end, p.score] for p in doc] for doc in out]
    result = {
        "system": args.system,
        "pinned_cpus": pinned,
        "n_bytes": sum(len(d) for d in datas),
        "build_and_warmup_s": build_seconds,
        "runs": runs,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "network_attempts": attempts,
        "predictions": preds,
    }
    args.out.write_text(json.dumps(result), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
