"""The format registry (transforms/formats/): each format's facts, which the jobs read before Beam is imported, and
what each format's module defines; a bad --format names the registered formats."""

import importlib
import subprocess
import sys

import pytest

from functions.file_layout import SOURCE_FORMATS as LOADED
from tests.helpers import run_cli
from transforms import formats
from transforms.formats import CSV_COMPRESSIONS, PARQUET_CODECS, file_suffix


def test_suffixes():
    assert file_suffix("csv", "none") == ".csv"
    assert file_suffix("csv", "gzip") == ".csv.gz"
    assert file_suffix("parquet", "zstd") == ".parquet"
    assert file_suffix("ndjson", "none") == ".json" and file_suffix("ndjson", "gzip") == ".json.gz"
    assert CSV_COMPRESSIONS[0] == "none" and PARQUET_CODECS[0] == "snappy"  # the defaults come first
    assert formats.of_path("out/x/X-00000-of-00001.JSON.GZ") is formats.FORMATS["ndjson"]
    assert formats.of_path("a.csv.gz").name == "csv" and formats.of_path("a.txt") is None


@pytest.mark.parametrize("name", formats.names())
def test_every_format_loads_with_the_ingest_chains_source_format_and_defines_its_code(name):
    fmt = formats.get(name)
    assert {LOADED[s] for s in fmt.suffixes.values()} == {fmt.bigquery_format}  # functions/ says, for each suffix
    code = fmt.code()
    for attribute in ("sample_bytes", "overhead_bytes", "parts", "read"):
        assert callable(getattr(code, attribute)), attribute
    module, _, factory = fmt.sink.partition(":")
    assert module == "transforms.sinks" and callable(getattr(importlib.import_module(module), factory))
    if fmt.typed:
        assert callable(code.file_schema)
    else:
        assert callable(code.names) and callable(code.parse) and code.NAMED_BY and isinstance(code.PROFILE_TYPES, dict)
    assert formats.get("ndjson").bigquery_format == "NEWLINE_DELIMITED_JSON"


def test_a_format_whose_suffix_the_chain_does_not_load_is_refused():
    with pytest.raises(ValueError, match="SOURCE_FORMATS"):
        formats.register(formats.Format("xml", "XML", {"none": ".xml"}, "x", "x:y"))
    assert "xml" not in formats.FORMATS
    with pytest.raises(formats.UnknownFormat, match="expected csv, parquet or ndjson, got 'xml'"):
        formats.get("xml")


def test_importing_it_imports_neither_beam_nor_arrow():
    code = ("import sys\nimport transforms.formats as f\nf.get('ndjson').suffix('gzip')\n"
            "print(sorted({'apache_beam', 'pyarrow'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("job,args", [
    ("pipelines.generate", ["--rows", "10"]),
    ("pipelines.extract_postgres", ["--table", "t", "--dsn", "postgresql://x@127.0.0.1:1/x"]),
    ("pipelines.merge_files", ["--input", "nowhere/*.csv"])])
def test_a_bad_format_is_one_line_naming_the_registered_formats(job, args, tmp_path):
    out = tmp_path / "o"
    for bad, expected in (("xml", "--format: expected csv, parquet or ndjson, got 'xml'"),
                          ("json", "--format: expected csv, parquet or ndjson, got 'json'")):
        result = run_cli(job, *args, "--output", str(out), "--format", bad)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [f"python -m {job}: error: {expected}"]
        assert not out.exists()
    result = run_cli(job, *args, "--output", str(out), "--format", "ndjson", "--compression", "zstd")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"python -m {job}: error: --compression: expected one of none, gzip for ndjson, got 'zstd'"]
