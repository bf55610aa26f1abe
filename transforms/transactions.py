"""A credit-card-fraud-like source table for trying and testing the PostgreSQL extraction.

Shaped like the public credit-card fraud data: ``time`` (seconds, ascending with repeats), ``v1``..``v28``
(PCA-like components, zero-mean with falling spread), ``amount`` (NUMERIC(10,2), >= 0, log-normal) and
``class`` (1 for about 0.17% of rows, whose components are shifted as in the real data), plus an ``id`` primary
key. Row ``i`` depends only on (seed, i), through the same counter-based streams as the films and clients.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from transforms.randomness import Fields, row_bits, stream_key

NAME = "transactions"
COMPONENTS = 28
FRAUD_RATE = 0.00172
SECONDS_PER_ROW = 172_792 / 284_807  # two days over the public data set's row count
# Standard deviation of each component, falling as in a PCA (the public data: about 1.96 down to 0.33).
_SPREAD = np.linspace(1.96, 0.33, COMPONENTS)
# Mean shift of the components of fraudulent rows (the strongest signals of the public data).
_FRAUD_SHIFT = np.zeros(COMPONENTS)
_FRAUD_SHIFT[[2, 9, 11, 13, 16]] = [-7.0, -5.7, -6.3, -7.0, -6.7]  # v3, v10, v12, v14, v17
_FRAUD_SHIFT[[3, 10]] = [4.5, 3.8]  # v4, v11

COLUMNS = ["id", "time"] + [f"v{i}" for i in range(1, COMPONENTS + 1)] + ["amount", "class"]
DDL_TYPES = (["BIGINT PRIMARY KEY", "INTEGER NOT NULL"] + ["DOUBLE PRECISION NOT NULL"] * COMPONENTS
             + ["NUMERIC(10,2) NOT NULL", "SMALLINT NOT NULL"])


def _normals(seed: int, stream: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals per row (Box-Muller on two 32-bit uniforms)."""
    f = Fields(row_bits(stream_key(seed, NAME, stream), start, stop))
    u1 = (f.take(32) + 0.5) / 2.0**32
    u2 = f.take(32) / 2.0**32
    r = np.sqrt(-2.0 * np.log(u1))
    return r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)


def batch(seed: int, start: int, stop: int) -> pa.RecordBatch:
    """Rows [start, stop) with ids start+1 .. stop."""
    idx = np.arange(start, stop, dtype=np.int64)
    f = Fields(row_bits(stream_key(seed, NAME, "class"), start, stop))
    fraud = f.take(20) < int(FRAUD_RATE * (1 << 20))
    columns = [pa.array(idx + 1), pa.array((idx * SECONDS_PER_ROW).astype(np.int32))]
    for k in range(0, COMPONENTS, 2):
        a, b = _normals(seed, f"v{k}", start, stop)
        for j, z in ((k, a), (k + 1, b)):
            v = z * _SPREAD[j] + np.where(fraud, _FRAUD_SHIFT[j], 0.0)
            columns.append(pa.array(np.round(v, 6)))
    z, _ = _normals(seed, "amount", start, stop)
    amount = np.minimum(np.round(np.exp(3.0 + 1.45 * z), 2), 25_000.0)
    columns.append(pa.array(amount).cast(pa.decimal128(10, 2), safe=False))
    columns.append(pa.array(fraud.astype(np.int16)))
    return pa.RecordBatch.from_arrays(columns, names=COLUMNS)
