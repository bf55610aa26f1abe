"""The output formats' facts (transforms/formats.py), which the jobs read before Beam is imported."""

import subprocess
import sys

from transforms.formats import CSV_COMPRESSIONS, PARQUET_CODECS, file_suffix


def test_suffixes():
    assert file_suffix("csv", "none") == ".csv"
    assert file_suffix("csv", "gzip") == ".csv.gz"
    assert file_suffix("parquet", "zstd") == ".parquet"
    assert CSV_COMPRESSIONS[0] == "none" and PARQUET_CODECS[0] == "snappy"  # the defaults come first


def test_importing_it_imports_neither_beam_nor_arrow():
    code = "import sys\nimport transforms.formats\nprint(sorted({'apache_beam', 'pyarrow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
