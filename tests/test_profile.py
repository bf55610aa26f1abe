"""pipelines.profile: every number of the profile equals a direct computation with pyarrow and numpy (CSV, gzip
CSV, Parquet, gs:// through the Storage emulator, types from the schema file or inferred), the page embeds one
decodable PNG per column, generate --profile profiles what it wrote, and bad inputs fail in one line."""

from __future__ import annotations

import base64
import csv
import dataclasses
import glob
import gzip
import io
import json
import math
import re
import subprocess
import sys

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from datagen.stats.columns import NUMBER_KINDS, ORDERED_KINDS, Column
from datagen.stats.distribution import QUANTILE_EPSILON
from datagen.stats.sketches import HLL_RSE, HyperLogLog, hash_numbers, hash_strings
from pipelines import profile_files
from tests.helpers import ROOT, run_cli
from transforms.profiling import TableStatsFn, TopValues
from transforms.table_read import csv_parts, read_part

ROWS = 3000
PNG = b"\x89PNG\r\n\x1a\n"
ARROW_OF = {"INT64": pa.int64(), "FLOAT64": pa.float64(), "NUMERIC": pa.float64(), "DATE": pa.date32(),
            "STRING": pa.string(), "BOOL": pa.bool_(), "TIMESTAMP": pa.timestamp("us", tz="UTC")}


# --- direct computation ---------------------------------------------------------------------------------------

def read_csvs(paths, schema_file=None) -> pa.Table:
    """The files as one table, typed as the schema file says (or as Arrow infers), empty unquoted = NULL."""
    types = None
    if schema_file:
        types = {f["name"]: ARROW_OF[f["type"]] for f in json.loads(open(schema_file).read())}
    options = pacsv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True,
                                   quoted_strings_can_be_null=False)
    return pa.concat_tables([pacsv.read_csv(p, convert_options=options) for p in sorted(paths)])


def numbers(arr, kind) -> np.ndarray:
    arr = arr.drop_null()
    if kind == "date":
        return np.array([(d - __import__("datetime").date(1970, 1, 1)).days for d in arr.to_pylist()], np.int64)
    if kind == "timestamp":
        return arr.cast(pa.int64()).to_numpy()
    values = arr.cast(pa.float64()).to_numpy() if kind != "integer" else arr.to_numpy()
    return values[np.isfinite(values)] if values.dtype.kind == "f" else values


def expected_top(values: list, k: int) -> list[dict]:
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    pairs = sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))
    return [{"value": v, "count": n} for v, n in pairs[:k]]


def assert_rank_within_error(sorted_values: np.ndarray, percent: int, value):
    """Beam's bound: the reported value's rank is within epsilon * N of the exact quantile's."""
    n = len(sorted_values)
    lo = np.searchsorted(sorted_values, value, "left")
    hi = np.searchsorted(sorted_values, value, "right") - 1
    assert hi >= lo, (percent, value)  # a value of the data
    target = percent / 100 * (n - 1)
    distance = 0 if lo <= target <= hi else min(abs(lo - target), abs(hi - target))
    assert distance <= QUANTILE_EPSILON * n + 1, (percent, value, lo, hi, target)


def assert_distinct_estimate(estimate: int, exact: int):
    assert abs(estimate - exact) <= 3 * HLL_RSE * exact + 2, (estimate, exact)


