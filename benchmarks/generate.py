"""Generation speed: the original approach, a plain numpy writer, our generator without Beam, and
pipelines.generate, in one run.

    python benchmarks/generate.py [--rows 5000000] [--baseline_rows 20000] [--films_size 1.7GB]
                                  [--clients_size 2GB] [--parquet_rows N] [--compare_with REV] [--repeat N]
                                  [--settle 10] [--gzip_rows N] [--ndjson_rows N]

Prints a table of rows/s and MB/s (CSV) per approach and dataset, the ratios between them, and the peak memory
of the pipeline. Machines are noisy: compare figures of one run, not across runs.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datagen import spec as specs  # noqa: E402
from datagen.blocks import DEFAULT_BLOCK_ROWS  # noqa: E402
from datagen.engine import builtin_generator  # noqa: E402
from datagen.vocabulary import get as vocabulary  # noqa: E402
from transforms.text import record_batch_to_csv  # noqa: E402

FILMS, CLIENTS = specs.builtin("films"), specs.builtin("clients")
GENRES = list(CLIENTS.column("client_movie_genres").params["values"])
LANGUAGES = list(CLIENTS.column("client_language_spoken").params["values"])
MAIL_DOMAINS = list(CLIENTS.column("mail_domain").params["values"])


def original_approach(dataset: str, rows: int, path: Path) -> None:
    """Faker per row into csv.writer, as the original design's generate_upload_csv.py did."""
    from faker import Faker

    fake = Faker()
    cars = vocabulary("cars")[0]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(builtin_generator(dataset).schema.column_names)
        for _ in range(rows):
            if dataset == "films":
                w.writerow([" ".join(fake.words(random.randint(2, 4))).title(), random.choice(GENRES),
                            fake.date(pattern="%y/%m/%d"), random.randint(60, 360), random.uniform(0, 10),
                            random.choice(LANGUAGES), fake.name()])
            else:
                sex = random.choice(("Male", "Female"))
                first = fake.first_name_male() if sex == "Male" else fake.first_name_female()
                last = fake.last_name()
                w.writerow([f"{first} {last}", sex,
                            f"{first}{last}".lower() + "@" + random.choice(MAIL_DOMAINS),
                            ",".join(random.sample(GENRES, random.randint(1, len(GENRES)))),
                            ",".join(random.sample(LANGUAGES, random.randint(1, 3))),
                            random.choice(cars), random.randint(300, 850)])


