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
from transforms.progress import RowCounter


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


class _WriteShard(beam.DoFn):
    """Generates shard ``k``'s rows block by block, writing each into the shard's temporary file; emits the
    file's path."""

    def __init__(self, sink: FileBasedSink, spec: DatasetSpec, rows: int, seed: int, num_shards: int,
                 block_rows: int, run: dict, counter: RowCounter):
        self._sink = sink
        self.spec = spec  # the spec itself, not a file name: workers need nothing but the project's packages
        self.rows = rows
        self.seed = seed
        self.num_shards = num_shards
        self.block_rows = block_rows
        self.run = run
        self._counter = counter
        self._gen = None

    def setup(self):
        self._gen = compile_dataset(self.spec, self.run)

    def shard_batches(self, shard: int):
        """Shard ``shard``'s rows, one record batch per block."""
        for start, end in block_bounds(*shard_bounds(self.rows, self.num_shards, shard), self.block_rows):
            yield self._gen.batch(self.seed, start, end)

    def process(self, shard: int, temp_dir: str):
        # Sorted temporary names give the final shard numbers (FileBasedSink.finalize_write): zero-padded shard
        # number first. A retried shard writes a file of its own; only the attempt that succeeds is finalized.
        import uuid

        writer = self._sink.open_writer(temp_dir, f"{shard:09d}-{uuid.uuid4().hex}")
        for batch in self.shard_batches(shard):
            self._counter.count(batch)
            writer.write(batch)
        yield writer.close()


def _finalize(_, sink: FileBasedSink, temp_dir: str, written: list[str]):
    written = sorted(written)
    yield from sink.finalize_write(temp_dir, written, sink.pre_finalize(temp_dir, written)) or ()


class WriteGeneratedShards(beam.PTransform):
    """Rows [0, rows) of the dataset ``spec`` under ``seed``, written through ``sink`` (a ``FileBasedSink`` with
    ``num_shards`` set) as exactly that many balanced shards, in row order; the output is the final file names.
    ``counter`` counts the rows and shows progress, as :class:`transforms.progress.CountRows` does."""

    def __init__(self, sink: FileBasedSink, spec: DatasetSpec, rows: int, seed: int, block_rows: int,
                 run: dict | None, counter: RowCounter):
        super().__init__()
        if sink.num_shards < 1:
            raise ValueError(f"expected a sink with a fixed number of shards, got num_shards={sink.num_shards}")
        self._sink = sink
        self._write = _WriteShard(sink, spec, rows, seed, sink.num_shards, block_rows,
                                  {name: run[name] for name in spec.references} if run else {}, counter)

    def expand(self, pbegin):
        p = pbegin.pipeline
        once = p | "Once" >> beam.Create([None])
        temp_dir = once | "InitializeWrite" >> beam.Map(lambda _, sink: sink.initialize_write(), self._sink)
        written = (
            p
            | "ShardNumbers" >> beam.Create(range(self._sink.num_shards))
            | "Spread" >> beam.Reshuffle()
            | "WriteShards" >> beam.ParDo(self._write, AsSingleton(temp_dir)))
        return once | "FinalizeWrite" >> beam.FlatMap(
            _finalize, self._sink, AsSingleton(temp_dir), AsList(written)).with_output_types(str)
