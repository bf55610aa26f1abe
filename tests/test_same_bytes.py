"""The bytes a user gets stay the bytes they got: every built-in dataset and the documented example spec, as CSV,
gzip CSV and Parquet, against the sha256 of each file made at the revision named in tests/data/same_bytes.json
(before the engine became a library: issue 27). A change that means to change the data says so and makes the
digests anew, by running this module (``python -m tests.test_same_bytes``) at the new revision."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, run_cli

DIGESTS = ROOT / "tests" / "data" / "same_bytes.json"
# Small, but across several blocks and shards, with the dates and references of every dataset.
RUNS = {
    "builtins-csv": ["--datasets", "films,clients,transactions", "--format", "csv"],
    "builtins-csv-gzip": ["--datasets", "films,clients,transactions", "--format", "csv", "--compression", "gzip"],
    "builtins-parquet": ["--datasets", "films,clients,transactions", "--format", "parquet"],
    "example-spec-parquet": ["--spec", str(ROOT / "docs" / "examples" / "orders.yaml"), "--datasets", "clients",
                             "--format", "parquet"],
    "example-spec-csv-dates": ["--spec", str(ROOT / "docs" / "examples" / "orders.yaml"), "--datasets", "clients",
                               "--format", "csv", "--date_format", "%y/%m/%d", "--seed", "7"],
}
COMMON = ["--rows", "30000", "--num_shards", "3", "--block_rows", "8192", "--no_progress"]


def digests(run: str, folder: Path) -> dict[str, str]:
    done = run_cli("pipelines.generate", *RUNS[run], *COMMON, "--output", str(folder))
    assert done.returncode == 0, done.stderr
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("run", sorted(RUNS))
def test_the_same_seed_and_spec_give_the_same_bytes_as_before(run, tmp_path):
    expected = json.loads(DIGESTS.read_text())["runs"][run]
    assert digests(run, tmp_path / "out") == expected


if __name__ == "__main__":  # makes the digests anew, at this revision
    import subprocess
    import tempfile

    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        made = {run: digests(run, Path(tmp) / run) for run in sorted(RUNS)}
    DIGESTS.write_text(json.dumps({"revision": revision, "runs": made}, indent=1) + "\n")
    print(f"wrote {DIGESTS} at {revision}", file=sys.stderr)
