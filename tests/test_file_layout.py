"""functions/file_layout.py: the names the jobs write are the names the function, the claim and the profile read."""

import glob
import re

import pytest

from functions import file_layout as layout
from functions.ingest_config import VARIABLES
from functions.ingest_naming import decide, table_id
from pipelines import generate
from pipelines.outputs import Shards


def test_what_a_run_writes_is_what_the_layout_names(tmp_path):
    out = tmp_path / "out"
    assert generate.run(["--datasets", "films", "--rows", "30", "--num_shards", "3", "--output", str(out),
                         "--no_progress"]) == 0
    prefix = f"{out}/films/films"
    shards = sorted(glob.glob(layout.shard_pattern(prefix, ".csv")))
    assert [p.rsplit("/", 1)[1] for p in shards] == [f"films-0000{i}-of-00003.csv" for i in range(3)]
    assert layout.shard_names(prefix, ".csv") == f"{prefix}-SSSSS-of-NNNNN.csv"
    assert glob.glob(layout.schema_path(prefix)) and sorted(Shards(prefix, ".csv").existing()) == shards
    for path in shards:  # the function loads each into the dataset's table
        name = path.split("/out/", 1)[1]
        assert layout.SHARD_STEM.match(name.rsplit("/", 1)[1][:-4]).group("name") == "films"
        assert table_id(name) == "films" and decide({"name": name, "size": 10}).load
        assert layout.schema_object(name, "films") == "films/films.schema.json"


@pytest.mark.parametrize("path", ["out/films/beam-temp-films-1c2d/part.csv", "x/.temp-beam-7/y.csv",
                                  "a/_temporary/0/b.parquet", "beam-temp-films-1/x"])
def test_temporary_files_of_a_running_job_are_recognised(path):
    assert layout.TEMPORARY.search(path)
    assert layout.temp_folders("out/films/films") == "out/films/beam-temp-films-*"


def test_names_and_google_cloud_rules():
    assert layout.output_name("gs://b/runs/my-run.v2/", "x") == "my_run_v2"
    assert layout.output_name("/", "merged") == "merged"
    assert layout.GCS_URL.match("gs://my-bucket/prefix").group(1) == "my-bucket"
    assert not layout.GCS_URL.match("gs://My_Bucket") and not layout.GCS_URL.match("s3://b")
    assert re.fullmatch(layout.PROJECT_ID, "my-project") and not re.fullmatch(layout.PROJECT_ID, "1project")
    assert VARIABLES["PROJECT_ID"][1] == layout.PROJECT_ID and VARIABLES["BQ_DATASET"][1] == layout.DATASET_ID
