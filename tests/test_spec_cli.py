"""Datasets from spec files through the real command line: a user's spec with the options every dataset takes,
and every spec error of the issue as one line naming the file, the column and what was expected, exit 2,
nothing written."""

import csv
import glob
import json
import os

import pytest

from tests.helpers import run_cli

BASE = """dataset: orders
columns:
  - name: order_id
    type: int64
    generator: sequence
    start: 1
{extra}"""


def spec_file(tmp_path, extra: str, name: str = "orders.yaml", base: str = BASE) -> str:
    path = tmp_path / name
    path.write_text(base.format(extra=extra))
    return str(path)


BAD = [
    ("quantiles that decrease", """  - name: delay
    generator: quantiles
    values: [3, 1, 5]
""", ["'delay'", "values: expected a list of at least two numbers in increasing order", "[3, 1, 5]"]),
    ("quantiles' probabilities that do not end at 1", """  - name: delay
    generator: quantiles
    values: [1, 2, 5]
    probabilities: [0, 0.5, 0.9]
""", ["'delay'", "probabilities: expected 3 numbers rising from 0 to 1, one per value"]),
    ("a quantile past its numeric type", """  - name: price
    type: numeric(5, 2)
    generator: quantiles
    values: [1, 2, 5000]
""", ["'price'", "values: 5000 does not fit numeric(5, 2)"]),
    ("a generated number that does not fit its numeric type", """  - name: amount
    type: numeric(5, 2)
    generator: normal
    mean: 990
    sd: 50
""", ["'amount'", "does not fit numeric(5, 2)", "clip"]),
    ("an expression past int64", """  - name: big
    type: int64
    generator: expression
    expression: "order_id * 1e19"
""", ["'big'", "does not fit int64", "clip"]),
    ("unknown generator", """  - name: amount
    generator: gaussian
""", ["'amount'", "unknown generator 'gaussian'", "expected one of"]),
    ("unknown column in a template", """  - name: label
    generator: template
    template: "order {order_id} of {frist}"
""", ["'label'", "unknown column 'frist'"]),
    ("unknown column in an expression", """  - name: total
    generator: expression
    expression: "order_id * qty"
""", ["'total'", "unknown column 'qty'"]),
    ("a type that does not fit the generator", """  - name: label
    type: int64
    generator: template
    template: "{order_id}"
""", ["'label'", "type int64 does not fit generator template", "expected string"]),
    ("negative weights", """  - name: channel
    generator: categorical
    values: [web, app]
    weights: [1, -2]
""", ["'channel'", "weights", "0 or more", "-2"]),
    ("weights that do not match the values", """  - name: channel
    generator: categorical
    values: [web, app, phone]
    weights: [1, 2]
""", ["'channel'", "2 weights for 3 values"]),
    ("an unknown vocabulary", """  - name: planet
    generator: categorical
    vocabulary: planets
""", ["'planet'", "unknown vocabulary 'planets'", "last_names"]),
    ("a dependency cycle", """  - name: a
    generator: template
    template: "{b}"
  - name: b
    generator: template
    template: "{a}"
""", ["dependency cycle", "a -> b -> a"]),
    ("a reference to a dataset not in the run", """  - name: client_id
    generator: reference
    dataset: shops
""", ["'client_id'", "'shops'", "not in this run"]),
    ("YAML that does not parse", """  - name: x
    generator: [constant
""", ["not valid YAML", "line"]),
    ("an expression that is not of the grammar", """  - name: total
    generator: expression
    expression: "order_id * (2 +"
""", ["'total'", "expression:"]),
    ("a misspelt key", """  - name: channel
    generator: categorical
    values: [web, app]
    wieghts: [1, 2]
""", ["'channel'", "unknown key 'wieghts'", "weights"]),
    ("a misspelt generator key", """  - name: x
    generater: constant
    value: 1
""", ["'x'", "unknown key 'generater'", "expected one of", "(did you mean 'generator'?)"]),
    ("a misspelt key of the generator", """  - name: amount
    generator: normal
    mean: 10
    sdd: 2
""", ["'amount'", "unknown key 'sdd' for generator normal", "(did you mean 'sd'?)"]),
    ("a column without a generator", """  - name: x
    value: 1
""", ["'x'", "needs 'generator'", "expected one of sequence, constant"]),
    ("a generator that is not a name", """  - name: x
    generator: [constant]
""", ["'x'", "unknown generator ['constant']"]),
    ("parentheses nested thousands deep", f"""  - name: x
    generator: expression
    expression: "{'(' * 3000}1{')' * 3000}"
""", ["'x'", "expression: nested more than 50 levels deep"]),
    ("signs nested thousands deep", f"""  - name: x
    generator: expression
    expression: "{'-(' * 3000}1{')' * 3000}"
""", ["'x'", "expression: nested more than 50 levels deep"]),
    ("a numeric constant with more digits than its type", """  - name: price
    type: numeric(5, 2)
    generator: constant
    value: 12345.67
""", ["'price'", "value: 12345.67 does not fit numeric(5, 2): expected a number from -999.99 to 999.99"]),
    ("a numeric constant that rounds out of its type", """  - name: price
    type: numeric(5, 2)
    generator: constant
    value: 999.996
""", ["'price'", "value: 999.996 does not fit numeric(5, 2)"]),
    ("a numeric value of a categorical out of its type", """  - name: price
    type: numeric(4, 1)
    generator: categorical
    values: {9.5: 1, 1000: 2}
""", ["'price'", "values: 1000 does not fit numeric(4, 1): expected a number from -999.9 to 999.9"]),
    ("a numeric value of a case out of its type", """  - name: kind
    generator: categorical
    values: [a, b]
  - name: price
    type: numeric(3, 0)
    generator: categorical
    by: kind
    cases:
      a: {values: [1, 2]}
      b: {values: [-1000]}
""", ["'price'", "cases: b: values: -1000 does not fit numeric(3, 0): expected a number from -999 to 999"]),
    ("a uniform bound out of a numeric type", """  - name: price
    type: numeric(5, 2)
    generator: uniform
    min: 0
    max: 1000
""", ["'price'", "max: 1000 does not fit numeric(5, 2)"]),
    ("a truncate bound out of a numeric type", """  - name: price
    type: numeric(5, 2)
    generator: lognormal
    median: 20
    sigma: 1
    truncate: [1, 25000]
""", ["'price'", "truncate: 25000 in [1, 25000] does not fit numeric(5, 2)"]),
    ("a clip bound out of a numeric type", """  - name: price
    type: numeric(5, 2)
    generator: normal
    mean: 10
    sd: 5
    clip: [-1000, 100]
""", ["'price'", "clip: -1000 in [-1000, 100] does not fit numeric(5, 2)"]),
    ("an int64 constant out of range", """  - name: n
    type: int64
    generator: constant
    value: 9223372036854775808
""", ["'n'", "value: 9223372036854775808 does not fit int64: expected a whole number from -9223372036854775808 "
      "to 9223372036854775807"]),
    ("an int64 value of a categorical out of range", """  - name: n
    type: int64
    generator: categorical
    values: [1, -9223372036854775809]
""", ["'n'", "values: -9223372036854775809 does not fit int64"]),
    ("an int64 uniform bound out of range", """  - name: n
    type: int64
    generator: uniform
    min: 0
    max: 1.0e+19
""", ["'n'", "max: 1e+19 does not fit int64"]),
    ("an int64 truncate bound out of range", """  - name: n
    type: int64
    generator: normal
    mean: 0
    sd: 1
    truncate: [-1.0e+30, 5]
""", ["'n'", "truncate: -1e+30 in [-1e+30, 5] does not fit int64"]),
    ("a sequence start out of range", """  - name: n
    generator: sequence
    start: 10000000000000000000
""", ["'n'", "start: 10000000000000000000 does not fit int64"]),
    ("a zipf pool beyond int64", """  - name: n
    generator: zipf
    n: 100000000000000000000
""", ["'n'", "n: 100000000000000000000 does not fit int64"]),
    ("a map key that is not of its column's type", """  - name: qty
    type: int64
    generator: uniform
    min: 1
    max: 3
  - name: fee
    generator: expression
    expression: "fee_by[qty]"
    maps:
      fee_by: {"1": 1.5, "2": 2}
""", ["'fee'", "maps: fee_by: '1' is not a value of 'qty': expected a value of type int64"]),
    ("a case that is not of its column's type", """  - name: word
    generator: categorical
    vocabulary: words
  - name: size
    generator: categorical
    by: word
    values: [S, M]
    cases:
      1: [1, 1]
      default: [1, 2]
""", ["'size'", "cases: 1 is not a value of 'word': expected a value of type string (quote it)"]),
    ("a timestamp out of range in UTC", """  - name: at
    type: timestamp
    generator: constant
    value: "0001-01-01 00:00:00+02:00"
""", ["'at'", "value: '0001-01-01 00:00:00+02:00' is out of range in UTC"]),
    ("a map key that is not a value of its column", """  - name: channel
    generator: categorical
    values: [web, app]
  - name: fee
    generator: expression
    expression: "fee_by[channel]"
    maps:
      fee_by: {web: 1.5, shop: 2}
""", ["'fee'", "'shop' is not a value of 'channel'"]),
]


