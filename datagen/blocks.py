"""How many rows the engine makes at a time: the unit of generated data everywhere.

A block is one Arrow record batch: the source claims and splits on block boundaries, the engine makes a block's
columns as whole arrays, and the sinks encode one block per write (a Parquet row group for each). 131,072 rows
keep a block's temporary arrays at a few MB each (about 10 MB of CSV for films): large enough that numpy's and
Arrow's per-call costs vanish, small enough that two blocks in flight stay well under the memory a worker
has. Smaller and larger blocks ran within noise of this on the 2-core reference machine (no run of it is recorded
in benchmarks/; ``benchmarks/columns.py --block N`` times a block of N rows).

Kept apart from the engine so that a job's ``--help`` (which shows this default) imports neither Arrow nor Beam.
"""

DEFAULT_BLOCK_ROWS = 1 << 17
