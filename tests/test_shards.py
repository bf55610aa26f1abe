"""transforms.shards: a fixed number of balanced shards of generated rows, the same bytes whatever the runner."""

import glob
import os

import pyarrow.csv as pacsv
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from datagen import spec as specs
from datagen.contract import from_spec
from datagen.engine import compile_dataset
from transforms.progress import RowCounter
from transforms.shards import ShardedDataset, WriteGeneratedShards, block_bounds, shard_bounds
from transforms.sinks import WriteCsv


@pytest.mark.parametrize("rows,shards", [(10, 3), (20000, 2), (7, 7), (3, 5), (10**12 + 1, 9)])
def test_shards_cover_every_row_once_and_differ_by_one_row_at_most(rows, shards):
    bounds = [shard_bounds(rows, shards, k) for k in range(shards)]
    assert bounds[0][0] == 0 and bounds[-1][1] == rows
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [end - start for start, end in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_blocks_fall_on_multiples_of_the_block_size():
    assert list(block_bounds(5, 23, 8)) == [(5, 8), (8, 16), (16, 23)]
    assert list(block_bounds(8, 16, 8)) == [(8, 16)]
    assert list(block_bounds(4, 4, 8)) == []


def dataset(tmp_path, name, spec_name, rows, shards, block_rows):
    spec = specs.builtin(spec_name)
    prefix = str(tmp_path / name / spec_name)
    sink = WriteCsv(prefix, from_spec(spec).csv_header(), num_shards=shards).sink
    return ShardedDataset(sink, spec, rows, 42, block_rows, None, RowCounter(spec_name, rows)), prefix


def write(tmp_path, name, rows, shards, block_rows, args=(), spread=True):
    films, prefix = dataset(tmp_path, name, "films", rows, shards, block_rows)
    with TestPipeline(additional_pipeline_args=list(args)) as p:
        final = p | WriteGeneratedShards([films], spread=spread)
        assert_that(final, equal_to([f"{prefix}-{k:05d}-of-{shards:05d}.csv" for k in range(shards)]))
    return sorted(glob.glob(prefix + "-*"))


def test_each_shard_holds_its_rows_in_order_exactly_as_generated(tmp_path):
    files = write(tmp_path, "a", 1000, 3, 128)
    expected = compile_dataset(specs.builtin("films")).batch(42, 0, 1000)
    tables = [pacsv.read_csv(f) for f in files]
    assert [t.num_rows for t in tables] == [333, 333, 334]
    ids = [i for t in tables for i in t.column("film_id").to_pylist()]
    assert ids == expected.column("film_id").to_pylist()
    assert not [d for d in os.listdir(tmp_path / "a") if d.startswith("beam-temp")]


def test_the_bytes_do_not_depend_on_the_block_size_or_the_workers(tmp_path):
    one = write(tmp_path, "one", 5000, 4, 5000, spread=False)
    two = write(tmp_path, "two", 5000, 4, 999,
                ["--direct_running_mode", "multi_threading", "--direct_num_workers", "2"])
    assert [open(f, "rb").read() for f in one] == [open(f, "rb").read() for f in two]


def test_the_shards_of_several_datasets_are_one_collection_of_work(tmp_path):
    films, films_prefix = dataset(tmp_path, "f", "films", 300, 2, 128)
    clients, clients_prefix = dataset(tmp_path, "c", "clients", 500, 3, 128)
    with TestPipeline() as p:
        final = p | WriteGeneratedShards([films, clients])
        assert_that(final, equal_to([f"{films_prefix}-{k:05d}-of-00002.csv" for k in range(2)]
                                    + [f"{clients_prefix}-{k:05d}-of-00003.csv" for k in range(3)]))
    assert [pacsv.read_csv(f).num_rows for f in sorted(glob.glob(clients_prefix + "-*"))] == [166, 167, 167]


def test_a_sink_without_a_fixed_shard_count_is_refused():
    sink = WriteCsv("/tmp/x/x", b"a\n").sink
    with pytest.raises(ValueError, match="fixed number of shards"):
        ShardedDataset(sink, specs.builtin("films"), 10, 42, 8, None, RowCounter("films", 10))


def test_a_parquet_sink_carries_the_datasets_dictionary_columns_to_every_worker():
    import pickle

    from transforms.formats import generated_dictionary
    from transforms.sinks import WriteParquet

    spec = specs.builtin("films")
    sink = WriteParquet("/tmp/x/films", from_spec(spec).arrow_schema, num_shards=3).sink
    films = ShardedDataset(sink, spec, 60_000, 42, 8192, None, RowCounter("films", 60_000))
    chosen = generated_dictionary(compile_dataset(spec), 42, 60_000)
    assert films.sink.dictionary == chosen and sink.dictionary is None  # the caller's sink is left as it was
    assert pickle.loads(pickle.dumps(films)).sink.dictionary == chosen
    given = WriteParquet("/tmp/x/films", from_spec(spec).arrow_schema, num_shards=3, dictionary=("genre",)).sink
    assert ShardedDataset(given, spec, 60_000, 42, 8192, None, RowCounter("films", 60_000)).sink.dictionary == (
        "genre",)