def check_profile(prof: dict, table: pa.Table, files: int):
    """Every number of the profile against the table, computed here with pyarrow and numpy."""
    top_k = prof["settings"]["top_values"]
    max_categories = prof["settings"]["max_categories"]
    assert prof["summary"]["rows"] == table.num_rows
    assert prof["summary"]["columns"] == table.num_columns
    assert prof["summary"]["files"] == files
    assert [c["name"] for c in prof["columns"]] == table.column_names
    categorical = []
    for col in prof["columns"]:
        arr = table.column(col["name"]).combine_chunks()
        kind = col["kind"]
        assert col["count"] == len(arr) - arr.null_count, col["name"]
        assert col["nulls"] == arr.null_count, col["name"]
        present = arr.drop_null().to_pylist()
        distinct = len(set(present))
        assert_distinct_estimate(col["approx_distinct"], distinct)
        if kind in ("integer", "string", "bool") and distinct <= max_categories:
            categorical.append(col["name"])
            assert col["distinct"] == distinct
        if kind in ORDERED_KINDS:
            x = numbers(arr, kind)
            assert col["min"] == x.min() and col["max"] == x.max(), col["name"]
            assert col["mean"] == pytest.approx(x.mean(), rel=1e-9, abs=1e-9), col["name"]
            assert col["std"] == pytest.approx(x.std(), rel=1e-9, abs=1e-9), col["name"]
            s = np.sort(x)
            assert set(col["quantiles"]) >= {"0", "1", "5", "25", "50", "75", "95", "99", "100"}
            assert col["quantiles"]["0"] == s[0] and col["quantiles"]["100"] == s[-1]
            for p, v in col["quantiles"].items():
                assert_rank_within_error(s, int(p), v)
            h = col["histogram"]
            assert h["counts"] == np.histogram(x, bins=np.asarray(h["edges"], dtype=np.float64))[0].tolist()
            assert sum(h["counts"]) == len(x)
        if kind == "string":
            assert col["distinct"] == distinct
            assert col["top_values"] == expected_top(present, top_k), col["name"]
            assert col["empty"] == sum(1 for v in present if v == "")
            lengths = [len(v) for v in present]
            assert (col["length"]["min"], col["length"]["max"]) == (min(lengths), max(lengths))
            assert col["length"]["mean"] == pytest.approx(np.mean(lengths), rel=1e-9)
            with_comma = [v for v in present if "," in v]
            assert col["values_with_comma"] == len(with_comma)
            if with_comma:
                items = [item.strip() for v in present for item in v.split(",")]
                assert col["items"]["count"] == len(items)
                assert col["items"]["distinct"] == len(set(items))
                assert col["items"]["top_values"] == expected_top(items, top_k), col["name"]
            else:
                assert "items" not in col
    assert prof["category_columns"] == categorical
    measures = [c["name"] for c in prof["columns"] if c["kind"] in NUMBER_KINDS]
    pairs = {(p["category"], p["measure"]): p for p in prof["by_category"]}
    assert set(pairs) == {(c, m) for c in categorical for m in measures if m != c}
    for (category, measure), pair in pairs.items():
        keys = table.column(category).combine_chunks()
        values = table.column(measure).combine_chunks().cast(pa.float64())
        seen = {g["value"] for g in pair["groups"]}
        assert seen == set(keys.to_pylist())
        for g in pair["groups"]:
            mask = pc.is_null(keys) if g["value"] is None else pc.fill_null(pc.equal(keys, g["value"]), False)
            assert g["rows"] == pc.sum(mask).as_py()
            x = values.filter(mask).drop_null().to_numpy()
            x = x[np.isfinite(x)]
            assert g["count"] == len(x), (category, measure, g)
            if len(x):
                assert g["mean"] == pytest.approx(x.mean(), rel=1e-9, abs=1e-9), (category, measure, g)
            else:
                assert g["mean"] is None


