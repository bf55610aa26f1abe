"""Every job on the DataflowRunner: the checks before submitting, and the graph built and serialised with Dataflow
options and a made-up project, without a Google account or network (submitting needs an account). The
DataflowRunner's own job file (staged package, worker image, options) is checked for every job in
tests/test_templates.py, where each job's entry point writes it as a Flex Template launcher has it do."""

from __future__ import annotations

import re

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions
from psycopg2 import sql

from datagen import spec as specs
from pipelines import cli, extract_postgres, generate, merge_files, upload
from tests.helpers import ROOT, run_cli
from transforms.postgres.plan import plan_read

DATAFLOW = ["--runner", "DataflowRunner", "--project", "my-project", "--region", "europe-west1",
            "--temp_location", "gs://my-bucket/tmp"]


def names(pipeline) -> set[str]:
    proto = pipeline.to_runner_api()  # what the runner submits
    return {t.unique_name for t in proto.components.transforms.values()}


def dataflow_options(*extra: str) -> PipelineOptions:
    options = PipelineOptions([*DATAFLOW, *extra])
    cli.check_dataflow(options, {})
    return options


def test_workers_get_the_projects_packages_through_setup_py():
    options = dataflow_options()
    assert options.view_as(SetupOptions).setup_file == str(cli.PROJECT_SETUP)
    assert "requirements.txt" in cli.PROJECT_SETUP.read_text()  # setup.py installs the pinned runtime
    given = dataflow_options("--setup_file", "/elsewhere/setup.py")
    assert given.view_as(SetupOptions).setup_file == "/elsewhere/setup.py"
    image = dataflow_options("--sdk_container_image", "europe-docker.pkg.dev/p/r/ml-dataset-pipeline:1")
    assert image.view_as(SetupOptions).setup_file is None


def test_extract_graph_serialises_without_the_password(pg_schema, offline):
    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.t (id bigint PRIMARY KEY, x float8)")
        cur.execute(f"INSERT INTO {schema}.t SELECT g, g FROM generate_series(1, 100) g")
    plan = plan_read(dsn, sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "t")), "id", 4)
    try:
        pipeline = extract_postgres.build_pipeline(
            dsn, plan, 4, "parquet", "snappy", 0, "gs://my-bucket/out/t/t", dataflow_options(),
            dsn_file="gs://my-bucket/secrets/dsn.txt")
        assert {"Read", "Write"} <= {n.split("/")[0] for n in names(pipeline)}
        assert b"s3cret" not in pipeline.to_runner_api().SerializeToString()
    finally:
        plan.snapshot_conn.close()


@pytest.mark.parametrize("args,named", [
    (["--dsn", "postgresql://u@127.0.0.1/db"], "this machine"),
    (["--dsn", "postgresql://u:s3cret@db.example.com/db"], "--dsn_file"),
    (["--dsn", "postgresql://u@db.example.com/db", "--output", "./local"], "--output"),
    (["--dsn_file", "/tmp/dsn.txt"], "--dsn_file"),
])
def test_extract_on_dataflow_refuses_what_workers_cannot_use(args, named, offline):
    full = ["--table", "t", *DATAFLOW, *args]
    if "--output" not in args:
        full += ["--output", "gs://my-bucket/out/t"]
    result = run_cli("pipelines.extract_postgres", *full, env=offline)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert named in result.stderr and "s3cret" not in result.stderr


# A user's own spec that references a built-in dataset: the documented example (orders whose client_id is a zipf
# reference to clients.client_id, with a timestamp, numerics, a bool and a template with nulls). Also used by
# tests/test_templates.py and tests/test_ingest_e2e.py.
EXAMPLE_SPEC = ROOT / "docs" / "examples" / "orders.yaml"


def orders_spec_text() -> str:
    text = EXAMPLE_SPEC.read_text()
    reference = next(c for c in specs.parse(text).columns if c.generator == "reference")
    assert reference.params["dataset"] == "clients" and reference.params.get("column") == "client_id", reference
    return text


def write_orders_spec(folder) -> str:
    """The orders spec in a file of its own under folder (none of the project's files is there); its path."""
    path = folder / "orders.yaml"
    path.write_text(orders_spec_text())
    return str(path)


def read_sources(proto) -> dict:
    """dataset -> the generated-rows source of each Read in a pipeline proto, unpickled as a worker would."""
    from apache_beam.internal import pickler
    from apache_beam.portability.api import beam_runner_api_pb2

    sources = {}
    for t in proto.components.transforms.values():
        if t.spec.urn == "beam:transform:read:v1":
            source = pickler.loads(beam_runner_api_pb2.ReadPayload.FromString(t.spec.payload).source.payload)
            sources[source.dataset] = source
    return sources