def test_a_long_chain_of_operators_generates(tmp_path):
    """1 + 1 + ... (5,000 terms) is not nesting: it was 'maximum recursion depth exceeded', exit 1."""
    spec = spec_file(tmp_path, f"""  - name: x
    type: int64
    generator: expression
    expression: "{' + '.join(['1'] * 5000)}"
""")
    out = tmp_path / "out"
    result = run_cli("pipelines.generate", "--spec", spec, "--rows", "3", "--output", str(out), "--no_progress")
    assert result.returncode == 0, result.stderr
    with open(glob.glob(f"{out}/orders/*.csv")[0], newline="") as f:
        assert [r["x"] for r in csv.DictReader(f)] == ["5000"] * 3


EVERY_TYPE = {  # a column of each type, by each way of making it
    "s_choice": "{generator: categorical, values: [a, b]}",
    "s_vocabulary": "{generator: categorical, vocabulary: words, filter: lower}",
    "s_items": "{generator: items, values: [x, y, z], count: [1, 3], separator: ';'}",
    "s_constant": "{generator: constant, value: 'say \"hi\", then go'}",
    "i_small": "{type: int64, generator: uniform, min: 1, max: 5}",
    "i_wide": "{type: int64, generator: uniform, min: -9000000000000, max: 9000000000000}",
    "i_constant": "{type: int64, generator: constant, value: 7}",
    "i_key": "{type: int64, generator: sequence, start: 99990000, step: 7919}",
    "i_permutation": "{generator: permutation}",
    "i_nulls": "{type: int64, generator: uniform, min: 1, max: 3, nulls: 0.3}",
    "f_uniform": "{type: float64, generator: uniform, min: 0, max: 1}",
    "f_decimals": "{type: float64, generator: normal, mean: 5, sd: 2, decimals: 2}",
    "f_constant": "{type: float64, generator: constant, value: 2.5}",
    "n_lognormal": "{type: 'numeric(10, 2)', generator: lognormal, median: 20, sigma: 1, truncate: [1, 1000]}",
    "n_constant": "{type: 'numeric(6, 3)', generator: constant, value: 12.5}",
    "b_choice": "{type: bool, generator: categorical, values: [true, false]}",
    "b_expression": "{type: bool, generator: expression, expression: 'i_small > 2'}",
    "b_constant": "{type: bool, generator: constant, value: false}",
    "d_range": "{type: date, generator: date_range, start: 2020-01-01, end: 2024-12-31}",
    "d_constant": "{type: date, generator: constant, value: 2024-01-31}",
    "d_expression": "{type: date, generator: expression, expression: '19000 + i_small'}",
    "t_range": "{type: timestamp, generator: timestamp_range, start: 2024-01-01 00:00:00, end: 2024-02-01 00:00:00}",
    "t_constant": "{type: timestamp, generator: constant, value: 2024-01-31 11:45:00}",
    "t_choice": "{type: timestamp, generator: categorical, values: [2024-01-31 11:45:00, 2024-01-31 11:45:01]}",
    "text": "{generator: template, template: 'id-{i_small}'}",
}