def images(page: str, attribute: str) -> dict[str, bytes]:
    found = re.findall(rf'<img {attribute}="([^"]+)"[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    out = {}
    for name, data in found:
        assert name not in out, f"two images for {name}"
        out[name] = base64.b64decode(data, validate=True)
    return out


def check_page(page: str, prof: dict):
    import matplotlib.image

    assert page.startswith("<!doctype html>") and "http://" not in page and "https://" not in page
    columns = images(page, "data-column")
    assert set(columns) == {c["name"] for c in prof["columns"]}  # one per column
    pairs = images(page, "data-pair")
    for data in [*columns.values(), *pairs.values()]:
        assert data.startswith(PNG)
        picture = matplotlib.image.imread(io.BytesIO(data), format="png")
        assert picture.shape[0] > 50 and picture.shape[1] > 100
    for category in prof["category_columns"]:
        charted = [p for p in prof["by_category"] if p["category"] == category and not p["measure_looks_like_key"]]
        assert all(f"{category}:{p['measure']}" in pairs for p in charted[:4]), category
    return columns, pairs


def run_profile(*args, env=None):
    return run_cli("pipelines.profile", *args, env=env)


def load(folder) -> tuple[dict, str]:
    return (json.loads((folder / "profile.json").read_text()), (folder / "profile.html").read_text())


# --- generated datasets ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """films and clients, 3,000 rows each in 2 shards, as CSV, gzip CSV, Parquet and NDJSON (the same rows)."""
    out = tmp_path_factory.mktemp("generated")
    for name, extra in (("csv", []), ("gz", ["--compression", "gzip"]), ("parquet", ["--format", "parquet"]),
                        ("json", ["--format", "ndjson"])):
        result = run_cli("pipelines.generate", "--datasets", "films,clients", "--rows", str(ROWS), "--num_shards", "2",
                         "--output", str(out / name), "--no_progress", *extra)
        assert result.returncode == 0, result.stderr
    return out


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["films", "clients"])
def test_profile_numbers_equal_a_direct_computation(generated, tmp_path, dataset):
    folder = generated / "csv" / dataset
    result = run_profile("--input", str(folder / "*.csv"), "--output", str(tmp_path / "p"))
    assert result.returncode == 0, result.stderr
    assert f"{dataset}: {ROWS:,} rows" in result.stdout
    prof, page = load(tmp_path / "p")
    assert prof["dataset"] == dataset and prof["summary"]["schema"].endswith(f"{dataset}.schema.json")
    schema = json.loads((folder / f"{dataset}.schema.json").read_text())
    assert [(c["name"], c["type"]) for c in prof["columns"]] == [(f["name"], f["type"]) for f in schema]
    table = read_csvs(glob.glob(str(folder / "*.csv")), folder / f"{dataset}.schema.json")
    check_profile(prof, table, files=2)
    check_page(page, prof)
    if dataset == "films":  # where a user sees rating by genre
        assert "genre" in prof["category_columns"]
        assert any(p["category"] == "genre" and p["measure"] == "rating_score" for p in prof["by_category"])
        assert 'data-pair="genre:rating_score"' in page
    else:  # comma-joined lists are counted per item too
        assert prof["columns"][4]["name"] == "client_movie_genres" and "items" in prof["columns"][4]


