"""Our CSV sink against Beam's own ``WriteToText``, on the same generated record batches, in one run.

    python benchmarks/sinks.py [--rows 5000000] [--dataset films]

Both pipelines generate the dataset with the project's source; (ours) writes the batches with
``transforms.sinks.WriteCsv`` (encoded as written, gzip at level 1 in the writing thread); (beam) encodes each
batch to CSV text in a step of its own and writes it with ``apache_beam.io.WriteToText`` (one element per
batch, the header by its ``header`` argument, gzip by its ``compression_type``). Prints the seconds and rows/s
of each, plain and gzip, and their ratio. Machines are noisy: compare the figures of one run.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_once(kind: str, rows: int, dataset: str, gzip: bool, folder: str) -> tuple[float, int]:
    import apache_beam as beam
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.options.pipeline_options import PipelineOptions

    from datagen import spec as specs
    from datagen.contract import from_spec
    from transforms.sinks import WriteCsv
    from transforms.source import GenerateDataset
    from transforms.text import record_batch_to_csv

    spec = specs.builtin(dataset)
    header = from_spec(spec).csv_header()
    prefix = f"{folder}/{kind}/{dataset}"
    options = PipelineOptions(["--direct_num_workers", "0", "--direct_running_mode", "multi_threading"])
    started = time.monotonic()
    with beam.Pipeline(options=options) as p:
        batches = p | GenerateDataset(spec, rows, 42)
        if kind == "ours":
            _ = batches | WriteCsv(prefix, header, "gzip" if gzip else "none")
        else:
            _ = (batches
                 | beam.Map(lambda b: bytes(record_batch_to_csv(b))[:-1])  # WriteToText adds each line's newline
                 | beam.io.WriteToText(prefix, file_name_suffix=".csv.gz" if gzip else ".csv",
                                       header=header.decode().rstrip("\n"),
                                       compression_type=CompressionTypes.GZIP if gzip else
                                       CompressionTypes.UNCOMPRESSED))
    seconds = time.monotonic() - started
    size = sum(os.path.getsize(f) for f in glob.glob(f"{prefix}*"))
    return seconds, size


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--dataset", default="films")
    args = p.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="sinks-bench-")
    try:
        print(f"{'sink':<28} {'rows':>12} {'seconds':>8} {'rows/s':>12} {'bytes':>14}")
        run_once("ours", 100_000, args.dataset, False, folder)  # warm-up: the first pipeline of a process pays more
        shutil.rmtree(f"{folder}/ours", ignore_errors=True)
        for gzip in (False, True):
            results = {}
            for kind in ("ours", "beam", "beam", "ours"):  # each twice, in turn; the faster of the two counts
                seconds, size = run_once(kind, args.rows, args.dataset, gzip, folder)
                if seconds < results.get(kind, float("inf")):
                    results[kind] = seconds
                label = ("WriteCsv (ours)" if kind == "ours" else "WriteToText (Beam)") + (", gzip" if gzip else "")
                print(f"{label:<28} {args.rows:>12,} {seconds:>8.2f} {args.rows / seconds:>12,.0f} {size:>14,}")
                shutil.rmtree(f"{folder}/{kind}", ignore_errors=True)
            print(f"  WriteToText takes {results['beam'] / results['ours']:.2f}x our sink's time"
                  + (" (gzip)" if gzip else ""))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