@pytest.mark.parametrize("block_rows", ["1", "1000"])
def test_a_template_writes_every_type_as_the_csv_does(tmp_path, block_rows):
    """Each column in a template reads as its own CSV field: a constant timestamp was written as microseconds
    ('reg 1706701500000000'), and so was any timestamp in a one-row block."""
    columns = "".join(f"  - {{name: {name}, {text[1:]}\n" for name, text in EVERY_TYPE.items())
    templates = "".join(f"  - {{name: in_{name}, generator: template, template: 'reg {{{name}}}'}}\n"
                        for name in EVERY_TYPE)
    spec = spec_file(tmp_path, columns + templates)
    out = tmp_path / "out"
    result = run_cli("pipelines.generate", "--spec", spec, "--rows", "300", "--block_rows", block_rows, "--output",
                     str(out), "--no_progress")
    assert result.returncode == 0, result.stderr
    rows = []
    for f in sorted(glob.glob(f"{out}/orders/*.csv")):
        with open(f, newline="") as fh:
            rows.extend(csv.DictReader(fh))
    assert len(rows) == 300
    for name in EVERY_TYPE:
        assert [r[f"in_{name}"] for r in rows] == [f"reg {r[name]}" for r in rows], name
    assert {r["t_constant"] for r in rows} == {"2024-01-31 11:45:00.000000Z"}
    assert {r["in_i_nulls"] for r in rows} >= {"reg ", "reg 1"}  # a null writes nothing