def shard_writers(proto) -> dict:
    """dataset -> the dataset each fixed-shard write of a pipeline proto carries, unpickled as a worker would."""
    from apache_beam.internal import pickler
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    from transforms.shards import _WriteShard

    writers = {}
    for t in proto.components.transforms.values():
        if t.spec.urn == common_urns.primitives.PAR_DO.urn:
            fn = pickler.loads(beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload).do_fn.payload)[0]
            if isinstance(fn, _WriteShard):
                writers.update({d.spec.name: d for d in fn.datasets})
    return writers


@pytest.mark.parametrize("num_shards", ["0", "2"])
def test_generate_graph_with_a_user_spec_serialises_and_carries_the_spec(offline, tmp_path, num_shards):
    path = write_orders_spec(tmp_path)
    rows = 200_000  # more than a block: with --num_shards 0 the runner splits a source
    config, _ = generate.parse_config(["--spec", path, "--datasets", "clients", "--rows", str(rows), "--output",
                                       "gs://my-bucket/gen", "--num_shards", num_shards])
    pipeline = generate.build_pipeline(config, dataflow_options())
    steps = {n.split("/")[0] for n in names(pipeline)}
    (tmp_path / "orders.yaml").unlink()  # the workers have no such file: the graph must carry what it said
    proto = pipeline.to_runner_api()
    assert proto.SerializeToString()
    if num_shards == "0":
        assert {"Generate_clients", "Generate_orders", "Write_clients", "Write_orders"} <= steps
        sources = read_sources(proto)
        orders = sources["orders"]
        batch = next(iter(orders.read(orders.get_range_tracker(0, 500))))  # what a worker reads, the file gone
        assert batch.num_rows == 500
    else:  # each shard is made whole by one worker
        assert "Write_clients_orders" in steps
        sources = shard_writers(proto)
        orders = sources["orders"]
        batch = next(iter(orders.shard_batches(1)))  # rows 100,000 up to the next block boundary, 131,072
        assert batch.num_rows == orders.block_rows - rows // 2
    assert set(sources) == {"clients", "orders"}
    assert orders.spec == specs.parse(orders_spec_text(), path) and orders.rows == rows
    assert orders.run["clients"][1] == rows and orders.run["clients"][0] == specs.builtin("clients")
    assert batch.schema.names == [c.name for c in orders.spec.output_columns]
    client_ids = batch.column("client_id").to_pylist()
    assert min(client_ids) >= 1 and max(client_ids) <= rows


def test_merge_and_upload_graphs_serialise(offline):
    from datagen.contract import FILMS

    files = ["gs://my-bucket/in/films-00000-of-00002.csv", "gs://my-bucket/in/films-00001-of-00002.csv"]
    for fmt in ("csv", "parquet"):
        pipeline = merge_files.build_pipeline(files, ",".join(FILMS.column_names), FILMS, fmt, "none" if fmt ==
                                              "csv" else "snappy", 0, "gs://my-bucket/merged/films/films",
                                              dataflow_options())
        assert {"Files", "Read", "Distinct", "Write"} <= {n.split("/")[0] for n in names(pipeline)}
    pipeline = upload.build_pipeline([(files[0], "gs://other-bucket/x.csv")], dataflow_options())
    assert {"Files", "Spread", "Upload"} <= names(pipeline)


@pytest.mark.parametrize("module,args", [
    ("pipelines.merge_files", ["--input", "./out/films/*.csv", "--output", "gs://my-bucket/m/films"]),
    ("pipelines.merge_files", ["--input", "gs://my-bucket/in/*.csv", "--output", "./merged"]),
    ("pipelines.upload", ["--input", "./out", "--output", "gs://my-bucket/up"]),
    ("pipelines.generate", ["--rows", "10", "--output", "./out"]),
])
def test_local_paths_are_refused_on_dataflow(module, args, offline):
    result = run_cli(module, *args, *DATAFLOW, env=offline)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "gs://" in result.stderr


@pytest.mark.parametrize("missing", ["--project", "--region", "--temp_location"])
def test_what_dataflow_needs_is_named_when_missing(missing, offline):
    i = DATAFLOW.index(missing)
    args = DATAFLOW[:i] + DATAFLOW[i + 2:]
    result = run_cli("pipelines.upload", "--input", "gs://my-bucket/in", "--output", "gs://my-bucket/up", *args,
                     env=offline)
    assert result.returncode == 2 and missing in result.stderr, result.stderr


def test_the_launchers_environment_is_the_pinned_one_the_workers_install():
    """Every runtime requirement is pinned (==), and this environment (the launcher's) has exactly those versions,
    so the workers, which install them from setup.py, run what the launcher ran."""
    from importlib.metadata import requires, version

    from tests.helpers import ROOT

    pins = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    pins = [p for p in pins if p]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==[0-9][0-9A-Za-z.]*", p) for p in pins), pins
    declared = [r for r in requires("ml-dataset-pipeline") if "extra ==" not in r]
    assert sorted(r.replace(" ", "").lower() for r in declared) == sorted(p.lower() for p in pins)
    for pin in pins:
        name, wanted = re.sub(r"\[.*\]", "", pin).split("==")
        assert version(name) == wanted, (name, version(name), wanted)
