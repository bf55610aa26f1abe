"""The generated-rows source: Beam's source test utilities for splitting, and a pipeline run."""

import apache_beam as beam
import pytest
from apache_beam.io import source_test_utils
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from datagen.engine import builtin_generator as generator
from datagen.spec import builtin
from transforms.arrow_coder import RecordBatchCoder
from transforms.source import BlockRangeTracker, GenerateDataset, GeneratedRowsSource


def rows_of(batches):
    return [row for b in batches for row in zip(*(c.to_pylist() for c in b.columns))]


def test_read_emits_one_batch_per_block_covering_every_row():
    source = GeneratedRowsSource(builtin("films"), rows=25, seed=3, block_rows=10)
    batches = source_test_utils.read_from_source(source)
    assert [b.num_rows for b in batches] == [10, 10, 5]
    assert rows_of(batches) == rows_of([generator("films").batch(3, 0, 25)])


@pytest.mark.parametrize("desired_bytes", [1, 500, 2_000, 10**9])
def test_initial_splits_are_block_aligned_and_equal_the_whole(desired_bytes):
    source = GeneratedRowsSource(builtin("clients"), rows=57, seed=1, block_rows=8, bytes_per_row=10)
    bundles = list(source.split(desired_bytes))
    assert bundles[0].start_position == 0 and bundles[-1].stop_position == 57
    for a, b in zip(bundles, bundles[1:]):
        assert a.stop_position == b.start_position and a.stop_position % 8 == 0
    source_test_utils.assert_sources_equal_reference_source(
        (source, None, None), [(b.source, b.start_position, b.stop_position) for b in bundles])


@pytest.mark.slow
def test_dynamic_splits_at_every_point_are_consistent():
    # Beam's exhaustive check: after each item read, try splitting at many fractions; primary + residual
    # must equal the whole read, whatever succeeds.
    source = GeneratedRowsSource(builtin("films"), rows=23, seed=5, block_rows=3)
    source_test_utils.assert_split_at_fraction_exhaustive(source)


def test_split_points_round_up_to_block_boundaries():
    tracker = BlockRangeTracker(0, 100, 16)
    assert tracker.try_claim(0)
    assert tracker.try_split(5) == (16, 0.16)
    assert tracker.stop_position() == 16
    assert tracker.try_split(15) is None  # would round to the stop
    assert not tracker.try_claim(16)
    assert tracker.fraction_consumed() == 1.0


def test_reentrant_reads():
    source_test_utils.assert_reentrant_reads_succeed((GeneratedRowsSource(builtin("clients"), 30, 2, 4), None, None))


def test_record_batch_coder_round_trips():
    batch = generator("clients").batch(0, 0, 50)
    coder = RecordBatchCoder()
    assert coder.decode(coder.encode(batch)).equals(batch)


def test_generate_dataset_in_a_pipeline_gives_exactly_the_rows():
    expected = rows_of([generator("films").batch(9, 0, 1000)])
    with TestPipeline() as p:
        rows = (p
                | GenerateDataset(builtin("films"), rows=1000, seed=9, block_rows=64)
                | beam.FlatMap(lambda b: rows_of([b])))
        assert_that(rows, equal_to(expected))


def test_bad_arguments():
    with pytest.raises(ValueError):
        GeneratedRowsSource("movies", 10, 0)
    with pytest.raises(ValueError):
        GeneratedRowsSource(builtin("films"), -1, 0)
    assert isinstance(GeneratedRowsSource(builtin("films"), 1, 0).default_output_coder(), RecordBatchCoder)
