"""The batch writers on their own, in a TestPipeline."""

import glob
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline

from transforms.arrow_coder import RecordBatchCoder
from transforms.sinks import WriteCsv, WriteParquet, file_suffix

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


def test_suffixes():
    assert file_suffix("csv", "none") == ".csv"
    assert file_suffix("csv", "gzip") == ".csv.gz"
    assert file_suffix("parquet", "zstd") == ".parquet"


def test_coder_is_registered_for_record_batches():
    assert isinstance(beam.coders.registry.get_coder(pa.RecordBatch), RecordBatchCoder)
