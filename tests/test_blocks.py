"""datagen.blocks: the one default block size, shared by the command line, the source, seeding and planning."""

import inspect
import subprocess
import sys

from datagen.blocks import DEFAULT_BLOCK_ROWS
from pipelines import generate, sizes
from transforms.source import GenerateDataset, GeneratedRowsSource


def test_every_default_is_this_one():
    request, _ = generate.parse_request(["--datasets", "films", "--rows", "10", "--output", "/tmp/unused"])
    assert request.block_rows == DEFAULT_BLOCK_ROWS
    for callable_ in (GeneratedRowsSource.__init__, GenerateDataset.__init__):
        assert inspect.signature(callable_).parameters["block_rows"].default == DEFAULT_BLOCK_ROWS
    assert inspect.signature(sizes.encoded_bytes_per_row).parameters["block_rows"].default == DEFAULT_BLOCK_ROWS


def test_the_help_shows_it_without_importing_beam_or_arrow():
    code = ("import sys\nfrom pipelines import generate\ntry:\n    generate.run(['--help'])\nexcept SystemExit:\n"
            "    pass\nprint(sorted({'apache_beam', 'pyarrow'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert str(DEFAULT_BLOCK_ROWS) in out and out.strip().endswith("[]"), out[-300:]