def plain_writer(dataset: str, rows: int, path: Path, block: int = DEFAULT_BLOCK_ROWS) -> None:
    """The floor to approach: plain vectorised numpy/Arrow on one thread. Every field is a uniform pick from a
    vocabulary of pre-rendered pieces that already carry their separators; one Arrow ``take`` per block gathers
    every piece of every row from one combined vocabulary, and the values buffer of the result is the CSV text.
    It does less than the engine (no weights, no dependencies between columns, no distinct items, lists picked
    from 4,096 pre-joined ones) with the same columns, value ranges and about the same bytes per row."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(42)
    first, last, words, cars = (vocabulary(name)[0] for name in ("first_names", "last_names", "words", "cars"))

    def joined_lists(values, kmax):
        lists = [rng.choice(values, size=rng.integers(1, kmax + 1), replace=False) for _ in range(4096)]
        return ['"' + ",".join(v) + '",' for v in lists]

    days = pa.array(np.arange(-18262, 20454, dtype=np.int32), pa.date32()).cast(pa.string()).to_pylist()
    key_high = [str(h) if h else "" for h in range(rows // 10_000 + 1)]
    key_low = [f"{i}," for i in range(10_000)] + [f"{i:04d}," for i in range(10_000)]
    if dataset == "films":
        sections = [key_high, key_low,
                    [w + " " for w in words], [w + " " for w in words], [w + "," for w in words],
                    [g + "," for g in GENRES], [d + "," for d in days], [f"{m}," for m in range(60, 361)],
                    [f"{x / 100}," for x in range(1001)], [lang + "," for lang in LANGUAGES],
                    [f + " " for f in first], [name + "\n" for name in last]]
    else:
        sections = [key_high, key_low,
                    [f + " " for f in first], [name + "," for name in last], ["Male,", "Female,"],
                    [f.lower() for f in first], [name.lower() + "@" for name in last], [d + "," for d in MAIL_DOMAINS],
                    joined_lists(GENRES, 12), joined_lists(LANGUAGES, 3), [c + "," for c in cars],
                    [f"{x}\n" for x in range(300, 851)]]
    sizes = np.array([len(v) for v in sections], dtype=np.int64)
    bases = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pieces = pa.array([p for section in sections for p in section], pa.string())
    usizes, ubases = sizes.astype(np.uint64), bases.astype(np.uint64)
    with open(path, "wb") as f:
        f.write(builtin_generator(dataset).schema.csv_header())
        for start in range(0, rows, block):
            n = min(block, rows - start)
            ids = np.arange(start + 1, start + n + 1, dtype=np.int64)
            bits = rng.bit_generator.random_raw((n, len(sections))) >> np.uint64(32)
            index = ((bits * usizes >> np.uint64(32)) + ubases).astype(np.int32)  # uniform: multiply-shift
            high = ids // 10_000  # the key counts up: its high digits, then its low four (zero-padded after them)
            index[:, 0] = high
            index[:, 1] = bases[1] + ids - high * 10_000 + np.where(high > 0, 10_000, 0)
            taken = pieces.take(pa.array(index.ravel()))
            offsets = np.frombuffer(taken.buffers()[1], dtype=np.int32, count=len(taken) + 1)
            f.write(memoryview(taken.buffers()[2]).cast("B")[offsets[0]:offsets[-1]])


def generator_only(dataset: str, rows: int, path: Path, block: int = DEFAULT_BLOCK_ROWS) -> None:
    """Our vectorised generator (the spec engine) and CSV encoder in one thread, no Beam."""
    g = builtin_generator(dataset)
    with open(path, "wb") as f:
        f.write(g.schema.csv_header())
        for start in range(0, rows, block):
            f.write(record_batch_to_csv(g.batch(42, start, min(start + block, rows))))


def settle(args) -> None:
    """Wait until memory freed by the last run (its files' page cache) is given back to the host.

    On a virtual machine that reports free memory to its host (virtio-balloon free page reporting, as on the
    2-core machines these figures come from), a write into page cache freed a moment ago is several times faster
    than one into memory already handed back (benchmarks/HISTORY.md, 2026-12-04, second session). Without a
    pause, a run that starts writing at once (the plain writer) gets the memory its predecessor freed, while the
    pipeline, writing only after its start-up, mostly does not: each timed run here waits first, so all of them
    write into memory in the same state.
    """
    if args.settle:
        time.sleep(args.settle)


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


ONE_THREAD = """
import sys, time
from datagen.engine import builtin_generator
from transforms.text import record_batch_to_csv
g = builtin_generator(sys.argv[1]); rows = int(sys.argv[2]); block = 1 << 17
t = time.perf_counter()
with open(sys.argv[3], "wb") as f:
    f.write(g.schema.csv_header())
    for start in range(0, rows, block):
        f.write(record_batch_to_csv(g.batch(42, start, min(start + block, rows))))
print(time.perf_counter() - t)
"""


def generator_only_in(tree: Path, dataset: str, rows: int, path: Path) -> float:
    """(b) as another checkout of the project runs it (the same code as generator_only, in its own process)."""
    out = subprocess.run([sys.executable, "-c", ONE_THREAD, dataset, str(rows), str(path)], cwd=tree,
                         env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def pipeline(datasets: str, size_args: list[str], out: Path, tree: Path = ROOT) -> tuple[float, float]:
    """pipelines.generate on the DirectRunner (both cores, its default); wall seconds and peak RSS in MiB."""
    cmd = [sys.executable, "-m", "pipelines.generate", "--datasets", datasets, *size_args,
           "--output", str(out), "--overwrite", "--no_progress"]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=tree, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(tree)})
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
    seconds = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status):
        raise subprocess.CalledProcessError(os.waitstatus_to_exitcode(status), cmd)
    return seconds, usage.ru_maxrss / 1024


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000, help="rows per dataset for (b) and (c)")
    ap.add_argument("--baseline_rows", type=int, default=20_000, help="rows per dataset for (a), which is slow")
    ap.add_argument("--films_size", default="1.7GB", help="also time (C) on this much films CSV, and (B') on as "
                                                          "many rows; '' to skip")
    ap.add_argument("--clients_size", default="2GB", help="the same for clients; '' to skip")
    ap.add_argument("--parquet_rows", type=int, default=0,
                    help="also time films and clients to Parquet, this many rows each, in one command (Q), and with "
                         "--compare_with as REV runs it")
    ap.add_argument("--gzip_rows", type=int, default=0,
                    help="also time films and clients to CSV with --compression gzip and without, this many rows "
                         "each, one after the other (the gzip target: its speed as a share of plain CSV's)")
    ap.add_argument("--ndjson_rows", type=int, default=0,
                    help="also time films and clients to --format ndjson and to CSV, this many rows each, one after "
                         "the other (newline-delimited JSON's speed as a share of CSV's)")
    ap.add_argument("--only_sized", action="store_true", help="skip (a), (b'), (b) and (c) at --rows")
    ap.add_argument("--repeat", type=int, default=1,
                    help="time (Q), (C) and their baselines this many times, each pair one after the other, and "
                         "print each run's ratio and the median")
    ap.add_argument("--settle", type=float, default=10.0, metavar="SECONDS",
                    help="pause this long before each timed run, after the last run's files are deleted, so that "
                         "every run starts with the machine's memory in the same state (see settle()); 0 for none")
    ap.add_argument("--compare_with", default=None, metavar="REV",
                    help="also time (b) and (c) as git revision REV of this project runs them (a worktree made for "
                         "the run): an engine or spec change against the one before it, in the same run")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        other = None
        if args.compare_with:
            other = tmp / "other"
            subprocess.run(["git", "worktree", "add", "--detach", str(other), args.compare_with], cwd=ROOT,
                           check=True, capture_output=True)
        try:
            compare(args, tmp, other, results)
        finally:
            if other is not None:
                subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, capture_output=True)
    report(results, args.compare_with)
    return 0


def compare(args, tmp: Path, other: Path | None, results: list) -> None:
    """Times (a), (b'), (b), (c) and, with ``other``, (b) and (c) in that checkout; then (c) at the target sizes
    and (b') for the same rows. Appends (key, label, dataset, rows, seconds, bytes, peak MiB) to ``results``."""
    for dataset in () if args.only_sized else ("films", "clients"):
        path = tmp / f"{dataset}-a.csv"
        settle(args)
        s = timed(original_approach, dataset, args.baseline_rows, path)
        results.append(("a", "(a) Faker per row, csv.writer", dataset, args.baseline_rows, s, path.stat().st_size,
                        None))
        path = tmp / f"{dataset}-plain.csv"
        settle(args)
        s = timed(plain_writer, dataset, args.rows, path)
        results.append(("p", "(b') plain numpy writer, 1 thread", dataset, args.rows, s, path.stat().st_size, None))
        path.unlink()
        path = tmp / f"{dataset}-b.csv"
        settle(args)
        s = timed(generator_only, dataset, args.rows, path)
        results.append(("b", "(b) spec engine, no Beam, 1 thread", dataset, args.rows, s, path.stat().st_size, None))
        path.unlink()
        if other is not None:
            settle(args)
            s = generator_only_in(other, dataset, args.rows, path)
            results.append(("b@", f"(b) at {args.compare_with}", dataset, args.rows, s, path.stat().st_size, None))
            path.unlink()
        settle(args)
        s, peak = pipeline(dataset, ["--rows", str(args.rows)], tmp / "c")
        results.append(("c", "(c) pipelines.generate, DirectRunner", dataset, args.rows, s, size_of(tmp / "c"),
                        peak))
        if other is not None:
            subprocess.run(["rm", "-rf", str(tmp / "c")], check=True)
            settle(args)
            s, peak = pipeline(dataset, ["--rows", str(args.rows)], tmp / "c", other)
            results.append(("c@", f"(c) at {args.compare_with}", dataset, args.rows, s, size_of(tmp / "c"), peak))
    for _ in range(args.repeat):  # pairs timed one after the other: this machine's speed drifts
        sized(args, tmp, other, results)


def sized(args, tmp: Path, other: Path | None, results: list) -> None:
    """(Q) and (Q) at REV, then (C) and (B') for each target size."""
    if args.parquet_rows:
        runs = ((ROOT, "Q", "(Q) films+clients Parquet"), (other, "Q@", f"(Q) at {args.compare_with}"))
        for tree, key, label in runs:
            if tree is not None:
                subprocess.run(["rm", "-rf", str(tmp / "q")], check=True)
                settle(args)
                s, peak = pipeline("films,clients", ["--rows", str(args.parquet_rows), "--format", "parquet"],
                                   tmp / "q", tree)
                results.append((key, label, "both", 2 * args.parquet_rows, s, size_of(tmp / "q"), peak))
    for option, (key, name, extra) in AGAINST_CSV.items():
        rows = getattr(args, option)
        for dataset in ("films", "clients") if rows else ():
            for k, label, how in ((key + "0", "(c) plain CSV", []), (key, f"(c) {name}", extra)):
                subprocess.run(["rm", "-rf", str(tmp / "z")], check=True)
                settle(args)
                s, peak = pipeline(dataset, ["--rows", str(rows), *how], tmp / "z")
                results.append((k, label, dataset, rows, s, size_of(tmp / "z"), peak))
    for dataset, size in (("films", args.films_size), ("clients", args.clients_size)):
        if not size:
            continue
        big = tmp / "big"
        settle(args)
        s, peak = pipeline(dataset, ["--target_size", size], big)
        nbytes = size_of(big)
        rows = sum(1 for p in big.rglob("*.csv") for _ in open(p, "rb")) - len(list(big.rglob("*.csv")))
        results.append(("C", f"(C) pipelines.generate, {size}", dataset, rows, s, nbytes, peak))
        subprocess.run(["rm", "-rf", str(big)], check=True)
        path = tmp / f"{dataset}-plain.csv"
        settle(args)
        s = timed(plain_writer, dataset, rows, path)
        results.append(("P", "(B') plain numpy writer, same rows", dataset, rows, s, path.stat().st_size, None))
        path.unlink()


# --option -> (key, name, the generate options): the whole command, against plain CSV's for the same rows
AGAINST_CSV = {"gzip_rows": ("z", "gzip CSV", ["--compression", "gzip"]),
               "ndjson_rows": ("j", "NDJSON", ["--format", "ndjson"])}


def report(results: list, compare_with: str | None) -> None:
    print(f"{'approach':<40} {'dataset':<8} {'rows':>11} {'seconds':>8} {'rows/s':>11} {'MB/s':>7} {'peak MiB':>9}")
    rate, each = {}, {}  # the last run's rows/s; every run's seconds
    for key, name, dataset, rows, s, size, peak in results:
        rate[(key, dataset)] = rows / s
        each.setdefault((key, dataset), []).append(s)
        print(f"{name:<40} {dataset:<8} {rows:>11,} {s:>8.2f} {rows / s:>11,.0f} {size / s / 1e6:>7.1f} "
              f"{'' if peak is None else f'{peak:,.0f}':>9}")
    print()
    if ("Q@", "both") in each:
        print(f"Parquet, films+clients: {ratios(each[('Q@', 'both')], each[('Q', 'both')])} faster than at "
              f"{compare_with}")
    for dataset in ("films", "clients"):
        if ("c", dataset) in rate:
            print(f"{dataset}: (c)/(a) = {rate[('c', dataset)] / rate[('a', dataset)]:,.0f}x the rows/s; "
                  f"(b)/(c) = {rate[('b', dataset)] / rate[('c', dataset)]:.2f}x; "
                  f"(b')/(b) = {rate[('p', dataset)] / rate[('b', dataset)]:.2f}x")
        if ("c@", dataset) in rate:
            print(f"{dataset}: against {compare_with}: (b) {rate[('b', dataset)] / rate[('b@', dataset)]:.2f}x, "
                  f"(c) {rate[('c', dataset)] / rate[('c@', dataset)]:.2f}x the rows/s")
        for key, name, _ in AGAINST_CSV.values():
            if (key, dataset) in each:
                print(f"{dataset}: {name} runs at {ratios(each[(key + '0', dataset)], each[(key, dataset)])} the "
                      f"speed of plain CSV (whole command)")
        if ("C", dataset) in each:
            print(f"{dataset}: (C) takes {ratios(each[('C', dataset)], each[('P', dataset)])} the time of the "
                  f"plain one-thread writer (B') for the same rows")


def ratios(tops: list, bottoms: list) -> str:
    """Each run's ratio, and their median when there are several."""
    values = [t / b for t, b in zip(tops, bottoms)]
    text = ", ".join(f"{v:.2f}x" for v in values)
    return text if len(values) == 1 else f"{text} (median {statistics.median(values):.2f}x)"


if __name__ == "__main__":
    sys.exit(main())
