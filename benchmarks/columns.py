"""Where generation time goes: milliseconds per block for each column of a dataset, and for the CSV encoding.

    python benchmarks/columns.py [--dataset films] [--spec FILE] [--block 131072] [--blocks 20]

Uses CPU time of this process (``time.process_time``, one thread), the minimum over the blocks, so the figures
hold on a busy machine. Columns are timed as the engine makes them, in dependency order, each with the columns
it reads already made.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datagen import engine  # noqa: E402
from datagen import spec as specs  # noqa: E402
from datagen.blocks import DEFAULT_BLOCK_ROWS  # noqa: E402
from transforms.text import record_batch_to_csv  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="films", help="a built-in dataset")
    ap.add_argument("--spec", default=None, help="a spec file instead of a built-in dataset")
    ap.add_argument("--block", type=int, default=DEFAULT_BLOCK_ROWS, help="rows per block")
    ap.add_argument("--blocks", type=int, default=20, help="blocks to time (the minimum is shown)")
    args = ap.parse_args()
    spec = specs.load(args.spec) if args.spec else specs.builtin(args.dataset)
    gen = engine.compile_dataset(spec)
    gen.batch(42, 0, args.block)  # tables and per-entity pools made once per process, as in a worker
    best: dict[str, float] = {}
    timer = time.process_time
    for i in range(1, args.blocks + 1):
        start, stop = i * args.block, (i + 1) * args.block
        t_all = timer()
        b = engine.Batch(gen, 42, start, stop)
        for c in gen.order:
            t = timer()
            gen.make_column(b, c)
            best[c.name] = min(best.get(c.name, 1e9), timer() - t)
        t = timer()
        batch = gen.to_record_batch(b)
        best["(to Arrow)"] = min(best.get("(to Arrow)", 1e9), timer() - t)
        t = timer()
        record_batch_to_csv(batch)
        best["(CSV encoding)"] = min(best.get("(CSV encoding)", 1e9), timer() - t)
        best["(whole block)"] = min(best.get("(whole block)", 1e9), timer() - t_all)
    print(f"{spec.name}: CPU ms per block of {args.block:,} rows (minimum of {args.blocks} blocks)")
    for name, seconds in best.items():
        print(f"  {name:<24} {seconds * 1e3:8.2f}")
    whole = best["(whole block)"]
    print(f"  -> {args.block / whole / 1e6:.2f}M rows/s on one core, generation and CSV")
    return 0


if __name__ == "__main__":
    sys.exit(main())
