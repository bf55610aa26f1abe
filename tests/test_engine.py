"""The dataset engine (datagen/engine.py): every generator on small inline specs, nulls, hidden columns, values
drawn per entity, cases, column independence, determinism and the built-in specs' schemas.

Every batch is made on a fixed seed, so the data are always the same: the tolerances below are several standard
errors wide for these sizes and cannot flake."""

from __future__ import annotations

import collections
import datetime
import math

import numpy as np
import pyarrow as pa
import pytest

from datagen import vocabulary
from datagen.contract import from_spec
from datagen.engine import compile_dataset, run_context
from datagen.spec import SpecError, builtin, builtin_names, parse

SEED = 20240601
UTC = datetime.timezone.utc


def spec_text(*columns: str, dataset: str = "t") -> str:
    """A spec's YAML from flow mappings, one a column."""
    return f"dataset: {dataset}\ncolumns:\n" + "".join(f"  - {c}\n" for c in columns)


def make(*columns: str, rows: int = 1000, seed: int = SEED, start: int = 0, dataset: str = "t",
         run: dict | None = None) -> pa.RecordBatch:
    spec = parse(spec_text(*columns, dataset=dataset), "t.yaml")
    return compile_dataset(spec, run).batch(seed, start, start + rows)


def values(batch: pa.RecordBatch, name: str) -> list:
    """A column as Python values (dictionaries decoded, None for nulls)."""
    return batch.column(batch.schema.get_field_index(name)).to_pylist()


def numbers(batch: pa.RecordBatch, name: str) -> np.ndarray:
    column = batch.column(batch.schema.get_field_index(name))
    assert column.null_count == 0
    return column.to_numpy(zero_copy_only=False)


def shares(items) -> dict:
    counts = collections.Counter(items)
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()}


def decoded(column: pa.Array) -> pa.Array:
    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


# --- sequence and constant ---------------------------------------------------------------------------------

def test_sequence_start_and_step():
    b = make("{name: id, generator: sequence, start: 10, step: -3}",
             "{name: n, generator: sequence}", rows=5, start=7)
    assert b.schema.field("id").type == pa.int64()
    assert values(b, "id") == [10 - 3 * i for i in range(7, 12)]
    assert values(b, "n") == list(range(7, 12))


def test_constant_string_int64_date_and_others():
    b = make("{name: s, generator: constant, value: hello}",
             "{name: i, type: int64, generator: constant, value: 42}",
             "{name: d, type: date, generator: constant, value: 2021-03-04}",
             "{name: f, type: float64, generator: constant, value: 2.5}",
             "{name: b, type: bool, generator: constant, value: true}",
             "{name: ts, type: timestamp, generator: constant, value: '2020-05-06 07:08:09'}",
             "{name: x, type: 'numeric(6, 2)', generator: constant, value: 12.34}", rows=50)
    assert values(b, "s") == ["hello"] * 50
    assert values(b, "i") == [42] * 50
    assert values(b, "d") == [datetime.date(2021, 3, 4)] * 50
    assert values(b, "f") == [2.5] * 50
    assert values(b, "b") == [True] * 50
    assert values(b, "ts") == [datetime.datetime(2020, 5, 6, 7, 8, 9, tzinfo=UTC)] * 50
    assert [str(v) for v in values(b, "x")] == ["12.34"] * 50
    types = {f.name: decoded(b.column(i)).type for i, f in enumerate(b.schema)}
    assert types == {"s": pa.string(), "i": pa.int64(), "d": pa.date32(), "f": pa.float64(), "b": pa.bool_(),
                     "ts": pa.timestamp("us", tz="UTC"), "x": pa.decimal128(6, 2)}


def test_values_at_the_edges_of_their_types_are_written_as_given():
    b = make("{name: x, type: 'numeric(5, 2)', generator: constant, value: 999.99}",
             "{name: y, type: 'numeric(5, 2)', generator: categorical, values: [-999.99, 0.5]}",
             "{name: z, type: 'numeric(18, 4)', generator: constant, value: -12345678.9012}",
             "{name: i, type: int64, generator: categorical, values: [-9223372036854775808, 9223372036854775807]}",
             "{name: u, type: 'numeric(5, 2)', generator: uniform, min: -999.99, max: 999.99}",
             "{name: ts, type: timestamp, generator: constant, value: '2024-01-31 13:45:00.25'}", rows=2000)
    assert [str(v) for v in set(values(b, "x"))] == ["999.99"]
    assert sorted(str(v) for v in set(values(b, "y"))) == ["-999.99", "0.50"]
    assert [str(v) for v in set(values(b, "z"))] == ["-12345678.9012"]
    assert set(values(b, "i")) == {-2**63, 2**63 - 1}
    assert all(abs(v) <= 999.99 for v in values(b, "u"))
    # The fraction of a second is kept (it was cut to the second).
    assert set(values(b, "ts")) == {datetime.datetime(2024, 1, 31, 13, 45, 0, 250000, tzinfo=UTC)}


# --- uniform, normal, lognormal ----------------------------------------------------------------------------

def test_uniform_int64_bounds_are_inclusive_and_both_reached():
    b = make("{name: x, type: int64, generator: uniform, min: -3, max: 4}", rows=40_000)
    x = numbers(b, "x")
    assert b.schema.field("x").type == pa.int64()
    assert set(x.tolist()) == set(range(-3, 5))
    counts = np.bincount(x + 3)
    assert counts.min() > 0.9 * 5000 and counts.max() < 1.1 * 5000


def test_uniform_int64_single_value():
    assert set(numbers(make("{name: x, type: int64, generator: uniform, min: 5, max: 5}"), "x")) == {5}


def test_uniform_float64_range():
    x = numbers(make("{name: x, generator: uniform, min: 1.5, max: 2.5}", rows=40_000), "x")
    assert x.dtype == np.float64
    assert x.min() >= 1.5 and x.max() < 2.5
    assert x.min() < 1.501 and x.max() > 2.499
    assert abs(x.mean() - 2.0) < 0.01
    # Evenly spread: each tenth of the range holds about a tenth of the values.
    tenths = np.bincount(np.floor((x - 1.5) * 10).astype(int), minlength=10)
    assert tenths.min() > 3600 and tenths.max() < 4400


def test_normal_mean_and_sd():
    x = numbers(make("{name: x, generator: normal, mean: 50, sd: 10}", rows=100_000), "x")
    assert abs(x.mean() - 50) < 0.2
    assert abs(x.std() - 10) < 0.2
    assert abs(np.median(x) - 50) < 0.2
    # About 68% within one sd, 95% within two.
    assert abs(np.mean(np.abs(x - 50) < 10) - 0.6827) < 0.01
    assert abs(np.mean(np.abs(x - 50) < 20) - 0.9545) < 0.01


def test_normal_truncate_keeps_every_value_in_range():
    b = make("{name: x, generator: normal, mean: 50, sd: 10, truncate: [40, 55]}",
             "{name: i, type: int64, generator: normal, mean: 3, sd: 10, truncate: [1, 5]}", rows=50_000)
    x = numbers(b, "x")
    assert x.min() >= 40 and x.max() <= 55
    assert x.min() < 40.05 and x.max() > 54.95
    # The shape inside the range is still the normal's: more values near the mean than at the edges.
    assert np.mean(np.abs(x - 50) < 1) > np.mean(np.abs(x - 41) < 1)
    i = numbers(b, "i")
    assert b.schema.field("i").type == pa.int64()
    assert set(i.tolist()) == {1, 2, 3, 4, 5}


