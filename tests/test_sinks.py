"""The batch writers on their own, in a TestPipeline."""

import glob
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline

from transforms.arrow_coder import RecordBatchCoder
from transforms.sinks import WriteCsv, WriteParquet

SCHEMA = pa.schema([pa.field("name", pa.string(), nullable=False), pa.field("n", pa.int64(), nullable=False)])


def batches():
    cat = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int16()), pa.array(["a,b", "c"]))
    return [pa.RecordBatch.from_arrays([cat, pa.array([i, i + 1, i + 2])], names=["name", "n"]) for i in (0, 10)]


def create(p):
    return p | beam.Create(batches()).with_output_types(pa.RecordBatch)


def test_csv_shards_each_start_with_the_header(tmp_path):
    prefix = str(tmp_path / "x" / "x")
    with TestPipeline() as p:
        _ = create(p) | WriteCsv(prefix, b"name,n\n", num_shards=2)
    files = sorted(glob.glob(prefix + "-*"))
    assert [os.path.basename(f) for f in files] == ["x-00000-of-00002.csv", "x-00001-of-00002.csv"]
    lines = []
    for f in files:
        text = open(f).read().splitlines()
        assert text[0] == "name,n"
        lines += text[1:]
    assert sorted(lines) == sorted(['"a,b",0', "c,1", '"a,b",2', '"a,b",10', "c,11", '"a,b",12'])
    assert not [d for d in os.listdir(tmp_path / "x") if d.startswith("beam-temp")]


def test_parquet_stores_dictionary_strings_as_strings(tmp_path):
    prefix = str(tmp_path / "y")
    with TestPipeline() as p:
        _ = create(p) | WriteParquet(prefix, SCHEMA, num_shards=1)
    table = pq.read_table(prefix + "-00000-of-00001.parquet")
    assert table.schema.equals(SCHEMA, check_metadata=False)
    assert sorted(table.column("n").to_pylist()) == [0, 1, 2, 10, 11, 12]


def test_coder_is_registered_for_record_batches():
    assert isinstance(beam.coders.registry.get_coder(pa.RecordBatch), RecordBatchCoder)


def test_parquet_keeps_small_dictionaries_decodes_large_ones_and_reads_back_as_strings(tmp_path):
    big = pa.array([f"name {i}" for i in range(5000)])  # above the size written whole in every row group
    rows = [pa.RecordBatch.from_arrays([pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), big),
                                        pa.array([1, 2, 3])], names=["name", "n"]) for codes in ([0, 7, 4999],)]
    prefix = str(tmp_path / "z")
    with TestPipeline() as p:
        _ = (p | beam.Create(rows + batches()).with_output_types(pa.RecordBatch)
             | WriteParquet(prefix, SCHEMA, num_shards=1))
    path = prefix + "-00000-of-00001.parquet"
    table = pq.read_table(path)
    assert table.schema.equals(SCHEMA, check_metadata=False)
    assert sorted(table.column("name").to_pylist()) == sorted(["name 0", "name 7", "name 4999", "a,b", "c", "a,b",
                                                               "a,b", "c", "a,b"])
    metadata = pq.ParquetFile(path).metadata
    assert metadata.schema.to_arrow_schema().equals(SCHEMA, check_metadata=False)
    names = metadata.row_group(0).column(0)
    assert names.statistics is None or not names.statistics.has_min_max  # no min/max kept for text
    assert metadata.row_group(0).column(1).statistics.has_min_max


def test_parquet_shards_without_batches_are_empty_files_of_the_schema(tmp_path):
    prefix = str(tmp_path / "e")
    with TestPipeline() as p:
        _ = create(p) | WriteParquet(prefix, SCHEMA, num_shards=4)
    files = sorted(glob.glob(prefix + "-*"))
    assert len(files) == 4
    tables = [pq.read_table(f) for f in files]
    assert all(t.schema.equals(SCHEMA, check_metadata=False) for t in tables)
    assert sum(t.num_rows for t in tables) == 6


