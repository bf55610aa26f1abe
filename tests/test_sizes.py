import pytest

from datagen.engine import builtin_generator
from datagen.plan import rows_for_size
from pipelines.sizes import encoded_bytes_per_row, parse_size


@pytest.mark.parametrize("text,expected", [
    ("1.7GB", 1_700_000_000), ("2gb", 2_000_000_000), ("500 MB", 500_000_000), ("2GiB", 2 * 2**30),
    ("10KB", 10_000), (".5TB", 500_000_000_000), ("123B", 123)])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["2XB", "GB", "1.7", "-1GB", "0MB", "1,5GB", ""])
def test_bad_sizes_name_the_value(text):
    with pytest.raises(ValueError, match=repr(text).replace(".", r"\.")):
        parse_size(text)


def test_bytes_per_row_depends_on_format_and_compression():
    csv = encoded_bytes_per_row(builtin_generator("films"), "csv", "none", 42, sample_rows=20_000)
    gz = encoded_bytes_per_row(builtin_generator("films"), "csv", "gzip", 42, sample_rows=20_000)
    parquet = encoded_bytes_per_row(builtin_generator("films"), "parquet", "snappy", 42, sample_rows=20_000)
    assert 55 < csv < 80 and gz < csv / 2 and parquet < csv
    assert rows_for_size(1_000_000, csv) == round(1_000_000 / csv)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_ndjson_bytes_per_row_are_its_encoders_and_its_files_have_no_header(compression):
    import gzip

    from pipelines.sizes import shard_overhead_bytes
    from transforms.formats import gzip_compressor
    from transforms.formats.ndjson import record_batch_to_ndjson

    gen = builtin_generator("films")
    json_bytes = encoded_bytes_per_row(gen, "ndjson", compression, 42, sample_rows=20_000)
    text = bytes(record_batch_to_ndjson(gen.batch(42, 0, 20_000)))
    if compression == "none":
        assert json_bytes == len(text) / 20_000
        assert encoded_bytes_per_row(gen, "csv", "none", 42, sample_rows=20_000) < json_bytes  # the keys
        assert shard_overhead_bytes(gen.schema, "ndjson", "none") == 0
    else:  # as the sink compresses (tests/test_sinks.py)
        c = gzip_compressor()
        zipped = c.compress(text) + c.flush()
        assert json_bytes == len(zipped) / 20_000 and gzip.decompress(zipped) == text
        assert 0 < shard_overhead_bytes(gen.schema, "ndjson", "gzip") < 64  # an empty gzip stream