def test_lognormal_median():
    x = numbers(make("{name: x, generator: lognormal, median: 100, sigma: 0.5}", rows=100_000), "x")
    assert x.min() > 0
    assert abs(np.median(x) / 100 - 1) < 0.01
    assert abs(np.log(x).std() - 0.5) < 0.01
    assert x.mean() > np.median(x)  # skewed right: mean = median * exp(sigma ** 2 / 2)
    assert abs(x.mean() / (100 * math.exp(0.125)) - 1) < 0.01


def test_lognormal_truncate():
    b = make("{name: x, generator: lognormal, median: 100, sigma: 0.8, truncate: [60, 360]}",
             "{name: y, type: int64, generator: lognormal, median: 5, sigma: 2, truncate: [0, 20]}", rows=50_000)
    x = numbers(b, "x")
    assert x.min() >= 60 and x.max() <= 360
    assert x.min() < 61 and x.max() > 350
    y = numbers(b, "y")
    assert y.min() >= 0 and y.max() <= 20


# --- categorical -------------------------------------------------------------------------------------------

def test_categorical_inline_list_is_equally_likely():
    b = make("{name: c, generator: categorical, values: [x, y, z]}", rows=30_000)
    s = shares(values(b, "c"))
    assert set(s) == {"x", "y", "z"}
    assert all(abs(v - 1 / 3) < 0.015 for v in s.values())


def test_categorical_weights_mapping_and_list():
    b = make("{name: m, generator: categorical, values: {a: 70, b: 20, c: 10}}",
             "{name: w, generator: categorical, values: [p, q], weights: [1, 3]}",
             "{name: i, type: int64, generator: categorical, values: {0: 99, 1: 1}}",
             "{name: z, generator: categorical, values: {never: 0, always: 1}}", rows=50_000)
    m = shares(values(b, "m"))
    assert abs(m["a"] - 0.7) < 0.01 and abs(m["b"] - 0.2) < 0.01 and abs(m["c"] - 0.1) < 0.01
    w = shares(values(b, "w"))
    assert abs(w["q"] - 0.75) < 0.01
    assert b.schema.field("i").type == pa.int64()
    i = shares(values(b, "i"))
    assert set(i) == {0, 1} and abs(i[1] - 0.01) < 0.002
    assert set(values(b, "z")) == {"always"}


def test_categorical_other_types():
    b = make("{name: b, type: bool, generator: categorical, values: [true, false], weights: [1, 3]}",
             "{name: d, type: date, generator: categorical, values: [2020-01-01, 2020-02-02]}",
             "{name: f, type: float64, generator: categorical, values: [0.5, 1.5]}", rows=20_000)
    assert b.schema.field("b").type == pa.bool_()
    assert abs(shares(values(b, "b"))[True] - 0.25) < 0.015
    assert set(values(b, "d")) == {datetime.date(2020, 1, 1), datetime.date(2020, 2, 2)}
    assert set(values(b, "f")) == {0.5, 1.5}


def test_categorical_vocabulary():
    names, weights = vocabulary.get("last_names")
    b = make("{name: last, generator: categorical, vocabulary: last_names}", rows=50_000)
    got = values(b, "last")
    assert set(got) <= set(names)
    assert len(set(got)) > 800
    # By frequency: the most common name of the vocabulary is drawn about as often as its weight says.
    top = names[int(np.argmax(weights))]
    assert abs(shares(got)[top] - max(weights) / sum(weights)) < 0.003


def test_categorical_equally_likely_vocabulary():
    words = set(vocabulary.get("words")[0])
    got = values(make("{name: w, generator: categorical, vocabulary: words}", rows=20_000), "w")
    assert set(got) <= words
    assert len(set(got)) > 0.9 * len(words)


@pytest.mark.parametrize("given", ["[words]", "{words: 1}", "7"])
def test_a_vocabulary_is_named_or_a_one_line_error(given):
    # A list or a mapping given as the vocabulary was a TypeError (unhashable) out of the spec's checks.
    with pytest.raises(SpecError, match="column 'w': unknown vocabulary .*: expected one of first_names, "):
        make(f"{{name: w, generator: categorical, vocabulary: {given}}}")


@pytest.mark.parametrize("f, apply", [("lower", str.lower), ("upper", str.upper), ("title", str.title)])
def test_categorical_filters(f, apply):
    plain = make("{name: c, generator: categorical, values: [hello World, FOO bar, mIxEd]}",
                 "{name: last, generator: categorical, vocabulary: last_names}", rows=2000)
    filtered = make(f"{{name: c, generator: categorical, values: [hello World, FOO bar, mIxEd], filter: {f}}}",
                    f"{{name: last, generator: categorical, vocabulary: last_names, filter: {f}}}", rows=2000)
    # The filter changes the text, not which value is drawn.
    assert values(filtered, "c") == [apply(v) for v in values(plain, "c")]
    assert values(filtered, "last") == [apply(v) for v in values(plain, "last")]
    expected = {"lower": {"hello world", "foo bar", "mixed"}, "upper": {"HELLO WORLD", "FOO BAR", "MIXED"},
                "title": {"Hello World", "Foo Bar", "Mixed"}}[f]
    assert set(values(filtered, "c")) == expected


# --- items -------------------------------------------------------------------------------------------------

def split_items(batch, name, separator):
    return [v.split(separator) for v in values(batch, name)]


def test_items_small_list_distinct_counts_and_weights():
    b = make("{name: s, generator: items, values: {a: 8, b: 4, c: 2, d: 1, e: 1}, count: {1: 1, 2: 2, 3: 1}, "
             "separator: '|'}", rows=40_000)
    rows = split_items(b, "s", "|")
    assert all(len(r) == len(set(r)) for r in rows)  # no repeats within a row
    assert all(set(r) <= set("abcde") for r in rows)
    k = shares(len(r) for r in rows)
    assert set(k) == {1, 2, 3}
    assert abs(k[1] - 0.25) < 0.015 and abs(k[2] - 0.5) < 0.015 and abs(k[3] - 0.25) < 0.015
    # The first item is one draw by weight.
    first = shares(r[0] for r in rows)
    for item, w in {"a": 8, "b": 4, "c": 2, "d": 1, "e": 1}.items():
        assert abs(first[item] - w / 16) < 0.015, item
    # The heavier items are in more rows.
    inside = collections.Counter(item for r in rows for item in r)
    assert inside["a"] > inside["b"] > inside["c"] > max(inside["d"], inside["e"])


def test_items_range_of_counts_and_separator():
    b = make("{name: s, generator: items, values: [Red, Green, Blue, Black, White], count: [2, 4], "
             "separator: ', ', filter: lower}", rows=20_000)
    rows = split_items(b, "s", ", ")
    allowed = {"red", "green", "blue", "black", "white"}
    assert all(set(r) <= allowed and len(r) == len(set(r)) for r in rows)
    k = shares(len(r) for r in rows)
    assert set(k) == {2, 3, 4}
    assert all(abs(v - 1 / 3) < 0.015 for v in k.values())
    # Equally likely items: each is in about k / 5 of the rows, 3 / 5 on average.
    inside = shares(item for r in rows for item in r)
    assert all(abs(v - 0.2) < 0.01 for v in inside.values())