def test_csv_sink_counts_the_bytes_it_writes(tmp_path):
    prefix = str(tmp_path / "c")
    p = TestPipeline()
    _ = create(p) | WriteCsv(prefix, b"name,n\n", num_shards=1, metrics_name="films")
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(beam.metrics.MetricsFilter().with_name("films_csv_bytes"))["counters"]
    body = open(prefix + "-00000-of-00001.csv", "rb").read()[len(b"name,n\n"):]
    assert sum(c.committed for c in counters) == len(body)


def test_coder_estimates_a_batch_size_without_encoding_it():
    batch = batches()[0]
    assert RecordBatchCoder().estimate_size(batch) == batch.nbytes


def test_gzip_csv_is_one_standard_gzip_stream_per_shard_at_the_documented_level(tmp_path):
    import gzip
    import zlib

    from transforms.formats import GZIP_LEVEL

    prefix = str(tmp_path / "g")
    with TestPipeline() as p:
        _ = create(p) | WriteCsv(prefix, b"name,n\n", compression="gzip", num_shards=1)
    raw = open(prefix + "-00000-of-00001.csv.gz", "rb").read()
    text = gzip.decompress(raw).decode()
    assert text.splitlines()[0] == "name,n" and len(text.splitlines()) == 7
    assert raw[:3] == b"\x1f\x8b\x08"  # gzip's magic number, then deflate
    one = zlib.decompressobj(16 + zlib.MAX_WBITS)  # zlib, not the library that wrote it
    assert one.decompress(raw).decode() == text and one.eof and one.unused_data == b""  # one stream, whole
    assert GZIP_LEVEL == 1


def dictionary_encoded(tmp_path, batch) -> list[bool]:
    """Writes ``batch`` as one Parquet file (checked to read back the same) and says, column by column, whether
    the writer dictionary-encoded it."""
    prefix = str(tmp_path / "dictionary")
    with TestPipeline() as p:
        _ = (p | beam.Create([batch]).with_output_types(pa.RecordBatch)
             | WriteParquet(prefix, batch.schema, num_shards=1))
    path = prefix + "-00000-of-00001.parquet"
    assert pq.read_table(path).equals(pa.Table.from_batches([batch]))
    group = pq.ParquetFile(path).metadata.row_group(0)
    return ["RLE_DICTIONARY" in group.column(i).encodings for i in range(batch.num_columns)]


def test_parquet_dictionary_encodes_numbers_with_few_values_only(tmp_path):
    import numpy as np

    n = 20_000
    rng = np.random.default_rng(1)
    schema = pa.schema([pa.field("score", pa.int64(), nullable=False), pa.field("x", pa.float64(), nullable=False)])
    batch = pa.RecordBatch.from_arrays([pa.array(rng.integers(300, 851, n)), pa.array(rng.random(n))],
                                       schema=schema)
    assert dictionary_encoded(tmp_path, batch) == [True, False]  # 551 distinct scores; 20,000 distinct floats


def test_parquet_dictionary_choice_counts_the_whole_batch_when_its_first_rows_have_few_values(tmp_path):
    import numpy as np

    from transforms.formats import _FEW_VALUES

    head = 4 * _FEW_VALUES  # the rows the quick first look counts
    n = head + 20_000
    rng = np.random.default_rng(2)
    # "late": few values in the first rows, then thousands of distinct ones; "steady": few values throughout.
    late = np.concatenate([rng.integers(0, 50, head), rng.integers(1_000, 1_000_000, n - head)])
    schema = pa.schema([pa.field("late", pa.int64(), nullable=False), pa.field("steady", pa.int64(), nullable=False)])
    batch = pa.RecordBatch.from_arrays([pa.array(late), pa.array(rng.integers(0, 50, n))], schema=schema)
    assert dictionary_encoded(tmp_path, batch) == [False, True]


