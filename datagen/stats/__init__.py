"""Statistics and sketches of tables, plain Python over Arrow arrays and numpy (no Beam): every one is computed on
any part of a table and merged with any other part's, so a runner can spread them over workers and any split
gives the same answer.

- ``columns``: a column's kind and its values as numbers; the types a profile reads files as.
- ``sketches``: 64-bit hashes of values, HyperLogLog (distinct values), moments (mean and variance, merged by
  Chan et al.'s pairwise update).
- ``table``: every column's statistics and, for columns of few values, exact counts and per-category sums.
- ``top_values``: exact top values of strings and of their comma-separated items, in hash buckets.
- ``distribution``: quantiles' inputs and percentiles, histograms of fixed bins.

:mod:`transforms.profiling` runs them in Beam; :mod:`datagen.report` turns their results into a profile.
"""