def test_items_all_of_a_small_list_is_a_permutation():
    values_ = ["A", "B", "C", "D"]
    b = make("{name: s, generator: items, values: [A, B, C, D], count: 4}", rows=5000)
    rows = split_items(b, "s", ",")
    assert all(sorted(r) == values_ for r in rows)
    orders = collections.Counter(tuple(r) for r in rows)
    assert len(orders) == 24  # every order appears
    assert max(orders.values()) < 2 * 5000 / 24


def test_items_of_a_64_value_list():
    listed = ", ".join(f"v{i}" for i in range(64))
    b = make(f"{{name: s, generator: items, values: [{listed}], count: [60, 64], separator: ' '}}", rows=500)
    rows = split_items(b, "s", " ")
    assert all(len(r) == len(set(r)) and 60 <= len(r) <= 64 for r in rows)
    assert set().union(*map(set, rows)) == {f"v{i}" for i in range(64)}


def test_items_large_list_vocabulary():
    words = set(vocabulary.get("words")[0])
    b = make("{name: title, generator: items, vocabulary: words, count: {2: 30, 3: 45, 4: 25}, separator: ' '}",
             "{name: loud, generator: items, vocabulary: words, count: [2, 4], separator: ' ', filter: upper}",
             rows=30_000)
    rows = split_items(b, "title", " ")
    assert all(set(r) <= words for r in rows)
    assert all(len(r) == len(set(r)) for r in rows)
    k = shares(len(r) for r in rows)
    assert abs(k[2] - 0.30) < 0.015 and abs(k[3] - 0.45) < 0.015 and abs(k[4] - 0.25) < 0.015
    assert len(set().union(*map(set, rows))) > 0.95 * len(words)
    loud = split_items(b, "loud", " ")
    upper = {w.upper() for w in words}
    assert all(set(r) <= upper and len(r) == len(set(r)) and 2 <= len(r) <= 4 for r in loud)


def test_items_large_weighted_list():
    names, weights = vocabulary.get("last_names")
    b = make("{name: s, generator: items, vocabulary: last_names, count: 5}", rows=20_000)
    rows = split_items(b, "s", ",")
    assert all(len(r) == 5 and len(set(r)) == 5 and set(r) <= set(names) for r in rows)
    top = names[int(np.argmax(weights))]
    bottom = names[int(np.argmin(weights))]
    inside = collections.Counter(item for r in rows for item in r)
    assert inside[top] > 10 * max(1, inside[bottom])


def test_items_large_list_with_frequent_repeats_stays_distinct():
    # 100 values, one of them two thirds of the weight: the second and third draws often repeat the first and
    # are drawn again.
    listed = ", ".join(f"v{i}: {200 if i == 0 else 1}" for i in range(100))
    b = make(f"{{name: s, generator: items, values: {{{listed}}}, count: 3}}", rows=20_000)
    rows = split_items(b, "s", ",")
    assert all(len(r) == 3 and len(set(r)) == 3 for r in rows)
    assert all(set(r) <= {f"v{i}" for i in range(100)} for r in rows)
    # v0 is in almost every row.
    assert sum("v0" in r for r in rows) > 0.95 * len(rows)


def test_items_of_a_small_list_are_the_same_drawn_from_prefix_views():
    # From a batch of Items.PREFIX_TABLE_ROWS rows on, a small list's rows are drawn as views of every prefix of
    # every ordering; smaller batches compose each row's pieces. The rows must not depend on which did it.
    from datagen.generators.choices import Items

    spec = parse(spec_text(
        "{name: n, type: int64, generator: categorical, values: {1: 5, 2: 3, 3: 2}, hidden: true}",
        "{name: s, generator: items, values: {Ünïcödé: 3, a: 1, twelve_bytes: 2, 'thirteen bytes': 1, "
        "'a much longer item than the rest': 1}, count: {1: 3, 2: 2, 4: 1, 5: 1}, separator: ' · '}",
        "{name: t, generator: items, values: [x, yy, zzz], count: n, separator: ''}",
        dataset="prefix_views"), "t.yaml")
    rows = Items.PREFIX_TABLE_ROWS + 5_000
    small = [compile_dataset(spec).batch(SEED, a, min(a + 999, rows)) for a in range(0, rows, 999)]
    gen = compile_dataset(spec)
    assert (("s", SEED, "prefixes") in gen.cache) is False  # no batch so far was large enough to build it
    large = gen.batch(SEED, 0, rows)
    assert ("s", SEED, "prefixes") in gen.cache and ("t", SEED, "prefixes") in gen.cache
    again = gen.batch(SEED, 1234, 5678)  # a small batch once the views exist
    for name in ("s", "t"):
        composed = [v for b in small for v in values(b, name)]
        assert values(large, name) == composed, name
        assert values(again, name) == composed[1234:5678], name
    parts = [r.split(" · ") for r in values(large, "s")]
    assert {len(p) for p in parts} == {1, 2, 4, 5} and all(len(set(p)) == len(p) for p in parts)
    assert [len(v) for v in values(large, "t")][:50] != [0] * 50


# --- dates and timestamps ----------------------------------------------------------------------------------

def test_date_range_bounds():
    b = make("{name: d, type: date, generator: date_range, start: 2020-01-01, end: 2020-12-31}", rows=20_000)
    assert b.schema.field("d").type == pa.date32()
    d = values(b, "d")
    assert min(d) == datetime.date(2020, 1, 1) and max(d) == datetime.date(2020, 12, 31)
    assert len(set(d)) == 366
    single = make("{name: d, generator: date_range, start: 2021-05-05, end: 2021-05-05}", rows=100)
    assert set(values(single, "d")) == {datetime.date(2021, 5, 5)}


def test_date_range_growth_makes_later_dates_more_frequent():
    b = make("{name: d, generator: date_range, start: 2020-01-01, end: 2020-12-31, growth: 4}", rows=100_000)
    d = values(b, "d")
    assert min(d) >= datetime.date(2020, 1, 1) and max(d) <= datetime.date(2020, 12, 31)
    months = collections.Counter(v.month for v in d)
    assert all(months[m] < months[m + 1] for m in range(1, 12))
    # Density rising linearly from 1 to 4: December about (3.88 / 1.13) times January.
    assert 3.0 < months[12] / months[1] < 3.9
    flat = collections.Counter(v.month for v in values(
        make("{name: d, generator: date_range, start: 2020-01-01, end: 2020-12-31}", rows=100_000), "d"))
    assert 0.9 < flat[12] / flat[1] < 1.1


