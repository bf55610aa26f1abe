"""A Beam coder for ``pyarrow.RecordBatch`` elements, in the Arrow IPC stream format.

Batches cross process boundaries (a shuffle for a fixed shard count, a worker of another process) as their
Arrow buffers, without turning values into Python objects.
"""

from __future__ import annotations

import pyarrow as pa
from apache_beam import coders


class RecordBatchCoder(coders.Coder):
    def encode(self, batch: pa.RecordBatch) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        return sink.getvalue().to_pybytes()

    def decode(self, encoded: bytes) -> pa.RecordBatch:
        with pa.ipc.open_stream(pa.py_buffer(encoded)) as reader:
            return reader.read_next_batch()

    def estimate_size(self, batch: pa.RecordBatch) -> int:
        # Runners sample element sizes for their metrics; the default would encode the whole batch to measure it.
        return batch.nbytes

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self):
        return pa.RecordBatch


coders.registry.register_coder(pa.RecordBatch, RecordBatchCoder)
