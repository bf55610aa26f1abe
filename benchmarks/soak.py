"""Soak: many GB of films generated locally, with the memory of the whole process tree sampled every second.

    python benchmarks/soak.py [--size 20GB] [--num_shards 40] [--output /tmp/soak]

Runs ``python -m pipelines.generate --datasets films --target_size SIZE --num_shards N`` as a user would and
prints the peak resident memory (the job and any child process) per tenth of the run, so a leak shows as a
rising line. Then checks the output exactly without parsing it all: with fixed shards, shard k holds rows
k*rows/N..(k+1)*rows/N in order, so each shard's first and last ``film_id`` (its first column, counted from 1)
and its line count must agree with that, and together the shards must cover every row once. Removes the output
at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def line_count(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))


def first_and_last_key(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        f.readline()  # the header
        first = int(f.readline().split(b",", 1)[0])
        f.seek(max(0, os.path.getsize(path) - 65536))
        last = int(f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1].split(b",", 1)[0])
    return first, last


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="20GB")
    p.add_argument("--num_shards", type=int, default=40)
    p.add_argument("--output", default="/tmp/soak")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.output)
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "pipelines.generate", "--datasets", "films", "--target_size", args.size,
           "--num_shards", str(args.num_shards), "--output", str(out), "--no_progress"]
    started = time.monotonic()
    job = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    samples: list[tuple[float, int]] = []

    def sample():
        while job.poll() is None:
            samples.append((time.monotonic() - started, tree_rss(job.pid)))
            time.sleep(1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = job.communicate()
    seconds = time.monotonic() - started
    sampler.join(5)
    if job.returncode != 0:
        print(f"generate failed ({job.returncode}): {stderr.strip()[-500:]}", file=sys.stderr)
        return 1
    rows = int(re.search(r"films:\s+([\d,]+) rows", stderr + stdout).group(1).replace(",", ""))
    shards = sorted((out / "films").glob("films-*-of-*.csv"))
    size = sum(s.stat().st_size for s in shards)
    exact = len(shards) == args.num_shards
    expected_start = 0
    for k, shard in enumerate(shards):
        start, stop = k * rows // args.num_shards, (k + 1) * rows // args.num_shards
        first, last = first_and_last_key(shard)
        lines = line_count(shard) - 1
        exact &= (first, last, lines) == (start + 1, stop, stop - start) and start == expected_start  # ids from 1
        expected_start = stop
    exact &= expected_start == rows
    print(f"{'size':>10} {'rows':>14} {'shards':>7} {'seconds':>8} {'rows/s':>12} {'MB/s':>7} {'peak MiB':>9}")
    peak = max(r for _, r in samples) if samples else 0
    print(f"{size / 1e9:>9.1f}G {rows:>14,} {len(shards):>7} {seconds:>8.1f} {rows / seconds:>12,.0f} "
          f"{size / seconds / 1e6:>7.1f} {peak / 2**20:>9.0f}")
    tenths, last = [], 0
    for i in range(10):  # a tenth without a sample (a short run) shows the one before
        last = max((r for t, r in samples if i * seconds / 10 <= t < (i + 1) * seconds / 10), default=last)
        tenths.append(last)
    print("peak MiB per tenth of the run: " + " ".join(f"{r / 2**20:.0f}" for r in tenths))
    print(f"output exact (every shard's keys, order and line count; every row once): {exact}")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