def test_timestamp_range_bounds():
    b = make("{name: t, generator: timestamp_range, start: '2020-01-01 00:00:00', end: '2020-01-08 00:00:00'}",
             rows=20_000)
    assert b.schema.field("t").type == pa.timestamp("us", tz="UTC")
    t = values(b, "t")
    start, end = datetime.datetime(2020, 1, 1, tzinfo=UTC), datetime.datetime(2020, 1, 8, tzinfo=UTC)
    assert start <= min(t) < start + datetime.timedelta(minutes=5)
    assert end - datetime.timedelta(minutes=5) < max(t) < end
    days = collections.Counter(v.day for v in t)
    assert sorted(days) == list(range(1, 8))
    assert all(abs(c / 20_000 - 1 / 7) < 0.01 for c in days.values())
    grow = values(make("{name: t, generator: timestamp_range, start: '2020-01-01 00:00:00', "
                       "end: '2020-01-08 00:00:00', growth: 3}", rows=20_000), "t")
    days = collections.Counter(v.day for v in grow)
    assert all(days[d] < days[d + 1] for d in range(1, 7))


HOURLY = [0] * 6 + [1] * 6 + [0] * 6 + [3] * 6  # hours 0-5 and 12-17 never; 18-23 three times 6-11


def test_timestamp_range_hourly_weights():
    b = make(f"{{name: t, generator: timestamp_range, start: '2020-01-01 00:00:00', end: '2020-02-01 00:00:00', "
             f"hourly: {HOURLY}}}", rows=50_000)
    t = values(b, "t")
    assert min(t) >= datetime.datetime(2020, 1, 1, tzinfo=UTC)
    assert max(t) < datetime.datetime(2020, 2, 1, tzinfo=UTC)
    hours = shares(v.hour for v in t)
    assert set(hours) == set(range(6, 12)) | set(range(18, 24))  # hours of weight 0 never appear
    assert all(abs(hours[h] - 1 / 24) < 0.004 for h in range(6, 12))
    assert all(abs(hours[h] - 3 / 24) < 0.006 for h in range(18, 24))
    # Minutes and seconds within the hour are spread evenly.
    assert abs(np.mean([v.minute for v in t]) - 29.5) < 0.5
    assert len({v.day for v in t}) == 31


def test_timestamp_range_hourly_zero_hours_never_appear_with_bounds_inside_a_day():
    b = make(f"{{name: t, generator: timestamp_range, start: '2020-01-01 13:30:00', end: '2020-01-05 03:15:00', "
             f"hourly: {HOURLY}}}", rows=50_000)
    t = values(b, "t")
    assert min(t) >= datetime.datetime(2020, 1, 1, 13, 30, tzinfo=UTC)
    assert max(t) < datetime.datetime(2020, 1, 5, 3, 15, tzinfo=UTC)
    hours = collections.Counter(v.hour for v in t)
    assert not set(hours) & (set(range(0, 6)) | set(range(12, 18))), sorted(hours.items())
    # No value is piled up at one instant (such as at the bounds).
    assert collections.Counter(t).most_common(1)[0][1] < 20


# --- template ----------------------------------------------------------------------------------------------

def test_template_composes_columns_with_filters():
    b = make("{name: first, hidden: true, generator: categorical, values: [ann, Bob, CARL]}",
             "{name: last, hidden: true, generator: categorical, vocabulary: last_names}",
             "{name: name, generator: template, template: '{first|title} {last}'}",
             "{name: mail, generator: template, template: '{first|lower}.{last|lower}@{first|upper}.example'}",
             "{name: both, generator: template, template: '<{name|upper}>'}",
             "{name: f, generator: categorical, values: [ann, Bob, CARL]}", rows=3000, dataset="t")
    assert b.schema.names == ["name", "mail", "both", "f"]
    for name, mail, both in zip(values(b, "name"), values(b, "mail"), values(b, "both")):
        first, last = name.split(" ", 1)
        assert first in ("Ann", "Bob", "Carl")
        assert mail == f"{first.lower()}.{last.lower()}@{first.upper()}.example"
        assert both == f"<{name.upper()}>"
    assert set(values(b, "name")) <= {f"{f} {x}" for f in ("Ann", "Bob", "Carl")
                                      for x in vocabulary.get("last_names")[0]}


def test_template_literal_braces():
    b = make("{name: a, generator: constant, value: V}",
             "{name: t, generator: template, template: 'x{{y}}z {a} {{ {a} }}'}", rows=3)
    assert values(b, "t") == ["x{y}z V { V }"] * 3


def test_template_literal_braces_right_around_a_placeholder():
    # As in Python's str.format: '{{' is a literal '{', then '{a}' the column, then '}}' a literal '}'.
    b = make("{name: a, generator: constant, value: V}",
             "{name: t, generator: template, template: '{{{a}}}'}", rows=3)
    assert values(b, "t") == ["{V}"] * 3


def test_template_null_placeholder_writes_nothing():
    b = make("{name: id, generator: sequence}",
             "{name: num, type: int64, generator: uniform, min: 1950, max: 2007, nulls: 0.5}",
             "{name: sep, generator: categorical, values: [., _], nulls: 0.5}",
             "{name: t, generator: template, template: 'a{sep}b{num}@x'}", rows=4000)
    num, sep, t = values(b, "num"), values(b, "sep"), values(b, "t")
    assert 0.45 < num.count(None) / 4000 < 0.55 and 0.45 < sep.count(None) / 4000 < 0.55
    for n, s, text in zip(num, sep, t):
        assert text == f"a{s or ''}b{'' if n is None else n}@x"
    assert b.column(b.schema.get_field_index("t")).null_count == 0


def test_template_with_numbers_dates_and_another_template():
    b = make("{name: id, generator: sequence, start: -2}",
             "{name: d, type: date, generator: constant, value: 2021-03-04}",
             "{name: code, generator: template, template: 'id-{id}'}",
             "{name: t, generator: template, template: '{code|upper}/{d}/{id}'}", rows=5)
    assert values(b, "code") == ["id--2", "id--1", "id-0", "id-1", "id-2"]
    assert values(b, "t") == [f"ID-{i}/2021-03-04/{i}" for i in range(-2, 3)]


# --- expression --------------------------------------------------------------------------------------------

def test_expression_arithmetic_and_row():
    b = make("{name: a, generator: expression, expression: 'row * 2 + 1'}",
             "{name: b, generator: expression, expression: '(row + 1) ** 2 / 4 - row % 3'}",
             "{name: c, generator: expression, expression: 'a - 2 * row'}", rows=10, start=5)
    rows = range(5, 15)
    assert values(b, "a") == [2.0 * i + 1 for i in rows]
    assert values(b, "b") == pytest.approx([(i + 1) ** 2 / 4 - i % 3 for i in rows])
    assert values(b, "c") == [1.0] * 10


def test_expression_maps_on_categorical_columns():
    b = make("{name: g, generator: categorical, values: [x, y, z]}",
             "{name: cls, type: int64, generator: categorical, values: {0: 1, 1: 1, 2: 1}}",
             "{name: e, generator: expression, expression: 'm[g]', maps: {m: {x: 1.5, y: -2}}}",
             "{name: f, generator: expression, expression: 'shift[cls] * 10 + row', maps: {shift: {1: 5}}}",
             rows=3000)
    expected = {"x": 1.5, "y": -2.0, "z": 0.0}  # unlisted values give 0
    assert values(b, "e") == [expected[g] for g in values(b, "g")]
    assert values(b, "f") == [(50.0 if c == 1 else 0.0) + i for i, c in enumerate(values(b, "cls"))]
    assert set(values(b, "g")) == {"x", "y", "z"} and set(values(b, "cls")) == {0, 1, 2}