def assert_same(a, b, where="profile"):
    """Equal, floats to 1e-9 (sums merged in another order differ in the last bits)."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def comparable(prof: dict) -> list[dict]:
    """What does not depend on the file format (the quantiles are approximate; the types are named alike)."""
    drop = ("percentiles", "quantiles", "type", "kind")
    return [{k: v for k, v in c.items() if k not in drop} for c in prof["columns"]]


@pytest.mark.slow
def test_gzip_csv_parquet_and_ndjson_inputs_give_the_same_profile(generated, tmp_path):
    profiles = {}
    for name, pattern in (("csv", "*.csv"), ("gz", "*.csv.gz"), ("parquet", "*.parquet"), ("json", "*.json")):
        folder = generated / name / "films"
        result = run_profile("--input", str(folder / pattern), "--output", str(tmp_path / name))
        assert result.returncode == 0, (name, result.stderr)
        prof, page = load(tmp_path / name)
        if name == "parquet":
            table = pa.concat_tables(pq.read_table(p) for p in sorted(glob.glob(str(folder / pattern))))
        elif name == "json":  # read line by line by Python's json, typed by the schema file (not data: *.json)
            schema = pa.schema([(f["name"], ARROW_OF[f["type"]]) for f in json.loads(
                (folder / "films.schema.json").read_text())])
            rows = [json.loads(line) for p in sorted(glob.glob(str(folder / "*-of-*.json"))) for line in open(p)]
            table = pa.Table.from_pylist(rows).cast(schema)
        else:
            table = read_csvs(glob.glob(str(folder / pattern)), folder / "films.schema.json")
        check_profile(prof, table, files=2 if name != "gz" else len(glob.glob(str(folder / pattern))))
        check_page(page, prof)
        profiles[name] = prof
    assert profiles["parquet"]["summary"]["format"] == "parquet" and profiles["json"]["summary"]["format"] == "ndjson"
    assert profiles["json"]["summary"]["schema"].endswith("films.schema.json")  # typed by the schema file
    for name in ("gz", "parquet", "json"):
        assert_same(comparable(profiles["csv"]), comparable(profiles[name]), name)
        assert_same(profiles["csv"]["by_category"], profiles[name]["by_category"], name)


def test_a_gcs_input_and_output(gcs_emulator, tmp_path, monkeypatch):
    for key, value in gcs_emulator.items():
        monkeypatch.setenv(key, value)
    result = run_cli("pipelines.generate", "--datasets", "films", "--rows", "2000", "--num_shards", "2", "--output",
                     "gs://test-bucket/profile-in", "--no_progress", env=gcs_emulator)
    assert result.returncode == 0, result.stderr
    result = run_profile("--input", "gs://test-bucket/profile-in/films", "--output",
                         "gs://test-bucket/profile-out/films", env=gcs_emulator)
    assert result.returncode == 0, result.stderr
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket = storage.Client(project="local-project", credentials=AnonymousCredentials()).bucket("test-bucket")
    names = sorted(b.name for b in bucket.list_blobs(prefix="profile-out/"))
    assert names == ["profile-out/films/profile.html", "profile-out/films/profile.json"]
    for i in range(2):
        name = f"profile-in/films/films-0000{i}-of-00002.csv"
        (tmp_path / name.rsplit("/", 1)[-1]).write_bytes(bucket.blob(name).download_as_bytes())
    (tmp_path / "films.schema.json").write_bytes(bucket.blob("profile-in/films/films.schema.json").download_as_bytes())
    prof = json.loads(bucket.blob("profile-out/films/profile.json").download_as_text())
    assert prof["summary"]["schema"] == "gs://test-bucket/profile-in/films/films.schema.json"
    check_profile(prof, read_csvs(glob.glob(str(tmp_path / "*.csv")), tmp_path / "films.schema.json"), files=2)
    check_page(bucket.blob("profile-out/films/profile.html").download_as_text(), prof)


@pytest.mark.slow
def test_generate_profile_writes_a_profile_per_dataset_that_ingest_ignores(tmp_path):
    from functions.ingest_naming import decide

    out = tmp_path / "out"
    result = run_cli("pipelines.generate", "--datasets", "films,clients", "--rows", "2000", "--output", str(out),
                     "--profile", "--no_progress")
    assert result.returncode == 0, result.stderr
    for dataset in ("films", "clients"):
        folder = out / dataset / "_profile"
        assert sorted(p.name for p in folder.iterdir()) == ["profile.html", "profile.json"]
        prof, page = load(folder)
        assert prof["dataset"] == dataset and prof["summary"]["rows"] == 2000
        assert f"{dataset}: 2,000 rows" in result.stdout
        check_page(page, prof)
        shards = glob.glob(str(out / dataset / "*.csv"))
        check_profile(prof, read_csvs(shards, out / dataset / f"{dataset}.schema.json"), files=len(shards))
        for name in ("profile.json", "profile.html"):  # uploaded beside the shards, never loaded into BigQuery
            decision = decide({"name": f"runs/{dataset}/_profile/{name}", "size": "5000"})
            assert not decision.load, decision
    # the profile job itself reads the dataset's folder without taking the profile for data
    result = run_profile("--input", str(out / "films"), "--output", str(tmp_path / "again"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "again" / "profile.json").read_text())["summary"]["files"] == len(
        glob.glob(str(out / "films" / "*.csv")))


# --- files made here ------------------------------------------------------------------------------------------

MIXED = """id,score,day,flag,tag,tags,note,at
1,2.5,2024-01-03,true,red,"a,b",NA,2024-01-03 10:00:00Z
2,,2024-02-29,false,blue,"b",x,2024-01-04 11:30:00Z
3,nan,,true,,"a,c, b",,2024-01-05 00:00:01Z
4,-1.25,1999-12-31,,red,"",hello,2023-12-31 23:59:59Z
5,1e3,2024-01-03,false,red,"c",NA,
6,0.5,2000-06-15,true,green,"a,b,c",y,2024-06-01 12:00:00Z
"""


@pytest.mark.slow
def test_types_are_inferred_without_a_schema_file_and_nulls_are_only_empty_fields(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part-1.csv").write_text(MIXED)
    result = run_profile("--input", str(tmp_path / "in"), "--output", str(tmp_path / "p"), "--max_categories", "3")
    assert result.returncode == 0, result.stderr
    prof, page = load(tmp_path / "p")
    assert prof["summary"]["schema"].startswith("inferred")
    assert [(c["name"], c["kind"]) for c in prof["columns"]] == [
        ("id", "integer"), ("score", "float"), ("day", "date"), ("flag", "bool"), ("tag", "string"),
        ("tags", "string"), ("note", "string"), ("at", "timestamp")]
    score = prof["columns"][1]
    assert (score["count"], score["nulls"], score["nan"]) == (5, 1, 1)
    note = prof["columns"][6]
    assert note["nulls"] == 1 and {"value": "NA", "count": 2} in note["top_values"]  # 'NA' is text, not NULL
    assert prof["columns"][5]["empty"] == 1
    table = pacsv.read_csv(tmp_path / "in" / "part-1.csv", convert_options=pacsv.ConvertOptions(
        null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False))
    check_profile(prof, table.cast(pa.schema([f.with_type(pa.timestamp("us", tz="UTC")) if f.name == "at" else f
                                              for f in table.schema])), files=1)
    assert prof["category_columns"] == ["flag", "tag"]  # at most 3 values; id has 6
    assert prof["columns"][7]["display"]["min"] == "2023-12-31 23:59:59"
    check_page(page, prof)


def test_integers_past_two_to_the_53_are_profiled_beside_a_category(tmp_path):
    """The per-category means add integers as doubles: one past 2**53 failed the whole profile (a safe cast)."""
    (tmp_path / "in").mkdir()
    big = [2**60 + i for i in range(60)]  # more values than a category column has
    lines = ["big,tag"] + [f"{v},{'ab'[i % 2]}" for i, v in enumerate(big)]
    (tmp_path / "in" / "part-1.csv").write_text("\n".join(lines) + "\n")
    result = run_profile("--input", str(tmp_path / "in"), "--output", str(tmp_path / "p"))
    assert result.returncode == 0, result.stderr
    prof, _ = load(tmp_path / "p")
    column = prof["columns"][0]
    assert (column["kind"], column["min"], column["max"]) == ("integer", big[0], big[-1])
    assert prof["category_columns"] == ["tag"]


def test_csv_byte_ranges_read_every_row_once(tmp_path):
    path = tmp_path / "x.csv"
    rows = [["id", "name", "value"]] + [[str(i), f"n{i % 7},q" if i % 3 else f"n{i}", str(i * 0.25)]
                                        for i in range(800)]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    size = path.stat().st_size
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("value", pa.float64())])
    whole = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={f.name: f.type for f in schema}))
    for split in (1, 17, 97, 1000, 4096, size - 1, size, 10 * size):
        parts = csv_parts(str(path), size, split)
        assert len(parts) == (1 if size <= split else math.ceil(size / split))
        batches = [b for part in parts for b in read_part(part, "csv", schema)]
        assert pa.Table.from_batches(batches, schema).equals(whole.cast(schema)), split


def test_ndjson_byte_ranges_read_every_row_once(tmp_path):
    """Lines of JSON in byte ranges, as a large uncompressed file is read: every row once, in any split."""
    from transforms.formats import line_parts
    from transforms.formats.ndjson import record_batch_to_ndjson

    batch = pa.RecordBatch.from_pydict({
        "id": pa.array(range(800), pa.int64()),
        "name": pa.array([f'n{i % 7},"q"\n' if i % 3 else f"n{i}" for i in range(800)]),
        "value": pa.array([i * 0.25 if i % 5 else None for i in range(800)]),
        "tags": pa.array([[f"t{i % 3}"] * (i % 4) for i in range(800)], pa.list_(pa.string()))})
    path = tmp_path / "x.json"
    path.write_bytes(bytes(record_batch_to_ndjson(batch)))
    size = path.stat().st_size
    whole = pa.Table.from_batches([batch])
    for split in (1, 17, 97, 1000, 4096, size - 1, size, 10 * size):
        parts = line_parts(str(path), size, split)
        assert len(parts) == (1 if size <= split else math.ceil(size / split))
        batches = [b for part in parts for b in read_part(part, "ndjson", batch.schema)]
        assert pa.Table.from_batches(batches, batch.schema).equals(whole), split


@pytest.mark.slow
def test_a_profile_of_byte_ranges_equals_the_whole_files(generated, tmp_path):
    """The same job over many small parts of each file (as Dataflow gets for a large one) gives the same profile."""
    folder = generated / "csv" / "clients"
    whole = profile_files.plan_profile(str(folder / "*.csv"), str(tmp_path / "whole"))
    sizes = [len(open(f, "rb").read()) for f in whole.files]
    split = dataclasses.replace(whole, output=str(tmp_path / "split"),
                                parts=tuple(p for f, s in zip(whole.files, sizes) for p in csv_parts(f, s, 20_000)))
    assert len(split.parts) > 10
    profile_files.build_pipeline([whole, dataclasses.replace(split, name="clients_split")]).run().wait_until_finish()
    a, _ = load(tmp_path / "whole")
    b, _ = load(tmp_path / "split")
    approximate = ("percentiles", "quantiles")  # ApproximateQuantiles' answer may depend on the input's order
    assert_same([{k: v for k, v in c.items() if k not in approximate} for c in a["columns"]],
                [{k: v for k, v in c.items() if k not in approximate} for c in b["columns"]])
    table = read_csvs(whole.files, folder / "clients.schema.json")
    check_profile(b, table, files=2)
    assert_same(a["by_category"], b["by_category"])


# --- the combine logic in Beam --------------------------------------------------------------------------------

def _batches():
    rng = np.random.default_rng(7)
    out = []
    for n in (1, 500, 1200, 37):
        x = rng.normal(5, 2, n)
        x[rng.random(n) < 0.05] = np.nan
        out.append(pa.record_batch({
            "x": pa.array(x, mask=rng.random(n) < 0.1),
            "k": pa.array(rng.choice(["a", "b", "c,d", "e"], n), mask=rng.random(n) < 0.05),
            "n": pa.array(rng.integers(-50, 50, n)),
        }))
    return out


COLUMNS = (Column("x", "float"), Column("k", "string"), Column("n", "integer"))


def test_table_stats_combine_globally_equals_numpy():
    batches = _batches()
    table = pa.Table.from_batches(batches)
    x = table.column("x").drop_null().to_numpy()
    finite = x[np.isfinite(x)]
    n = table.column("n").to_numpy()

    def matches(results):
        (stats,) = results
        assert stats.rows == table.num_rows and stats.batches == len(batches)
        sx, sk, sn = (stats.columns[c] for c in ("x", "k", "n"))
        assert (sx.count, sx.nulls, sx.nan) == (len(x), table.column("x").null_count, int(np.isnan(x).sum()))
        assert sx.moments.n == len(finite)
        assert sx.moments.mean == pytest.approx(finite.mean(), rel=1e-12)
        assert sx.moments.std == pytest.approx(finite.std(), rel=1e-12)
        assert (sx.moments.min, sx.moments.max) == (finite.min(), finite.max())
        assert sx.categories is None  # floats are never categories
        keys = table.column("k").to_pylist()
        assert sk.categories == {v: keys.count(v) for v in set(keys)}  # NULL counted as a value of its own
        assert sn.categories is None  # 100 values > 50
        assert sn.moments.mean == pytest.approx(n.mean(), rel=1e-12) and sn.moments.min == n.min()
        for value, (count, total) in sk.groups["x"].items():
            vals = np.array([v for v, kk in zip(table.column("x").to_pylist(), keys) if kk == value and v is not None
                             and math.isfinite(v)])
            assert count == len(vals) and total == pytest.approx(vals.sum(), rel=1e-12, abs=1e-12)
            assert sk.groups["n"][value][1] == sum(nv for nv, kk in zip(n.tolist(), keys) if kk == value)

    with TestPipeline() as p:
        stats = p | beam.Create(batches, reshuffle=False) | beam.CombineGlobally(TableStatsFn(COLUMNS, 50))
        assert_that(stats, matches)


def test_top_values_per_bucket_and_column_are_exact():
    batches = _batches()
    keys = [v for b in batches for v in b.column("k").to_pylist() if v is not None]
    items = [i for v in keys for i in v.split(",")]
    with TestPipeline() as p:
        top = p | beam.Create(batches, reshuffle=False) | TopValues(["k"], top=3, buckets=4)
        assert_that(top, equal_to([("k", {
            "values": {"distinct": len(set(keys)), "total": len(keys),
                       "top": [(d["value"], d["count"]) for d in expected_top(keys, 3)]},
            "items": {"distinct": len(set(items)), "total": len(items),
                      "top": [(d["value"], d["count"]) for d in expected_top(items, 3)]}})]))


def test_hyperloglog_merges_and_estimates_within_its_error():
    for n in (0, 1, 10, 1000, 200_000):
        a, b = HyperLogLog(), HyperLogLog()
        values = np.arange(n, dtype=np.int64)
        a.add_hashes(hash_numbers(values[: n // 2]))
        b.add_hashes(hash_numbers(values[n // 3:]))  # overlapping halves
        a.merge(b)
        whole = HyperLogLog()
        whole.add_hashes(hash_numbers(values))
        assert np.array_equal(a.registers, whole.registers)
        assert abs(whole.estimate() - n) <= 3 * HLL_RSE * n + 0.5, (n, whole.estimate())
    words = pa.array([f"w{i}" for i in range(5000)] + ["", "é", "a,b"])
    assert len(np.unique(hash_strings(words))) == len(words)
    assert np.array_equal(hash_strings(words.slice(10, 20)), hash_strings(words)[10:30])


def test_the_statistics_and_the_report_are_plain_python():
    """datagen.stats merges parts of a table in any order into the statistics the Beam transforms make, and
    datagen.report builds and draws a profile from them; neither imports Beam."""
    from datagen.report.page import render_html
    from datagen.report.profile import ProfilePlan, build_profile
    from datagen.stats.distribution import add_counts, histogram_counts
    from datagen.stats.table import TableStats
    from datagen.stats.top_values import BucketCounts, merge_tops, value_count_pieces

    batches = _batches()
    parts = []
    for part in (batches[:2], batches[2:]):
        stats = TableStats(COLUMNS, 50)
        for b in part:
            stats.add_batch(b)
        parts.append(stats)
    whole, backwards = TableStats(COLUMNS, 50), TableStats(COLUMNS, 50)
    for stats in parts:
        whole.merge(stats)
    for stats in reversed(parts):
        backwards.merge(stats)
    for name in ("x", "k", "n"):
        a, b = whole.columns[name], backwards.columns[name]
        assert (a.count, a.nulls, a.categories, a.hll.estimate()) == (b.count, b.nulls, b.categories, b.hll.estimate())
    buckets = {}
    for b in batches:
        for key, piece in value_count_pieces(b, ["k"], 4):
            buckets.setdefault(key, BucketCounts()).add(piece)
    tops = merge_tops([acc.summaries(3) for acc in buckets.values()], 3)
    keys = [v for b in batches for v in b.column("k").to_pylist() if v is not None]
    assert tops["values"]["top"] == [(d["value"], d["count"]) for d in expected_top(keys, 3)]
    ordered = [c for c in COLUMNS if c.kind in ORDERED_KINDS]
    counts = {}
    for b in batches:
        for c in histogram_counts(b, whole, ordered, 10):
            add_counts(counts, c)
    plan = ProfilePlan("t", "in", "out", "parquet", pa.schema([]), COLUMNS, ("in/t.parquet",), bins=10, top_values=3)
    prof = build_profile(plan, whole, {}, {"k": tops}, {n: c.tolist() for n, c in counts.items()})
    assert prof["summary"]["rows"] == sum(b.num_rows for b in batches) and prof["columns"][1]["distinct"] == 4
    assert sum(prof["columns"][0]["histogram"]["counts"]) == whole.columns["x"].moments.n
    check_page(render_html(prof), prof)
    code = ("import sys; import datagen.report.page, datagen.report.profile, datagen.stats.distribution, "
            "datagen.stats.table, datagen.stats.top_values; print('apache_beam' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert (done.returncode, done.stdout) == (0, "False\n"), done.stderr


# --- bad inputs -----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_bad_inputs_are_one_line_and_write_nothing(generated, tmp_path):
    bad = tmp_path / "bad"
    for sub in ("gz", "parquet", "mixed", "headers", "typed", "deep", "done", "json", "jsonmixed", "jsontyped"):
        (bad / sub).mkdir(parents=True)
    (bad / "gz" / "x.csv.gz").write_text("id,name\n1,a\n")  # not gzip
    (bad / "parquet" / "x.parquet").write_bytes(b"PAR1" + bytes(range(256)) * 8)
    films = sorted(glob.glob(str(generated / "csv" / "films" / "*.csv")))
    (bad / "mixed" / "a.csv").write_text(open(films[0]).read())
    pq.write_table(pa.table({"a": [1]}), bad / "mixed" / "b.parquet")
    (bad / "headers" / "a.csv").write_text("id,name\n1,a\n")
    (bad / "headers" / "b.csv").write_text("id,title\n2,b\n")
    (bad / "typed" / "t-00000-of-00001.csv").write_text("id,amount\n1,2.5\nseven,3\n")
    (bad / "typed" / "t.schema.json").write_text(json.dumps([{"name": "id", "type": "INT64"},
                                                             {"name": "amount", "type": "FLOAT64"}]))
    with gzip.open(bad / "deep" / "d.csv.gz", "wt") as f:  # a bad value past what is checked before the run
        f.write("id,amount\n" + "".join(f"{i},{i / 4}\n" for i in range(300_000)) + "x,1\n")
    (bad / "done" / "profile.json").write_text("{}")
    (bad / "json" / "x.json").write_text("id,name\n1,a\n")  # CSV text named .json
    (bad / "jsonmixed" / "a.json").write_text('{"id": 1}\n')
    (bad / "jsonmixed" / "b.csv").write_text("id\n2\n")
    (bad / "jsontyped" / "t-00000-of-00001.json").write_text('{"id": 1, "amount": 2.5}\n{"id": "seven"}\n')
    (bad / "jsontyped" / "t.schema.json").write_text(json.dumps([{"name": "id", "type": "INT64"},
                                                                 {"name": "amount", "type": "FLOAT64"}]))
    out = tmp_path / "out"
    cases = [
        (["--input", str(bad / "nothing" / "*.csv")], 2, "no .csv, .csv.gz, .parquet, .json or .json.gz file matches"),
        (["--input", str(bad / "json")], 2, "starts with 'id,name': expected newline-delimited JSON"),
        (["--input", str(bad / "jsonmixed")], 2, "holds both CSV"),
        (["--input", str(bad / "jsontyped")], 2, "does not read as the columns' types"),
        (["--input", str(bad / "gz")], 2, "x.csv.gz"),
        (["--input", str(bad / "parquet")], 2, "is not a readable Parquet file"),
        (["--input", str(bad / "mixed")], 2, "holds both CSV"),
        (["--input", str(bad / "headers")], 2, "headers differ"),
        (["--input", str(bad / "typed")], 2, "'seven'"),
        (["--input", str(bad / "deep")], 1, "d.csv.gz"),
        (["--input", str(bad / "headers"), "--bins", "0"], 2, "--bins"),
        (["--input", films[0], "--output", str(bad / "done")], 2, "--overwrite"),
        (["--output", str(out)], 2, "--input"),
    ]
    for args, status, named in cases:
        full = args if "--output" in args else [*args, "--output", str(out)]
        result = run_profile(*full)
        assert result.returncode == status, (args, result.returncode, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, (args, result.stderr)
        assert named in result.stderr, (args, result.stderr)
        assert not out.exists(), args
    assert (bad / "done" / "profile.json").read_text() == "{}"  # an earlier profile is kept without --overwrite


# --- on Dataflow ----------------------------------------------------------------------------------------------

DATAFLOW = ["--runner=DataflowRunner", "--project=my-project", "--region=europe-west1",
            "--temp_location=gs://test-bucket/tmp", "--staging_location=gs://test-bucket/staging"]


def test_on_dataflow_the_job_graph_is_written_and_local_paths_are_refused(offline, generated, tmp_path):
    """As a launcher runs it (--template_location): the graph, with the plan pickled into it, is staged and
    written, and the workers install this project; a local path is refused before anything else."""
    from google.cloud import storage

    bucket = storage.Client(project="local-project").bucket("test-bucket")
    for path in glob.glob(str(generated / "csv" / "films" / "*")):
        bucket.blob(f"df-in/films/{path.rsplit('/', 1)[-1]}").upload_from_filename(path)
    template = tmp_path / "job.json"
    result = run_profile("--input=gs://test-bucket/df-in/films", "--output=gs://test-bucket/df-out/films", *DATAFLOW,
                         f"--template_location={template}", env=offline)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "job graph written to" in result.stdout
    graph = json.loads(template.read_text())
    options = graph["environment"]["sdkPipelineOptions"]["options"]
    assert options["input"] == "gs://test-bucket/df-in/films" and options["output"] == "gs://test-bucket/df-out/films"
    assert not list(bucket.list_blobs(prefix="df-out/"))  # nothing is written before the job runs
    result = run_profile("--input", str(generated / "csv" / "films"), "--output", "gs://test-bucket/x", *DATAFLOW,
                         env=offline)
    assert result.returncode == 2 and "--input" in result.stderr and "gs://" in result.stderr, result.stderr


@pytest.mark.slow
def test_generate_overwrite_removes_a_profile_of_the_shards_it_replaces(tmp_path):
    out = tmp_path / "out"
    first = run_cli("pipelines.generate", "--datasets", "films", "--rows", "2000", "--output", str(out),
                    "--profile", "--no_progress")
    assert first.returncode == 0, first.stderr
    assert (out / "films" / "_profile" / "profile.json").exists()
    again = run_cli("pipelines.generate", "--datasets", "films", "--rows", "3000", "--output", str(out),
                    "--overwrite", "--no_progress")
    assert again.returncode == 0, again.stderr
    assert not (out / "films" / "_profile").exists() or not any((out / "films" / "_profile").iterdir())
