"""Beam metrics for rows and bytes per dataset, and a progress line while a local run works."""

from __future__ import annotations

import sys
import threading
import time

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

NAMESPACE = "ml_dataset_pipeline"
PROGRESS_INTERVAL = 2.0  # seconds between progress lines


class _Progress:
    """Rows done per dataset in this process; prints at most one line every ``interval`` seconds."""

    lock = threading.Lock()
    done: dict[str, int] = {}
    started = time.monotonic()  # when the run started (reset): rates are over the whole run so far
    last_print = started
    interval = PROGRESS_INTERVAL

    @classmethod
    def add(cls, dataset: str, rows: int, total: int):
        with cls.lock:
            now = time.monotonic()
            cls.done[dataset] = cls.done.get(dataset, 0) + rows
            if now - cls.last_print < cls.interval and cls.done[dataset] < total:
                return
            cls.last_print = now
            elapsed = max(now - cls.started, 1e-3)
            done = cls.done[dataset]
            line = (f"  {dataset}: {done:,} of {total:,} rows ({100.0 * done / total:.0f}%), "
                    f"{done / elapsed / 1e6:.2f}M rows/s")
        try:
            print(line, file=sys.stderr, flush=True)
        except OSError:  # nobody reads stderr any more (`| head`): the run goes on without progress lines
            cls.interval = float("inf")

    @classmethod
    def reset(cls):
        with cls.lock:
            cls.done = {}
            cls.started = cls.last_print = time.monotonic()
            cls.interval = PROGRESS_INTERVAL


class RowCounter:
    """Counts the rows of a dataset's record batches in the metrics ``<dataset>_rows`` and
    ``<dataset>_arrow_bytes``, and shows progress when ``show_progress``. Made when the pipeline is built, used
    inside a DoFn."""

    def __init__(self, dataset: str, total_rows: int, show_progress: bool = False):
        self._dataset = dataset
        self._total = total_rows
        self._show = show_progress
        self._rows = Metrics.counter(NAMESPACE, f"{dataset}_rows")
        self._arrow_bytes = Metrics.counter(NAMESPACE, f"{dataset}_arrow_bytes")

    def count(self, batch: pa.RecordBatch):
        self._rows.inc(batch.num_rows)
        self._arrow_bytes.inc(batch.nbytes)
        if self._show:
            _Progress.add(self._dataset, batch.num_rows, self._total)


@beam.typehints.with_input_types(pa.RecordBatch)
@beam.typehints.with_output_types(pa.RecordBatch)
class CountRows(beam.DoFn):
    """Passes record batches through, counting them with a :class:`RowCounter`. Typed, so that the runner
    sizes its output with the record batch coder (a batch's buffers) rather than by pickling a sample of it."""

    def __init__(self, counter: RowCounter):
        self._counter = counter

    def process(self, batch: pa.RecordBatch):
        self._counter.count(batch)
        yield batch


def reset_progress():
    """Starts this process's progress lines afresh (a new run in the same process)."""
    _Progress.reset()