def test_expression_functions():
    b = make("{name: a, generator: expression, expression: 'clip(row, 2, 5)'}",
             "{name: b, generator: expression, expression: 'if(row > 3, 10, 20)'}",
             "{name: c, generator: expression, expression: 'min(row, 4) + max(row, 6) + abs(3 - row)'}",
             "{name: d, type: date, generator: constant, value: 2021-03-04}",
             "{name: y, type: int64, generator: expression, expression: 'year(d) * 10000 + month(d) * 100 + "
             "day_of_week(d)'}", rows=10)
    assert values(b, "a") == [2, 2, 2, 3, 4, 5, 5, 5, 5, 5]
    assert values(b, "b") == [20, 20, 20, 20, 10, 10, 10, 10, 10, 10]
    assert values(b, "c") == [min(i, 4) + max(i, 6) + abs(3 - i) for i in range(10)]
    assert values(b, "y") == [20210303] * 10  # 2021-03-04 was a Thursday: Monday is 0


def test_expression_calendar_functions_on_generated_dates():
    b = make("{name: d, generator: date_range, start: 1960-01-01, end: 2030-12-31}",
             "{name: y, type: int64, generator: expression, expression: year(d)}",
             "{name: m, type: int64, generator: expression, expression: month(d)}",
             "{name: w, type: int64, generator: expression, expression: day_of_week(d)}", rows=5000)
    for d, y, m, w in zip(values(b, "d"), values(b, "y"), values(b, "m"), values(b, "w")):
        assert (y, m, w) == (d.year, d.month, d.weekday())


def test_expression_hour_of_a_timestamp():
    b = make("{name: t, generator: timestamp_range, start: '2020-01-01 00:00:00', end: '2021-01-01 00:00:00'}",
             "{name: h, type: int64, generator: expression, expression: hour(t)}",
             "{name: d, type: int64, generator: expression, expression: day_of_week(t)}", rows=20_000)
    for t, h, d in zip(values(b, "t"), values(b, "h"), values(b, "d")):
        assert (h, d) == (t.hour, t.weekday()), t


@pytest.mark.parametrize("day", ["1999-12-31", "2020-01-01", "2023-07-15"])
def test_expression_hour_at_the_start_of_each_hour(day):
    for hour in range(24):
        b = make(f"{{name: t, type: timestamp, generator: constant, value: '{day} {hour:02d}:00:00'}}",
                 "{name: h, type: int64, generator: expression, expression: hour(t)}", rows=1)
        assert values(b, "h") == [hour], f"{day} {hour:02d}:00:00"


def test_expression_random_functions():
    b = make("{name: x, generator: uniform, min: 0, max: 100}",
             "{name: y, generator: expression, expression: 'x + normal(0, 2)'}",
             "{name: u, generator: expression, expression: 'uniform(5, 6)'}",
             "{name: two, generator: expression, expression: 'normal(0, 1) - normal(0, 1)'}", rows=50_000)
    noise = numbers(b, "y") - numbers(b, "x")
    assert abs(noise.mean()) < 0.05 and abs(noise.std() - 2) < 0.05
    u = numbers(b, "u")
    assert u.min() >= 5 and u.max() < 6 and abs(u.mean() - 5.5) < 0.01
    # Two draws of one expression are independent: their difference has sd sqrt(2).
    assert abs(numbers(b, "two").std() - math.sqrt(2)) < 0.03


def test_expression_decimals_clip_and_rounding_to_int64():
    b = make("{name: third, generator: expression, expression: 'row / 3', decimals: 2}",
             "{name: clipped, generator: expression, expression: 'row - 5', clip: [0, 10]}",
             "{name: i, type: int64, generator: expression, expression: 'row / 10 + 0.04'}",
             "{name: neg, type: int64, generator: expression, expression: '-row / 10 - 0.04'}",
             "{name: n, type: 'numeric(8, 3)', generator: expression, expression: 'row / 7'}",
             "{name: even, type: bool, generator: expression, expression: 'row % 2 == 0'}",
             "{name: day, type: date, generator: expression, expression: '18690 + row + 0.5'}", rows=30)
    assert values(b, "third") == [round(i / 3, 2) for i in range(30)]
    assert values(b, "clipped") == [float(min(max(i - 5, 0), 10)) for i in range(30)]
    assert b.schema.field("i").type == pa.int64()
    assert values(b, "i") == [round(i / 10 + 0.04) for i in range(30)]
    assert values(b, "neg") == [round(-i / 10 - 0.04) for i in range(30)]
    assert [str(v) for v in values(b, "n")] == [f"{i / 7:.3f}" for i in range(30)]
    assert values(b, "even") == [i % 2 == 0 for i in range(30)]
    assert values(b, "day") == [datetime.date(2021, 3, 4) + datetime.timedelta(days=i) for i in range(30)]


def test_expression_non_finite_results_are_null():
    b = make("{name: l, generator: expression, expression: 'log(row)'}",
             "{name: d, generator: expression, expression: '1 / (row - 2)'}",
             "{name: s, type: int64, generator: expression, expression: 'sqrt(row - 5)'}",
             "{name: z, generator: expression, expression: '0 / (row - 3)'}", rows=10)
    assert values(b, "l")[0] is None and values(b, "l")[1:] == pytest.approx([math.log(i) for i in range(1, 10)])
    assert [v is None for v in values(b, "d")] == [i == 2 for i in range(10)]
    assert values(b, "s") == [None] * 5 + [round(math.sqrt(i - 5)) for i in range(5, 10)]
    assert [v is None for v in values(b, "z")] == [i == 3 for i in range(10)]
    assert b.schema.field("s").type == pa.int64()


def test_expression_of_a_null_is_null():
    b = make("{name: x, type: int64, generator: uniform, min: 1, max: 9, nulls: 0.3}",
             "{name: g, generator: categorical, values: [a, b], nulls: 0.3}",
             "{name: y, generator: expression, expression: 'x * 2 + m[g]', maps: {m: {a: 100}}}", rows=2000)
    for x, g, y in zip(values(b, "x"), values(b, "g"), values(b, "y")):
        if x is None or g is None:
            assert y is None
        else:
            assert y == x * 2 + (100 if g == "a" else 0)


# --- permutation -------------------------------------------------------------------------------------------

