"""ml-dataset-pipeline's pieces for a Beam pipeline of your own: generated rows as a splittable source, and the
sinks the jobs write with (temporary files, then whole files at ``<prefix>-SSSSS-of-NNNNN<suffix>``).

    import apache_beam as beam
    import mldp
    from mldp.beam import GenerateDataset, WriteParquet

    clients = mldp.builtin("clients")
    with beam.Pipeline() as p:
        batches = p | GenerateDataset(clients, rows=1_000_000, seed=42)   # pyarrow.RecordBatch elements
        _ = batches | WriteParquet("out/clients/clients", mldp.arrow_schema(clients))

Each element is a ``pyarrow.RecordBatch`` of up to ``block_rows`` rows: the rows :func:`mldp.generate` gives for
the same spec, seed and range, whatever the runner splits.
"""

from __future__ import annotations

import mldp
from datagen.blocks import DEFAULT_BLOCK_ROWS
from transforms import source
from transforms.sinks import WriteCsv, WriteNdjson, WriteParquet

__all__ = ["GenerateDataset", "WriteCsv", "WriteNdjson", "WriteParquet"]


class GenerateDataset(source.GenerateDataset):
    """``rows`` rows of ``spec`` (anything :func:`mldp.load` takes) under ``seed``, as a PCollection of
    ``pyarrow.RecordBatch``. A dataset that references others names them in ``parents``: ``{name: (spec,
    rows)}``, as for :func:`mldp.generate`."""

    def __init__(self, spec, rows: int, *, seed: int = mldp.DEFAULT_SEED, block_rows: int = DEFAULT_BLOCK_ROWS,
                 parents: dict | None = None):
        spec = mldp.load(spec)
        super().__init__(spec, rows, seed, block_rows, run=mldp.run_context_of(spec, parents))
