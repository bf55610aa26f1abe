"""Flex Templates: metadata.json per job equals the job's options, regexes accept the examples of the README and
docs/ and refuse bad values, the Dockerfile's Beam is the pinned one, and the entry point runs the job."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile

import pytest

from templates import launch, parameters
from tests.helpers import ROOT

JOBS = list(parameters.TITLES)


@pytest.mark.parametrize("job", JOBS)
def test_metadata_parameters_are_exactly_the_jobs_options(job):
    meta = json.loads((ROOT / "templates" / job / "metadata.json").read_text())
    assert (ROOT / "templates" / job / "metadata.json").read_text() == parameters.metadata_text(job)
    assert [p["name"] for p in meta["parameters"]] == list(parameters.declared(job))
    for p in meta["parameters"]:
        assert p["label"] and p["helpText"] and p["regexes"], p
        re.compile(p["regexes"][0])
        # without its gs:// output (and input) a template job cannot start: the console must ask for them
        assert p["isOptional"] is (p["name"] not in ("input", "output")), p
    assert set(parameters.SPEC) == {o for j in JOBS for o in parameters.declared(j)}  # no regex for nothing


@pytest.mark.parametrize("job", JOBS)
def test_every_option_of_the_jobs_command_line_is_a_parameter_of_its_template(job):
    """What `--help` lists, less what only a terminal has (--help, --traceback): an option added to the command
    line outside the job's option classes (upload's --project was) would be missing from its template."""
    from pipelines.cli import JOBS as ALL_JOBS
    from tests.helpers import run_cli

    shown = run_cli(ALL_JOBS[job].module, "--help")
    assert shown.returncode == 0, shown.stderr
    listed = set(re.findall(r"^  --(\w+)", shown.stdout, re.M)) - {"help", "traceback"}
    meta = json.loads((ROOT / "templates" / job / "metadata.json").read_text())
    assert {p["name"] for p in meta["parameters"]} == listed


def test_the_templates_are_the_jobs_of_the_one_list():
    from pipelines.cli import JOBS as ALL_JOBS

    assert tuple(parameters.TITLES) == launch.JOBS == tuple(j for j in ALL_JOBS if ALL_JOBS[j].template)
    assert set(launch.JOBS) <= set(ALL_JOBS) and sorted(p.parent.name for p in ROOT.glob("templates/*/metadata.json")
                                                        ) == sorted(launch.JOBS)


def readme_examples() -> dict[str, list[tuple[str, str]]]:
    """(option, value) pairs of every `python -m pipelines.<job>` command in the code blocks of the README and
    docs/."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    blocks = [block for page in pages for block in page.read_text().split("```")[1::2]]
    text = "\n".join(blocks).replace("\\\n", " ")
    found: dict[str, list[tuple[str, str]]] = {}
    for line in text.splitlines():
        m = re.search(r"python -m pipelines\.(\w+)(.*)", line)
        if not m or m.group(1) not in JOBS or m.group(2).startswith(":"):  # not a command: an error it printed
            continue
        words = shlex.split(m.group(2).split("#")[0])
        for i, word in enumerate(words):
            if word.startswith("--"):
                name, _, value = word[2:].partition("=")
                if not value and i + 1 < len(words) and not words[i + 1].startswith("--"):
                    value = words[i + 1]
                found.setdefault(m.group(1), []).append((name, value or "true"))
    return found


def test_regexes_accept_the_readmes_examples():
    examples = readme_examples()
    assert set(examples) >= {"generate", "extract_postgres", "merge_files", "upload"}
    checked = 0
    for job, pairs in examples.items():
        declared = parameters.declared(job)
        for name, value in pairs:
            if name not in declared:
                continue  # a Beam option (runner, project, ...), not a template parameter
            if name in ("output", "input", "dsn_file", "spec") and not value.startswith("gs://"):
                continue  # a local path: not for a template, whose workers reach gs:// only
            if name == "dsn" and "127.0.0.1" in value:
                value = value.replace("127.0.0.1", "db.internal")
            assert re.match(parameters.SPEC[name][1], value), (job, name, value)
            checked += 1
    assert checked >= 15


BAD = {
    "output": ["./out", "gs://Bad_Bucket/x", "gs://b/x*", "s3://bucket/x"],
    "format": ["xml", "CSV "],
    "compression": ["bz2"],
    "num_shards": ["-1", "two"],
    "overwrite": ["yes"],
    "datasets": ["movies", "films;clients"],
    "spec": ["./orders.yaml", "/tmp/orders.yaml", "s3://bucket/orders.yaml", "gs://test-bucket/specs/*.yaml",
             "gs://Bad_Bucket/orders.yaml"],
    "rows": ["0", "-5", "1e6", "films=", "films=0", "films=10,", "Movies=10"],
    "target_size": ["big", "1.7", "films=", "Movies=1GB", "films=1GB,"],  # any dataset name: specs name them
    "profile": ["maybe"],
    "seed": ["-1", "x"],
    "date_format": ["%Y\n%m"],
    "block_rows": ["0"],
    "dsn": ["postgresql://user:secret@db/x", "host=db password=x", "postgresql://db/x",
            "postgresql://u@db/x?password=secret", "postgresql://u@db/x?sslmode=require&password=s"],
    "dsn_file": ["/tmp/dsn.txt"],
    "table": ["t; DROP TABLE x", 'a"b', "a.b.c"],
    "query": ["DELETE FROM t", "SELECT 1; DROP TABLE t"],
    "partition_column": ["id; x", "1abc"],
    "partitions": ["0", "100000"],
    "lower_bound": ["1'; DROP TABLE t; --"],
    "upper_bound": ["x;y"],
    "consistency": ["strong"],
    "input": ["./out", "/data/*.csv"],
    "dataset": ["movies"],
    "no_progress": ["maybe"],
    "project": ["My Project", "p", "my-project-"],
}


@pytest.mark.parametrize("option", sorted(parameters.SPEC))
def test_regexes_refuse_bad_values(option):
    assert BAD.get(option), f"no bad values listed for {option}"
    for value in BAD[option]:
        assert not re.match(parameters.SPEC[option][1], value), (option, value)


def pinned_beam() -> str:
    return re.search(r'^apache-beam\[gcp\]==([0-9.]+)$', (ROOT / "requirements.txt").read_text(), re.M).group(1)


def test_the_dockerfiles_beam_is_the_pinned_one():
    setup = pinned_beam()
    docker = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BEAM_VERSION=([0-9.]+)$", docker, re.MULTILINE).group(1) == setup
    assert "apache/beam_python3.11_sdk:${BEAM_VERSION}" in docker


def test_booleans_from_the_launcher_become_flags():
    assert launch.job_argv("generate", ["--rows=10", "--overwrite=true", "--no_progress=false"]) == [
        "--rows=10", "--overwrite"]


def test_the_entry_point_runs_the_job(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_JOB", "generate")
    out = tmp_path / "out"
    assert launch.main([f"--output={out}", "--rows=100", "--datasets=films", "--no_progress=true",
                        "--overwrite=false"]) == 0
    assert len(list((out / "films").glob("films-*-of-*.csv"))) >= 1
    monkeypatch.setenv("PIPELINE_JOB", "nothing")
    assert launch.main([]) == 2


def test_every_jobs_options_class_is_registered_with_beam():
    """Beam parses the options of direct subclasses of PipelineOptions only; anything else is 'unparseable'. A job
    registers its classes' views when it makes its options (they are plain classes until then, so that --help
    needs no Beam)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines import cli, extract_postgres, generate, merge_files

    for job in (generate, extract_postgres, merge_files):
        cli.beam_options([], job.OPTIONS)
        for cls in job.OPTIONS:
            assert cli.beam_view(cls) in PipelineOptions.__subclasses__(), cls


# What the Flex Template launcher passes besides the template's parameters: Beam's options, and a
# template_location to which the program writes the job graph that the launcher then submits.
LAUNCHER = ["--runner=DataflowRunner", "--project=my-project", "--region=europe-west1",
            "--temp_location=gs://test-bucket/tmp", "--staging_location=gs://test-bucket/staging"]


def launch_as_dataflow_would(job: str, params: list[str], env: dict, folder):
    """The image's entry point, run the way the launcher runs it, from another folder; (process, job graph)."""
    template = folder / "job_object.json"
    done = subprocess.run([sys.executable, str(ROOT / "templates" / "launch.py"), *LAUNCHER,
                           f"--template_location={template}", *params],
                          capture_output=True, text=True, cwd=folder, timeout=300,
                          env={**os.environ, **env, "PIPELINE_JOB": job})
    return done, (json.loads(template.read_text()) if template.exists() else None)


def put(bucket_path: str, data: bytes):
    from google.cloud import storage

    bucket, _, name = bucket_path.removeprefix("gs://").partition("/")
    storage.Client(project="local-project").bucket(bucket).blob(name).upload_from_string(data)


def staged_package(graph: dict) -> list[str]:
    """The names inside the workflow.tar.gz (setup.py's sdist) that the job's workers install."""
    from google.cloud import storage

    packages = {p["name"]: p["location"] for p in graph["environment"]["workerPools"][0]["packages"]}
    bucket, _, name = packages["workflow.tar.gz"].removeprefix("storage.googleapis.com/").partition("/")
    data = storage.Client(project="local-project").bucket(bucket).blob(name).download_as_bytes()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


def _seed(conn, schema):
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.t (id bigint PRIMARY KEY, x float8)")
        cur.execute(f"INSERT INTO {schema}.t SELECT g, g / 3.0 FROM generate_series(1, 1000) g")


def test_each_template_launch_writes_a_job_graph_and_exits(offline, pg_schema, pg_remote_dsn, tmp_path):
    from datagen.contract import FILMS

    _, schema, conn = pg_schema
    _seed(conn, schema)
    header = ",".join(FILMS.column_names).encode()
    put("gs://test-bucket/in/films-00000-of-00001.csv", header + b"\n")
    beam = pinned_beam()
    params = {
        "generate": ["--output=gs://test-bucket/gen", "--rows=1000", "--overwrite=true", "--no_progress=true"],
        "extract_postgres": [f"--dsn={pg_remote_dsn}", f"--table={schema}.t", "--output=gs://test-bucket/pg/t"],
        "merge_files": ["--input=gs://test-bucket/in/*.csv", "--output=gs://test-bucket/merged/films"],
        "upload": ["--input=gs://test-bucket/in", "--output=gs://test-bucket/copied"],
    }
    for job in JOBS:
        folder = tmp_path / job
        folder.mkdir()
        done, graph = launch_as_dataflow_would(job, params[job], offline, folder)
        assert done.returncode == 0, (job, done.stderr[-3000:])
        assert "job graph written to" in done.stdout and "rows/s" not in done.stdout, (job, done.stdout)
        options = graph["environment"]["sdkPipelineOptions"]["options"]
        assert options["project"] == "my-project" and options["region"] == "europe-west1"
        for param in params[job]:  # the parameters reach the job, as values or as the flag they stand for
            name, _, value = param[2:].partition("=")
            if name == "dsn":
                assert name not in options  # handed to the readers, never recorded with the job's options
                continue
            assert str(options.get(name)).lower() == value.lower() or value == "true" and options.get(name), (
                job, name, options.get(name))
        pool = graph["environment"]["workerPools"][0]
        assert pool["workerHarnessContainerImage"].endswith(f"_sdk:{beam}")  # the workers run the launcher's Beam
        names = staged_package(graph)
        for module in ("pipelines/generate.py", "transforms/postgres/read.py", "datagen/data/",
                       "requirements.txt"):
            assert any(module in n for n in names), (job, module, names[:20])
    assert options  # the loop ran


def test_a_template_launch_reads_postgres_chunk_by_chunk(offline, pg_schema, pg_remote_dsn, tmp_path):
    """The launcher exits once the job is submitted, so no snapshot can be shared from it: asked for, it is a
    one-line error; by default each chunk reads in its own snapshot."""
    _, schema, conn = pg_schema
    _seed(conn, schema)
    args = [f"--dsn={pg_remote_dsn}", f"--table={schema}.t", "--output=gs://test-bucket/pg/t"]
    done, graph = launch_as_dataflow_would("extract_postgres", [*args, "--consistency=snapshot"], offline, tmp_path)
    assert done.returncode == 2 and graph is None, done.stderr
    assert done.stderr.count("\n") == 1 and "--consistency chunk" in done.stderr, done.stderr
    done, graph = launch_as_dataflow_would("extract_postgres", args, offline, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.extract_postgres import _consistency

    template = PipelineOptions(["--template_location=gs://b/t/job_object"])
    assert _consistency(None, template) == "chunk" and _consistency("chunk", template) == "chunk"
    assert _consistency(None, PipelineOptions([])) == "snapshot"
    assert _consistency("chunk", PipelineOptions([])) == "chunk"


def test_cloud_build_makes_one_image_per_job_from_the_dockerfile():
    import yaml

    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    built = {}
    for step in build["steps"]:
        args = step["args"]
        assert args[0] == "build" and args[-1] == "." and step["name"] == "gcr.io/cloud-builders/docker", step
        job = args[args.index("--build-arg") + 1].removeprefix("JOB=")
        built[job] = args[args.index("--tag") + 1]
    assert sorted(built) == sorted(launch.JOBS)
    assert sorted(build["images"]) == sorted(built.values())
    docker = (ROOT / "Dockerfile").read_text()
    assert "ARG JOB=" in docker and "PIPELINE_JOB=${JOB}" in docker
    # the docs build a template for every job, from the image cloudbuild.yaml names for it
    flex = (ROOT / "docs" / "running-at-scale.md").read_text().split("\n## Flex Templates", 1)[1].split("\n## ", 1)[0]
    assert "for job in " + " ".join(launch.JOBS) + "; do" in flex
    for job, image in built.items():
        assert image == "${_REPO}/" + job.replace("_", "-") + ":${_TAG}"


def staged_pipeline(graph: dict):
    """The pipeline proto the job file points to (staged beside the package): the job graph's transforms."""
    from apache_beam.portability.api import beam_runner_api_pb2
    from google.cloud import storage

    bucket, _, name = graph["environment"]["sdkPipelineOptions"]["options"]["pipelineUrl"].removeprefix(
        "gs://").partition("/")
    data = storage.Client(project="local-project").bucket(bucket).blob(name).download_as_bytes()
    return beam_runner_api_pb2.Pipeline.FromString(data)


def test_a_generate_template_launch_carries_a_gcs_spec_in_its_job_graph(offline, tmp_path):
    """The spec parameter names a file in Cloud Storage: the launcher reads it, and the job graph carries its
    content (inside the source of the rows), so workers read no file: here it is deleted before they would."""
    from google.cloud import storage

    from datagen import spec as specs
    from tests.test_dataflow import orders_spec_text, read_sources

    spec_url = "gs://test-bucket/specs/orders.yaml"
    text = orders_spec_text()
    put(spec_url, text.encode())
    # more rows than a block: the runner splits a source (a one-block dataset is written as one shard)
    params = ["--output=gs://test-bucket/gen-spec", "--rows=200000", "--datasets=clients", f"--spec={spec_url}",
              "--overwrite=true", "--no_progress=true"]
    done, graph = launch_as_dataflow_would("generate", params, offline, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "job graph written to" in done.stdout and "orders: 200,000 rows" in done.stderr, (done.stdout, done.stderr)
    assert graph["environment"]["sdkPipelineOptions"]["options"]["spec"] == [spec_url]
    storage.Client(project="local-project").bucket("test-bucket").blob("specs/orders.yaml").delete()
    sources = read_sources(staged_pipeline(graph))
    assert set(sources) == {"clients", "orders"}
    orders = sources["orders"]
    parsed = specs.parse(text, spec_url)
    assert orders.spec == parsed and orders.run["clients"][1] == 200_000
    batch = next(iter(orders.read(orders.get_range_tracker(0, 200))))
    assert batch.num_rows == 200 and batch.schema.names == [c.name for c in parsed.output_columns]
    assert 1 <= min(batch.column("client_id").to_pylist()) <= max(batch.column("client_id").to_pylist()) <= 200_000


def test_a_generate_template_launch_with_a_missing_spec_fails_in_one_line(offline, tmp_path):
    missing = "gs://test-bucket/specs/no-such-spec.yaml"
    done, graph = launch_as_dataflow_would("generate", ["--output=gs://test-bucket/gen-missing", "--rows=10",
                                                        f"--spec={missing}"], offline, tmp_path)
    assert done.returncode == 2 and graph is None, done.stderr[-3000:]
    assert done.stderr.count("\n") == 1 and missing in done.stderr, done.stderr