def test_permutation_gives_every_row_a_number_of_its_own_as_short_as_its_row_number():
    spec = parse(spec_text("{name: n, generator: permutation}"), "t.yaml")
    gen = compile_dataset(spec)
    n = 200_000
    got = numbers(gen.batch(SEED, 0, n), "n")
    assert gen.batch(SEED, 0, n).schema.field("n").type == pa.int64()
    # Rows 0-8 take 1-9, rows 9-98 take 10-99, ...: each length's numbers shuffled, none twice.
    for k in range(5):
        assert sorted(got[10 ** k - 1:10 ** (k + 1) - 1]) == list(range(10 ** k, 10 ** (k + 1))), k
    tail = got[99_999:]
    assert len(set(tail.tolist())) == len(tail) and tail.min() >= 100_000 and tail.max() <= 999_999
    assert len(set(got.tolist())) == n
    # Not sequential-looking: neighbours are as far apart as random numbers, and nothing follows the row.
    steps = np.abs(np.diff(tail.astype(np.int64)))
    assert np.mean(steps < 100) < 0.001 and abs(np.corrcoef(tail, np.arange(len(tail)))[0, 1]) < 0.01
    # A function of (seed, dataset, column, row): the same whatever the cut points, another with another seed.
    parts = [numbers(gen.batch(SEED, a, min(n, a + 7919)), "n") for a in range(0, n, 7919)]
    assert np.array_equal(np.concatenate(parts), got)
    assert not np.array_equal(numbers(gen.batch(SEED + 1, 0, n), "n"), got)
    # Far rows too (a Feistel network above 5 digits): distinct, of their row number's length.
    for start in (10 ** 9 - 50, 10 ** 17 - 50):
        far = numbers(gen.batch(SEED, start, start + 100), "n")
        assert len(set(far.tolist())) == 100
        assert [len(str(v)) for v in far] == [len(str(i + 1)) for i in range(start, start + 100)]


def test_permutation_takes_no_keys_and_int64_only():
    with pytest.raises(SpecError, match="unknown key 'start' for generator permutation"):
        parse(spec_text("{name: n, generator: permutation, start: 5}"), "t.yaml")
    with pytest.raises(SpecError, match="type string does not fit generator permutation: expected int64"):
        parse(spec_text("{name: n, type: string, generator: permutation}"), "t.yaml")


# --- reference ---------------------------------------------------------------------------------------------

PARENT = parse(spec_text("{name: key, generator: sequence, start: 100, step: 5}",
                         "{name: label, generator: categorical, values: [x, y]}", dataset="parent"), "p.yaml")


def child(*columns: str, rows: int = 50_000, parent_rows: int = 50) -> pa.RecordBatch:
    spec = parse(spec_text(*columns, dataset="child"), "c.yaml")
    run = run_context([PARENT, spec], {"parent": parent_rows, "child": rows})
    return compile_dataset(spec, run).batch(SEED, 0, rows)


def test_reference_uniform():
    b = child("{name: r, generator: reference, dataset: parent}",
              "{name: k, generator: reference, dataset: parent, column: key}")
    r = numbers(b, "r")
    assert b.schema.field("r").type == pa.int64()
    assert set(r.tolist()) == set(range(50))
    counts = np.bincount(r)
    assert counts.min() > 0.85 * 1000 and counts.max() < 1.15 * 1000
    k = numbers(b, "k")
    assert set(k.tolist()) == {100 + 5 * i for i in range(50)}


