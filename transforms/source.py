"""A splittable, deterministic source of generated rows, emitted as Arrow record batches.

:class:`GeneratedRowsSource` is a ``BoundedSource`` over the row indices [0, rows) of one dataset. It claims
fixed-size blocks of rows and emits each block as one record batch. Initial splits and the runner's dynamic
splits both fall on block boundaries (:class:`BlockRangeTracker`), so no row is emitted twice or skipped; and
since row ``i`` depends only on (seed, dataset, column, i) (:mod:`datagen.engine`), the data do not depend on
where the splits fall, nor on the block size. The source carries the dataset's spec itself (not a file name), so
remote workers need nothing but the project's packages.

:class:`GenerateDataset` is the PTransform to use in a pipeline.
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
from apache_beam.io import iobase
from apache_beam.io.range_trackers import OffsetRangeTracker
from apache_beam.transforms.display import DisplayDataItem

from datagen.blocks import DEFAULT_BLOCK_ROWS
from datagen.engine import compile_dataset
from datagen.spec import DatasetSpec
from transforms.arrow_coder import RecordBatchCoder


def _align_up(position: int, block: int) -> int:
    return -(-position // block) * block


class BlockRangeTracker(OffsetRangeTracker):
    """An OffsetRangeTracker whose split points are multiples of ``block`` (the positions a reader claims)."""

    def __init__(self, start: int, end: int, block: int):
        super().__init__(start, end)
        self._block = block

    def try_split(self, position):
        aligned = _align_up(int(position), self._block)
        if aligned >= self.stop_position():
            return None
        return super().try_split(aligned)

    def fraction_consumed(self):
        # The reader's last, failed claim is at or past the stop: then everything is done.
        if self.last_attempted_record_start >= self.stop_position():
            return 1.0
        return super().fraction_consumed()

    def position_at_fraction(self, fraction):
        return _align_up(super().position_at_fraction(fraction), self._block)


class GeneratedRowsSource(iobase.BoundedSource):
    """Rows [0, rows) of the dataset ``spec`` under ``seed``, ``block_rows`` rows per emitted record batch.
    ``run``: dataset name -> (spec, rows) of the datasets it references (:func:`datagen.engine.run_context`)."""

    def __init__(self, spec: DatasetSpec, rows: int, seed: int, block_rows: int = DEFAULT_BLOCK_ROWS,
                 bytes_per_row: float = 100.0, run: dict | None = None):
        if not isinstance(spec, DatasetSpec):
            raise ValueError(f"expected a dataset spec (datagen.spec.DatasetSpec), got {spec!r}")
        if rows < 0 or block_rows <= 0:
            raise ValueError(f"rows must be >= 0 and block_rows > 0, got {rows} and {block_rows}")
        self.spec = spec
        self.run = {name: run[name] for name in spec.references} if run else {}
        self.dataset = spec.name
        self.rows = rows
        self.seed = seed
        self.block_rows = block_rows
        self.bytes_per_row = bytes_per_row

    def estimate_size(self):
        return int(self.rows * self.bytes_per_row)

    def split(self, desired_bundle_size, start_position=None, stop_position=None):
        start = 0 if start_position is None else start_position
        stop = self.rows if stop_position is None else stop_position
        blocks_per_bundle = max(1, int(desired_bundle_size // (self.bytes_per_row * self.block_rows)))
        step = blocks_per_bundle * self.block_rows
        position = start
        while position < stop:
            end = min(_align_up(position + 1, step), stop)
            yield iobase.SourceBundle(end - position, self, position, end)
            position = end

    def get_range_tracker(self, start_position, stop_position):
        start = 0 if start_position is None else start_position
        stop = self.rows if stop_position is None else stop_position
        return BlockRangeTracker(start, stop, self.block_rows)

    def read(self, range_tracker):
        gen = compile_dataset(self.spec, self.run)
        position = range_tracker.start_position()
        while range_tracker.try_claim(position):
            # Splits land on block boundaries after `position`, so this block is ours to the end.
            end = min(_align_up(position + 1, self.block_rows), range_tracker.stop_position())
            yield gen.batch(self.seed, position, end)
            position = end

    def default_output_coder(self):
        return RecordBatchCoder()

    def display_data(self):
        return {"dataset": DisplayDataItem(self.dataset, label="Dataset"),
                "spec": DisplayDataItem(self.spec.source, label="Spec"),
                "rows": DisplayDataItem(self.rows, label="Rows"),
                "seed": DisplayDataItem(str(self.seed), label="Seed"),  # may pass int64: shown as text
                "block_rows": DisplayDataItem(self.block_rows, label="Rows per record batch"),
                "references": DisplayDataItem(", ".join(f"{n} ({r:,} rows)" for n, (_, r) in sorted(self.run.items()))
                                              or "none", label="Datasets referenced")}


class GenerateDataset(beam.PTransform):
    """``rows`` rows of the dataset ``spec`` as a PCollection of ``pyarrow.RecordBatch`` (``block_rows`` rows
    each)."""

    def __init__(self, spec: DatasetSpec, rows: int, seed: int, block_rows: int = DEFAULT_BLOCK_ROWS,
                 bytes_per_row: float = 100.0, run: dict | None = None):
        super().__init__()
        self._source = GeneratedRowsSource(spec, rows, seed, block_rows, bytes_per_row, run)

    def expand(self, pbegin):
        return pbegin | beam.io.Read(self._source).with_output_types(pa.RecordBatch)

    def display_data(self):
        return {"source": self._source.__class__, "source_dd": self._source}