def test_parquet_keeps_no_dictionary_for_text_whose_values_mostly_differ(tmp_path):
    n = 20_000
    schema = pa.schema([pa.field("name", pa.string(), nullable=False), pa.field("city", pa.string(), nullable=False)])
    batch = pa.RecordBatch.from_arrays([pa.array([f"person {i}" for i in range(n)]),
                                        pa.array([f"city {i % 20}" for i in range(n)])], schema=schema)
    assert dictionary_encoded(tmp_path, batch) == [False, True]


def test_parquet_text_dictionary_choice_counts_the_whole_batch_when_its_first_rows_do_not_settle_it(tmp_path):
    from transforms.formats import _FEW_VALUES

    head, n = 4 * _FEW_VALUES, 4 * _FEW_VALUES + 40_000
    # Both have 6,000 values in the first rows, neither few nor nearly all different; then "opens" has a new
    # value in every row (most of the batch differs: no dictionary) and "repeats" the same 6,000 (a dictionary).
    opens = [f"v{i % 6000}" for i in range(head)] + [f"new {i}" for i in range(n - head)]
    schema = pa.schema([pa.field("opens", pa.string(), nullable=False),
                        pa.field("repeats", pa.string(), nullable=False)])
    batch = pa.RecordBatch.from_arrays([pa.array(opens), pa.array([f"v{i % 6000}" for i in range(n)])],
                                       schema=schema)
    assert dictionary_encoded(tmp_path, batch) == [False, True]


def test_sinks_make_no_folder_and_write_nothing_once_the_run_is_being_stopped(tmp_path):
    import pytest

    from transforms.sinks import STOP_WRITING, WritingStopped, _CsvSink, _ParquetSink

    sinks = [_CsvSink(str(tmp_path / "c" / "c"), b"h\n", ".csv", 0, "none", None, "m"),
             _ParquetSink(str(tmp_path / "p" / "p"), SCHEMA, "snappy", 0)]
    opened = sinks[0].open(str(tmp_path / "open.csv"))
    STOP_WRITING.set()
    try:
        for sink in sinks:
            with pytest.raises(WritingStopped):
                sink.initialize_write()
            with pytest.raises(WritingStopped):
                sink.open(str(tmp_path / "later"))
        with pytest.raises(WritingStopped):
            sinks[0].write_record(opened, batches()[0])
    finally:
        STOP_WRITING.clear()
    assert not (tmp_path / "c").exists() and not (tmp_path / "p").exists() and not (tmp_path / "later").exists()


def test_the_dictionary_choice_is_made_once_per_schema_on_a_large_first_batch():
    """Counting distinct values costs a batch's write: files of one schema take the first large batch's choice."""
    import io

    from transforms.formats import parquet_writer

    schema = pa.schema([pa.field("once_label", pa.string(), nullable=False)])
    distinct = pa.RecordBatch.from_arrays([pa.array([f"label {i}" for i in range(20_000)])], schema=schema)
    repeated = pa.RecordBatch.from_arrays([pa.array([f"label {i % 7}" for i in range(20_000)])], schema=schema)
    small = pa.RecordBatch.from_arrays([pa.array(["a", "b"])], schema=schema)

    def encodings(first):
        sink = io.BytesIO()
        with parquet_writer(sink, schema, "snappy", first=first) as writer:
            writer.write_batch(first)
        return pq.ParquetFile(io.BytesIO(sink.getvalue())).metadata.row_group(0).column(0).encodings

    assert "RLE_DICTIONARY" in encodings(small)  # too small to judge: nothing kept for the schema
    assert "RLE_DICTIONARY" not in encodings(distinct)  # mostly distinct: no dictionary, kept
    assert "RLE_DICTIONARY" not in encodings(repeated)  # the same choice, not counted again