def test_reference_zipf_makes_low_ranks_much_more_frequent():
    b = child("{name: z, generator: reference, dataset: parent, distribution: zipf}",
              "{name: z2, generator: reference, dataset: parent, distribution: zipf, exponent: 2, column: key}",
              parent_rows=1000)
    z = numbers(b, "z")
    assert z.min() >= 0 and z.max() < 1000
    counts = np.bincount(z, minlength=1000)
    # Exponent 1: P(rank 0) = log 2 / log 1001 = 0.100; rank 0 about 7 times rank 9, 70 times rank 99.
    assert abs(counts[0] / len(z) - math.log(2) / math.log(1001)) < 0.01
    assert counts[0] > 5 * counts[9] and counts[9] > 5 * counts[99] / 2
    assert counts[:10].sum() > counts[500:].sum()
    z2 = numbers(b, "z2")
    assert set(z2.tolist()) <= {100 + 5 * i for i in range(1000)}
    ranks = np.bincount((z2 - 100) // 5, minlength=1000)
    assert abs(ranks[0] / len(z2) - 0.5) < 0.02  # exponent 2: half the rows on rank 0
    assert ranks[0] > 2.5 * ranks[1] > 0


def test_reference_needs_its_dataset_in_the_run():
    spec = parse(spec_text("{name: r, generator: reference, dataset: parent}", dataset="child"), "c.yaml")
    with pytest.raises(SpecError, match="references dataset 'parent', which is not in this run"):
        compile_dataset(spec, {})
    with pytest.raises(SpecError, match="parent.label is a categorical; expected a sequence column"):
        child("{name: r, generator: reference, dataset: parent, column: label}")


# --- nulls, hidden, per, cases -----------------------------------------------------------------------------

def test_nulls_fraction_on_any_column_keeps_its_type():
    columns = {
        "seq": ("{name: seq, generator: sequence, nulls: 0.25}", pa.int64()),
        "i": ("{name: i, type: int64, generator: uniform, min: 0, max: 9, nulls: 0.25}", pa.int64()),
        "f": ("{name: f, generator: normal, mean: 0, sd: 1, nulls: 0.25}", pa.float64()),
        "c": ("{name: c, generator: categorical, values: [a, b], nulls: 0.25}", pa.string()),
        "k": ("{name: k, generator: constant, value: K, nulls: 0.25}", pa.string()),
        "d": ("{name: d, generator: date_range, start: 2020-01-01, end: 2020-12-31, nulls: 0.25}", pa.date32()),
        "t": ("{name: t, generator: timestamp_range, start: 2020-01-01, end: 2020-02-01, nulls: 0.25}",
              pa.timestamp("us", tz="UTC")),
        "b": ("{name: b, type: bool, generator: categorical, values: [true, false], nulls: 0.25}", pa.bool_()),
        "n": ("{name: n, type: 'numeric(9, 2)', generator: uniform, min: 0, max: 100, nulls: 0.25}",
              pa.decimal128(9, 2)),
        "s": ("{name: s, generator: items, values: [x, y, z], count: 2, nulls: 0.25}", pa.string()),
        "w": ("{name: w, generator: items, vocabulary: words, count: 2, nulls: 0.25}", pa.string()),
        "tp": ("{name: tp, generator: template, template: '<{c}>', nulls: 0.25}", pa.string()),
        "e": ("{name: e, generator: expression, expression: 'row * 2', nulls: 0.25}", pa.float64()),
        "r": ("{name: r, generator: reference, dataset: parent, nulls: 0.25}", pa.int64()),
    }
    b = child(*(c for c, _ in columns.values()), rows=20_000)
    for name, (_, arrow_type) in columns.items():
        column = b.column(b.schema.get_field_index(name))
        assert decoded(column).type == arrow_type, name
        assert abs(column.null_count / 20_000 - 0.25) < 0.015, name
        assert None not in set(decoded(column).drop_null().to_pylist()), name
    # Independent draws: the null rows of two columns are not the same rows.
    nulls_i = np.array([v is None for v in values(b, "i")])
    nulls_f = np.array([v is None for v in values(b, "f")])
    assert abs(np.mean(nulls_i & nulls_f) - 0.25 * 0.25) < 0.01
    # A null value of a sequence is just hidden: the other rows keep their numbers.
    assert [v for v in values(b, "seq") if v is not None] == [i for i, v in enumerate(values(b, "seq"))
                                                             if v is not None]


def test_hidden_columns_are_not_written():
    b = make("{name: a, hidden: true, generator: categorical, values: [x, y]}",
             "{name: b, generator: template, template: '{a}!'}",
             "{name: c, hidden: true, type: int64, generator: uniform, min: 1, max: 3}",
             "{name: d, generator: expression, expression: 'c * 10'}", rows=100)
    assert b.schema.names == ["b", "d"]
    assert set(values(b, "b")) == {"x!", "y!"}
    assert set(values(b, "d")) == {10.0, 20.0, 30.0}


def test_per_entity_values():
    b = make("{name: client, type: int64, generator: uniform, min: 0, max: 199}",
             "{name: age, type: int64, generator: uniform, min: 18, max: 90, per: client}",
             "{name: score, generator: normal, mean: 0, sd: 1, per: client}",
             "{name: sex, generator: categorical, values: [Male, Female], per: client}",
             "{name: tastes, generator: items, values: [a, b, c, d, e], count: [1, 3], per: client}",
             "{name: words, generator: items, vocabulary: words, count: 3, per: client}",
             "{name: since, generator: date_range, start: 2000-01-01, end: 2020-12-31, per: client}",
             "{name: at, generator: timestamp_range, start: 2020-01-01, end: 2020-02-01, per: client, "
             "hourly: " + str([1] * 12 + [0] * 12) + "}",
             "{name: gone, generator: categorical, values: [gone], per: client, nulls: 0.5}",
             "{name: noise, generator: normal, mean: 0, sd: 1}", rows=5000)
    client = values(b, "client")
    assert len(set(client)) == 200
    per_columns = ["age", "score", "sex", "tastes", "words", "since", "at", "gone"]
    for name in per_columns + ["noise"]:
        by_client = collections.defaultdict(set)
        for c, v in zip(client, values(b, name)):
            by_client[c].add(v)
        if name == "noise":
            assert max(len(s) for s in by_client.values()) > 1
        else:
            assert all(len(s) == 1 for s in by_client.values()), name  # same entity, same value
            assert len({next(iter(s)) for s in by_client.values()}) > 1, name  # entities differ
    gone = {c: v for c, v in zip(client, values(b, "gone"))}
    assert 0.3 < sum(v is None for v in gone.values()) / 200 < 0.7  # nulls are drawn per entity too
    # The value of an entity does not depend on the rows it appears in.
    later = make("{name: client, type: int64, generator: uniform, min: 0, max: 199}",
                 "{name: age, type: int64, generator: uniform, min: 18, max: 90, per: client}",
                 rows=3000, start=1_000_000)
    ages = dict(zip(client, values(b, "age")))
    assert all(ages[c] == a for c, a in zip(values(later, "client"), values(later, "age")) if c in ages)


def test_per_entity_through_a_reference():
    b = child("{name: client, generator: reference, dataset: parent}",
              "{name: segment, generator: categorical, values: [a, b, c, d], per: client}", rows=5000)
    seen = {}
    for c, s in zip(values(b, "client"), values(b, "segment")):
        assert seen.setdefault(c, s) == s


def test_categorical_by_cases_with_vocabularies():
    b = make("{name: sex, generator: categorical, values: [Male, Female]}",
             "{name: first, generator: categorical, by: sex, cases: {Male: {vocabulary: first_names_male}, "
             "Female: {vocabulary: first_names_female}}}", rows=20_000)
    male, female = set(vocabulary.get("first_names_male")[0]), set(vocabulary.get("first_names_female")[0])
    sexes, firsts = values(b, "sex"), values(b, "first")
    assert set(sexes) == {"Male", "Female"}
    assert all(f in male for s, f in zip(sexes, firsts) if s == "Male")
    assert all(f in female for s, f in zip(sexes, firsts) if s == "Female")
    assert len(set(firsts)) > 300


def test_categorical_by_cases_weights_defaults_and_types():
    b = make("{name: g, generator: categorical, values: [x, y, w]}",
             "{name: pick, generator: categorical, values: [a, b], by: g, cases: {x: [1, 0], y: [0, 1], "
             "w: [1, 1]}}",
             "{name: n, type: int64, generator: uniform, min: 1, max: 3}",
             "{name: word, generator: categorical, by: n, cases: {1: {values: [one]}, default: {values: [many]}}, "
             "filter: upper}",
             "{name: flag, type: bool, generator: categorical, values: [true, false]}",
             "{name: yn, generator: categorical, by: flag, cases: {true: {values: ['yes']}, false: {values: ['no']}}}",
             "{name: g2, generator: categorical, values: [x, y], nulls: 0.3}",
             "{name: follow, generator: categorical, by: g2, cases: {x: {values: [X]}, y: {values: [Y]}}}",
             rows=20_000)
    for g, pick in zip(values(b, "g"), values(b, "pick")):
        assert pick == {"x": "a", "y": "b"}.get(g, pick)
    w_picks = shares(p for g, p in zip(values(b, "g"), values(b, "pick")) if g == "w")
    assert abs(w_picks["a"] - 0.5) < 0.03
    assert all(word == ("ONE" if n == 1 else "MANY") for n, word in zip(values(b, "n"), values(b, "word")))
    assert all(yn == ("yes" if f else "no") for f, yn in zip(values(b, "flag"), values(b, "yn")))
    # A null parent gives a null.
    assert all((f is None) if g is None else f == g.upper() for g, f in zip(values(b, "g2"), values(b, "follow")))


# --- independence and determinism --------------------------------------------------------------------------

ALL = {
    "id": "{name: id, generator: sequence, start: 1}",
    "u": "{name: u, type: int64, generator: uniform, min: 0, max: 1000}",
    "n": "{name: n, generator: normal, mean: 0, sd: 1, truncate: [-2, 2]}",
    "ln": "{name: ln, type: 'numeric(10, 2)', generator: lognormal, median: 20, sigma: 1.4, clip: [0, 25000]}",
    "sex": "{name: sex, generator: categorical, values: [Male, Female]}",
    "first": "{name: first, hidden: true, generator: categorical, by: sex, cases: "
             "{Male: {vocabulary: first_names_male}, Female: {vocabulary: first_names_female}}}",
    "last": "{name: last, generator: categorical, vocabulary: last_names, filter: upper, nulls: 0.1}",
    "name": "{name: name, generator: template, template: '{first|lower} {last|title}'}",
    "genres": "{name: genres, generator: items, values: {a: 5, b: 3, c: 1, d: 1}, count: {1: 2, 2: 1, 3: 1}}",
    "title": "{name: title, generator: items, vocabulary: words, count: [2, 4], separator: ' '}",
    "heavy": "{name: heavy, generator: items, values: {" + ", ".join(f"h{i}: {50 if i == 0 else 1}"
                                                                   for i in range(80)) + "}, count: 3}",
    "d": "{name: d, generator: date_range, start: 1920-01-01, end: 2025-12-31, growth: 4}",
    "t": "{name: t, generator: timestamp_range, start: 2020-01-01, end: 2020-03-01, hourly: "
         + str([1] * 20 + [0] * 4) + "}",
    "e": "{name: e, generator: expression, expression: 'floor(row * 0.6) + normal(0, 1) + m[sex]', "
         "maps: {m: {Male: 3}}, decimals: 3}",
    "client": "{name: client, type: int64, generator: uniform, min: 0, max: 99}",
    "score": "{name: score, generator: normal, mean: 680, sd: 85, per: client}",
    "ref": "{name: ref, generator: reference, dataset: parent, distribution: zipf}",
    "key": "{name: key, generator: reference, dataset: parent, column: key}",
}


def make_all(names, rows=1000, start=0, seed=SEED):
    spec = parse(spec_text(*(ALL[n] for n in names), dataset="everything"), "t.yaml")
    run = run_context([PARENT, spec], {"parent": 500, "everything": 10**6})
    return compile_dataset(spec, run).batch(seed, start, start + rows)


def as_lists(batch) -> dict:
    return {name: values(batch, name) for name in batch.schema.names}


def test_columns_are_independent_of_other_columns():
    names = list(ALL)
    base = as_lists(make_all(names, rows=2000))
    # Reordered (dependencies may come after the columns that read them), one removed, one added.
    shuffled = names[::-1]
    shuffled.remove("n")
    extra = "{name: extra, generator: normal, mean: 1, sd: 1}"
    ALL["extra"] = extra
    try:
        other = as_lists(make_all(shuffled + ["extra"], rows=2000))
    finally:
        del ALL["extra"]
    assert set(other) == set(base) - {"n"} | {"extra"}
    for name in other:
        if name != "extra":
            assert other[name] == base[name], name
    # Removing a column that others read is not possible; removing the readers leaves the rest as it was.
    fewer = as_lists(make_all(["ln", "genres", "d"], rows=2000))
    for name in fewer:
        assert fewer[name] == base[name], name


def test_same_rows_whatever_the_cut_points():
    names = list(ALL)
    whole = make_all(names, rows=1000)
    parts = [make_all(names, rows=337), make_all(names, rows=663, start=337)]
    cut = pa.Table.from_batches(parts)
    assert cut.schema.names == whole.schema.names
    for name in whole.schema.names:
        assert cut.column(name).to_pylist() == values(whole, name), name
    # Any window is the same rows as in the whole.
    window = make_all(names, rows=101, start=450)
    for name in whole.schema.names:
        assert values(window, name) == values(whole, name)[450:551], name


def test_a_different_seed_gives_different_values():
    names = list(ALL)
    a, b = as_lists(make_all(names, rows=500)), as_lists(make_all(names, rows=500, seed=SEED + 1))
    for name in a:
        if name == "id":
            assert a[name] == b[name]
        else:
            assert a[name] != b[name], name
            assert sum(x != y for x, y in zip(a[name], b[name])) > 200, name
    assert as_lists(make_all(names, rows=500)) == a  # and the same seed the same values


def test_the_dataset_name_keys_the_streams():
    one = make("{name: x, generator: normal, mean: 0, sd: 1}", dataset="one")
    two = make("{name: x, generator: normal, mean: 0, sd: 1}", dataset="two")
    assert values(one, "x") != values(two, "x")


# --- the built-in specs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["films", "clients", "transactions"])
def test_builtin_specs_make_batches_of_their_schema(name):
    assert name in builtin_names()
    spec = builtin(name)
    gen = compile_dataset(spec)
    expected = from_spec(spec).arrow_schema
    batch = gen.batch(SEED, 1000, 3000)
    assert batch.num_rows == 2000
    schema = pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
                        for f in batch.schema])
    assert schema.names == expected.names
    assert schema.types == expected.types
    for field, column in zip(expected, batch.columns):
        if not field.nullable:
            assert column.null_count == 0, field.name
    assert schema.equals(expected), f"\n{schema}\n!=\n{expected}"


