"""A fixed number of shards of generated rows, each made and written whole by one worker.

With ``--num_shards N``, Beam's ``Write`` would send every record batch to a random shard through a
``GroupByKey``: the files differ from run to run, a few large blocks leave most shards empty, and every byte goes
through the shuffle. :class:`WriteGeneratedShards` splits the rows instead: shard ``k`` of ``N`` holds rows
``[k * rows // N, (k + 1) * rows // N)``, in order, generated block by block and written straight into its
temporary file by the worker that got ``k``. So the shards are balanced to one row, a file's bytes are the same
whatever the runner or the number of workers, memory stays at one block, and nothing but the shard numbers is
shuffled. Only the sink's final step (renaming the temporary files, :meth:`FileBasedSink.finalize_write`) waits
for all of them, as in Beam's ``Write``.

The parallelism is the number of shards: leave ``--num_shards`` at 0 (one file per bundle of work, as the runner
splits the source) to let a runner spread one dataset over more workers than that.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filebasedsink import FileBasedSink
from apache_beam.pvalue import AsList, AsSingleton

from datagen.engine import compile_dataset
from datagen.spec import DatasetSpec
from transforms.formats import generated_dictionary
from transforms.progress import RowCounter
from transforms.sinks import _ParquetSink


def shard_bounds(rows: int, num_shards: int, shard: int) -> tuple[int, int]:
    """The row range [start, end) of ``shard`` when ``rows`` rows are split into ``num_shards`` balanced shards."""
    return shard * rows // num_shards, (shard + 1) * rows // num_shards


def block_bounds(start: int, end: int, block_rows: int):
    """[start, end) cut where row numbers are multiples of ``block_rows`` (the blocks the source emits)."""
    position = start
    while position < end:
        stop = min((position // block_rows + 1) * block_rows, end)
        yield position, stop
        position = stop


class ShardedDataset:
    """One dataset to write as a fixed number of shards: rows [0, rows) of ``spec`` under ``seed``, written
    through ``sink`` (a ``FileBasedSink`` with ``num_shards`` set; a Parquet sink given no dictionary columns
    takes the dataset's, :func:`transforms.formats.generated_dictionary`) in blocks of ``block_rows``; ``counter``
    counts the rows and shows progress, as :class:`transforms.progress.CountRows` does. ``run``: dataset name ->
    (spec, rows) of the datasets it references (:func:`datagen.engine.run_context`)."""

    def __init__(self, sink: FileBasedSink, spec: DatasetSpec, rows: int, seed: int, block_rows: int,
                 run: dict | None, counter: RowCounter):
        if sink.num_shards < 1:
            raise ValueError(f"expected a sink with a fixed number of shards, got num_shards={sink.num_shards}")
        self.spec = spec  # the spec itself, not a file name: workers need nothing but the project's packages
        self.rows = rows
        self.seed = seed
        self.block_rows = block_rows
        self.run = {name: run[name] for name in spec.references} if run else {}
        if isinstance(sink, _ParquetSink) and sink.dictionary is None:
            # The dataset's dictionary columns, chosen here (at no cost after the plan's sample) and carried to
            # every worker with the sink, rather than by each process from the first block it happens to write:
            # so a shard's bytes do not depend on the runner or the process that writes it.
            sink = sink.with_dictionary(generated_dictionary(compile_dataset(spec, self.run), seed, rows))
        self.sink = sink
        self.counter = counter
        self._gen = None

    @property
    def num_shards(self) -> int:
        return self.sink.num_shards

    def shard_batches(self, shard: int):
        """Shard ``shard``'s rows, one record batch per block."""
        if self._gen is None:
            self._gen = compile_dataset(self.spec, self.run)
        for start, end in block_bounds(*shard_bounds(self.rows, self.num_shards, shard), self.block_rows):
            yield self._gen.batch(self.seed, start, end)

    def write_shard(self, shard: int, temp_dir: str) -> str:
        """Writes shard ``shard`` into a temporary file of ``temp_dir``; returns its path. Sorted temporary
        names give the final shard numbers (``FileBasedSink.finalize_write``), so the zero-padded shard number
        comes first. A retried shard writes a file of its own; only the attempt that succeeds is finalized."""
        import uuid

        writer = self.sink.open_writer(temp_dir, f"{shard:09d}-{uuid.uuid4().hex}")
        for batch in self.shard_batches(shard):
            self.counter.count(batch)
            writer.write(batch)
        return writer.close()

    def finalize(self, temp_dir: str, written: list[str]) -> list[str]:
        """Renames the written temporary files to their final names; returns these."""
        written = sorted(written)
        return list(self.sink.finalize_write(temp_dir, written, self.sink.pre_finalize(temp_dir, written)) or ())


class _WriteShard(beam.DoFn):
    """Writes shard ``k`` of dataset ``i`` for the element ``(i, k)``; emits ``(i, temporary file path)``."""

    def __init__(self, datasets: list[ShardedDataset]):
        self.datasets = datasets

    def process(self, element: tuple[int, int], temp_dirs: list[str]):
        i, shard = element
        yield i, self.datasets[i].write_shard(shard, temp_dirs[i])


def _initialize(_, datasets: list[ShardedDataset]) -> list[str]:
    return [d.sink.initialize_write() for d in datasets]


def _finalize(_, datasets: list[ShardedDataset], temp_dirs: list[str], written: list[tuple[int, str]]):
    for i, d in enumerate(datasets):
        yield from d.finalize(temp_dirs[i], [path for j, path in written if j == i])


class WriteGeneratedShards(beam.PTransform):
    """Writes each of ``datasets`` as exactly its number of balanced shards, in row order; the output is the
    final file names. The shards of all the datasets are one collection of work, spread over the workers
    (``spread=False`` for a runner of one worker, which gains nothing from the reshuffle that spreads them)."""

    def __init__(self, datasets: list[ShardedDataset], spread: bool = True):
        super().__init__()
        self._datasets = list(datasets)
        self._spread = spread

    def expand(self, pbegin):
        p = pbegin.pipeline
        once = p | "Once" >> beam.Create([None])
        temp_dirs = once | "InitializeWrite" >> beam.Map(_initialize, self._datasets)
        work = [(i, k) for i, d in enumerate(self._datasets) for k in range(d.num_shards)]
        shards = p | "Shards" >> beam.Create(work)
        if self._spread and len(work) > 1:  # one worker per shard, however the runner bundled them
            shards = shards | "Spread" >> beam.Reshuffle()
        written = shards | "WriteShards" >> beam.ParDo(_WriteShard(self._datasets), AsSingleton(temp_dirs))
        return once | "FinalizeWrite" >> beam.FlatMap(
            _finalize, self._datasets, AsSingleton(temp_dirs), AsList(written)).with_output_types(str)