def test_a_misspelt_top_level_key_is_named(tmp_path):
    path = tmp_path / "orders.yaml"
    path.write_text(BASE.format(extra="").replace("columns:", "colums:"))
    result = run_cli("pipelines.generate", "--spec", str(path), "--rows", "10", "--output", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"python -m pipelines.generate: error: {path}: unknown key 'colums': expected "
                                     "one of dataset, description, columns, merge_order, primary_key (did you mean "
                                     "'columns'?)")


@pytest.mark.parametrize("what,extra,named", BAD, ids=[b[0] for b in BAD])
def test_a_spec_error_is_one_line_naming_file_column_and_what_was_expected(tmp_path, what, extra, named):
    spec = spec_file(tmp_path, extra)
    out = tmp_path / "out"
    result = run_cli("pipelines.generate", "--spec", spec, "--rows", "10", "--output", str(out))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and lines[0].startswith("python -m pipelines.generate: error: ")
    assert spec in lines[0]
    for fragment in named:
        assert fragment in lines[0], (fragment, lines[0])
    assert not out.exists()


@pytest.mark.slow
def test_a_missing_spec_file_and_a_dataset_given_twice(tmp_path):
    out = tmp_path / "out"
    result = run_cli("pipelines.generate", "--spec", str(tmp_path / "nope.yaml"), "--rows", "5", "--output", str(out))
    assert result.returncode == 2 and "no such spec file" in result.stderr and "nope.yaml" in result.stderr
    films = spec_file(tmp_path, "", name="films.yaml", base=BASE.replace("dataset: orders", "dataset: films"))
    result = run_cli("pipelines.generate", "--spec", films, "--rows", "5", "--output", str(out))
    assert result.returncode == 0, result.stderr  # a spec alone: the built-ins are not made
    result = run_cli("pipelines.generate", "--spec", films, "--datasets", "films", "--rows", "5", "--output",
                     str(tmp_path / "o2"))
    assert result.returncode == 2 and "'films' is given twice" in result.stderr
    assert not (tmp_path / "o2").exists()


def test_a_spec_is_never_executed_as_code(tmp_path):
    marker = tmp_path / "pwned"
    extra = f"""  - name: x
    generator: expression
    expression: "__import__('os').system('touch {marker}')"
"""
    result = run_cli("pipelines.generate", "--spec", spec_file(tmp_path, extra), "--rows", "10", "--output",
                     str(tmp_path / "out"))
    assert result.returncode == 2 and "column 'x': expression: unexpected" in result.stderr
    tagged = spec_file(tmp_path, "  - name: y\n    generator: constant\n    value: !!python/object/apply:os.system "
                       f"['touch {marker}']\n", name="tagged.yaml")
    result = run_cli("pipelines.generate", "--spec", tagged, "--rows", "10", "--output", str(tmp_path / "out"))
    assert result.returncode == 2 and "not valid YAML" in result.stderr
    assert not marker.exists()


ORDERS = """  - name: client_id
    type: int64
    generator: reference
    dataset: clients
    column: client_id
    distribution: zipf
  - name: channel
    generator: categorical
    values: {web: 60, app: 35, phone: 5}
  - name: placed
    type: date
    generator: date_range
    start: 2024-01-01
    end: 2024-12-31
  - name: total
    type: numeric(10, 2)
    generator: lognormal
    median: 30
    sigma: 0.7
    truncate: [1, 5000]
"""