def test_parquet_files_dictionary_encode_the_columns_they_are_given_whatever_their_first_batch(tmp_path):
    # Given the columns, every file is written alike, whichever batch reaches its process first.
    n = 20_000
    schema = pa.schema([pa.field("name", pa.string(), nullable=False), pa.field("city", pa.string(), nullable=False),
                        pa.field("score", pa.int64(), nullable=False)])
    batch = pa.RecordBatch.from_arrays([pa.array([f"person {i}" for i in range(n)]),
                                        pa.array([f"city {i % 20}" for i in range(n)]),
                                        pa.array([i % 50 for i in range(n)])], schema=schema)
    prefix = str(tmp_path / "given")
    with TestPipeline() as p:
        _ = (p | beam.Create([batch]).with_output_types(pa.RecordBatch)
             | WriteParquet(prefix, schema, num_shards=1, dictionary=("name",)))
    path = prefix + "-00000-of-00001.parquet"
    assert pq.read_table(path).equals(pa.Table.from_batches([batch]))
    group = pq.ParquetFile(path).metadata.row_group(0)
    assert ["RLE_DICTIONARY" in group.column(i).encodings for i in range(3)] == [True, False, False]


def test_a_generated_datasets_dictionary_columns_are_chosen_on_its_first_rows_in_any_process():
    import subprocess
    import sys

    from datagen.engine import builtin_generator
    from transforms.formats import DICTIONARY_SAMPLE_ROWS, dictionary_columns, generated_dictionary, parquet_ready

    gen = builtin_generator("films")
    chosen = generated_dictionary(gen, 42, 300_000)
    first = parquet_ready(gen.batch(42, 0, DICTIONARY_SAMPLE_ROWS), gen.schema.arrow_schema)
    assert chosen == dictionary_columns(first) and "genre" in chosen and "title" not in chosen
    later = parquet_ready(gen.batch(42, 100_000, 131_072), gen.schema.arrow_schema)  # another shard's first block
    assert generated_dictionary(gen, 42, 300_000, sample=later) == chosen  # made once: the dataset's, kept
    code = ("from datagen.engine import builtin_generator\nfrom transforms.formats import generated_dictionary\n"
            "print(','.join(generated_dictionary(builtin_generator('films'), 42, 300_000)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ",".join(chosen)  # a fresh process: the same choice


def test_ndjson_shards_hold_one_object_a_line_and_count_their_bytes(tmp_path):
    import gzip
    import json

    from transforms.sinks import WriteNdjson

    p = TestPipeline()
    made = create(p)
    _ = made | WriteNdjson(str(tmp_path / "j" / "j"), num_shards=2, metrics_name="films")
    _ = made | "Gzip" >> WriteNdjson(str(tmp_path / "z" / "z"), compression="gzip", num_shards=1)
    result = p.run()
    result.wait_until_finish()
    files = sorted(glob.glob(str(tmp_path / "j" / "j-*")))
    assert [os.path.basename(f) for f in files] == ["j-00000-of-00002.json", "j-00001-of-00002.json"]
    text = b"".join(open(f, "rb").read() for f in files)
    rows = [json.loads(line) for line in text.splitlines()]
    assert sorted(rows, key=lambda r: r["n"]) == [{"name": name, "n": n} for name, n in (
        ("a,b", 0), ("c", 1), ("a,b", 2), ("a,b", 10), ("c", 11), ("a,b", 12))]
    counters = result.metrics().query(beam.metrics.MetricsFilter().with_name("films_json_bytes"))["counters"]
    assert sum(c.committed for c in counters) == len(text)
    (zipped,) = glob.glob(str(tmp_path / "z" / "z-*"))
    assert zipped.endswith("-00000-of-00001.json.gz") and sorted(gzip.decompress(open(zipped, "rb").read())
                                                                 .splitlines()) == sorted(text.splitlines())
    assert not [d for d in os.listdir(tmp_path / "j") if d.startswith("beam-temp")]