def test_builtin_specs_look_as_described():
    films = compile_dataset(builtin("films")).batch(SEED, 0, 5000)
    runtime = numbers(films, "runtime")
    assert runtime.min() >= 60 and runtime.max() <= 360 and 100 < np.median(runtime) < 120  # medians by genre
    rating = numbers(films, "rating_score")
    assert rating.min() >= 0 and rating.max() <= 10
    assert np.allclose(rating * 100, np.round(rating * 100))
    assert all(2 <= len(t.split(" ")) <= 4 for t in values(films, "title"))
    clients = compile_dataset(builtin("clients")).batch(SEED, 0, 5000)
    firsts = {"Male": set(vocabulary.get("first_names_male")[0]),
              "Female": set(vocabulary.get("first_names_female")[0])}
    for name, sex, mail in zip(values(clients, "name"), values(clients, "sex"), values(clients, "mail")):
        first = name.split(" ")[0]
        assert first in firsts[sex], (name, sex)
        assert mail == mail.lower() and mail.startswith(first.lower()) and "@" in mail
    score = numbers(clients, "credit_score")
    assert score.min() >= 300 and score.max() <= 850
    transactions = compile_dataset(builtin("transactions")).batch(SEED, 0, 5000)
    assert values(transactions, "id") == list(range(1, 5001))
    time = values(transactions, "time")  # ascending with repeats; the night is slow (tests/test_realism.py)
    assert time[0] == 0 and all(a <= b for a, b in zip(time, time[1:])) and len(set(time)) < len(time)


def test_a_template_of_per_entity_columns_is_composed_once_per_entity():
    """films' author: made over the author pool and looked up, the same text as the template row by row."""
    from datagen.engine import Batch

    gen = compile_dataset(builtin("films"))
    b = Batch(gen, SEED, 5_000, 25_000)
    for c in gen.order:
        gen.make_column(b, c)
    author, first, last = b.cols["author"], b.cols["author_first"], b.cols["author_last"]
    assert author.dictionary is not None and len(author.dictionary) == 50_000  # composed per author
    text = np.asarray(author.dictionary.to_pylist(), dtype=object)[author.data]
    firsts = np.asarray(first.dictionary.to_pylist(), dtype=object)[first.data]
    lasts = np.asarray(last.dictionary.to_pylist(), dtype=object)[last.data]
    assert list(text) == [f"{f} {la}" for f, la in zip(firsts, lasts)]
    # Not where the template draws nulls of its own, or reads a column that is not per entity.
    spec = parse(spec_text("{name: e, type: int64, generator: zipf, n: 100, exponent: 1}",
                           "{name: f, generator: categorical, values: [a, b], per: e}",
                           "{name: g, generator: categorical, values: [x, y]}",
                           "{name: t1, generator: template, template: '{f}-{g}'}",
                           "{name: t2, generator: template, template: '{f}!', nulls: 0.5}",
                           "{name: t3, generator: template, template: '{f}!'}"), "t.yaml")
    gen = compile_dataset(spec)
    assert gen._entity_of_template == {"t3": "e"}
    rows = gen.batch(SEED, 0, 2000)
    for t in ("t1", "t2", "t3"):
        got = values(rows, t)
        f, g = values(rows, "f"), values(rows, "g")
        expected = {"t1": [f"{a}-{b}" for a, b in zip(f, g)], "t3": [f"{a}!" for a in f]}.get(t)
        if expected:
            assert got == expected


def test_freed_memory_is_kept_for_the_next_block_on_glibc():
    import platform

    from datagen.memory import reuse_freed_memory

    assert reuse_freed_memory() is (platform.libc_ver()[0] == "glibc")