@pytest.mark.slow
def test_a_user_spec_with_the_options_every_dataset_takes(tmp_path):
    """--spec with --datasets, --target_size per dataset, --num_shards, --seed, gzip CSV: the files, their schema
    and the references into the parent's keys."""
    spec = spec_file(tmp_path, ORDERS)
    out = tmp_path / "out"
    result = run_cli("pipelines.generate", "--spec", spec, "--datasets", "clients", "--target_size",
                     "orders=3MB,clients=2MB", "--num_shards", "3", "--seed", "11", "--compression", "gzip",
                     "--output", str(out), "--no_progress")
    assert result.returncode == 0, result.stderr
    import gzip

    def read(name):
        files = sorted(glob.glob(f"{out}/{name}/{name}-*-of-00003.csv.gz"))
        assert len(files) == 3, files
        rows = []
        for f in files:
            with gzip.open(f, "rt", newline="") as fh:
                rows.extend(csv.DictReader(fh))
        return files, rows

    files, orders = read("orders")
    written = sum(os.path.getsize(f) for f in files)
    assert abs(written - 3e6) / 3e6 < 0.05
    _, clients = read("clients")
    keys = {int(r["client_id"]) for r in clients}
    assert keys == set(range(1, len(clients) + 1))
    assert all(int(r["client_id"]) in keys for r in orders)  # every order joins back to a client
    assert sorted(int(r["order_id"]) for r in orders) == list(range(1, len(orders) + 1))
    schema = json.loads((out / "orders" / "orders.schema.json").read_text())
    assert [(f["name"], f["type"]) for f in schema] == [
        ("order_id", "INT64"), ("client_id", "INT64"), ("channel", "STRING"), ("placed", "DATE"),
        ("total", "NUMERIC")]
    printed = run_cli("pipelines.contract", "--spec", spec)
    assert printed.returncode == 0 and json.loads(printed.stdout) == schema
    # The same spec in JSON, and the same seed: the same rows.
    import yaml

    as_json = tmp_path / "orders.json"
    as_json.write_text(json.dumps(yaml.safe_load(open(spec).read()), default=str))
    again = run_cli("pipelines.generate", "--spec", str(as_json), "--datasets", "clients", "--target_size",
                    "orders=3MB,clients=2MB", "--num_shards", "3", "--seed", "11", "--compression", "gzip",
                    "--output", str(tmp_path / "again"), "--no_progress")
    assert again.returncode == 0, again.stderr
    out = tmp_path / "again"
    def key(r):
        return int(r["order_id"])

    assert sorted(read("orders")[1], key=key) == sorted(orders, key=key)  # shards may split the rows otherwise


@pytest.mark.slow
def test_a_user_spec_with_references_gives_the_same_rows_whatever_the_running_mode(tmp_path):
    spec = spec_file(tmp_path, ORDERS)
    variants = [
        ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"],
        ["--direct_running_mode", "multi_threading", "--direct_num_workers", "2", "--block_rows", "3000"],
        ["--direct_running_mode", "multi_processing", "--direct_num_workers", "2", "--num_shards", "3"],
    ]
    seen = {"orders": set(), "clients": set()}
    for i, extra in enumerate(variants):
        out = tmp_path / f"v{i}"
        result = run_cli("pipelines.generate", "--spec", spec, "--datasets", "clients", "--rows", "20000",
                         "--output", str(out), "--no_progress", *extra)
        assert result.returncode == 0, result.stderr
        for name in seen:
            rows = []
            for f in sorted(glob.glob(f"{out}/{name}/*.csv")):
                with open(f, newline="") as fh:
                    rows.extend(tuple(r) for r in list(csv.reader(fh))[1:])
            assert len(rows) == 20000
            seen[name].add(hash(tuple(sorted(rows))))
    assert all(len(digests) == 1 for digests in seen.values()), seen


def test_a_generated_number_that_first_fails_to_fit_past_the_plans_sample_stops_the_run_in_one_line(tmp_path):
    """The plan's sample of the first rows fits; row 20,000 does not: the run stops, naming the column, exit 1,
    and leaves nothing at the final path."""
    spec = spec_file(tmp_path, """  - name: big
    type: int64
    generator: expression
    expression: "if(order_id > 20000, order_id * 1e15, order_id)"
""")
    out = tmp_path / "out"
    result = run_cli("pipelines.generate", "--spec", spec, "--rows", "30000", "--block_rows", "10000",
                     "--output", str(out))
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("python -m pipelines.generate: failed: ") and "column 'big'" in lines[-1] \
        and "does not fit int64" in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
    assert glob.glob(str(out / "orders" / "orders-*")) == []
