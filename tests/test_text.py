"""CSV text from record batches, read back with Python's csv module (an independent parser)."""

import csv
import datetime
import io

import numpy as np
import pyarrow as pa
import pytest

from datagen.text import Pieces, Prefixes, compose, merge_small_slots
from transforms.text import csv_field, record_batch_to_csv


def parse(text: bytes):
    return list(csv.reader(io.StringIO(bytes(text).decode())))


def test_compose_concatenates_pieces_per_row():
    pieces = Pieces()
    a = pieces.add(["Red ", "Blue "])
    b = pieces.add(["Car", "Sky", ""])
    out = compose(pieces, np.array([[a + 0, b + 0], [a + 1, b + 1], [a + 1, b + 2]]))
    assert out.to_pylist() == ["Red Car", "Blue Sky", "Blue "]


def test_values_that_need_quotes_round_trip():
    values = ['plain', 'with,comma', 'with "quote"', 'line\nbreak', '', 'é ü 中']
    batch = pa.RecordBatch.from_arrays([pa.array(values), pa.array(range(6))], names=["s", "n"])
    assert parse(record_batch_to_csv(batch)) == [[v, str(i)] for i, v in enumerate(values)]


def test_columns_without_special_characters_are_not_quoted():
    batch = pa.RecordBatch.from_arrays([pa.array(["a b", "c"]), pa.array([1.5, 2.0])], names=["s", "x"])
    assert record_batch_to_csv(batch) == b"a b,1.5\nc,2\n"


def test_types_nulls_dictionaries_and_date_formats():
    dates = pa.array([datetime.date(1999, 1, 2), None, datetime.date(2025, 12, 31)], pa.date32())
    batch = pa.RecordBatch.from_arrays([
        pa.array(["x", None, "z"]),
        pa.array([1, None, -3], pa.int64()),
        pa.array([0.25, 1e20, None]),
        dates,
        pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], pa.int16()), pa.array(["A,B", "C"])),
        pa.array([True, False, None]),
    ], names=["s", "i", "f", "d", "cat", "b"])
    assert parse(record_batch_to_csv(batch)) == [
        ["x", "1", "0.25", "1999-01-02", "C", "true"],
        ["", "", "1e+20", "", "A,B", "false"],
        ["z", "-3", "", "2025-12-31", "C", ""],
    ]
    two = pa.RecordBatch.from_arrays([dates, pa.array([1, 2, 3])], names=["d", "n"])
    assert parse(record_batch_to_csv(two, "%y/%m/%d")) == [["99/01/02", "1"], ["", "2"], ["25/12/31", "3"]]


def test_small_integer_ranges_render_like_a_cast():
    values = np.random.default_rng(0).integers(-50, 5000, size=20_000)
    batch = pa.RecordBatch.from_arrays([pa.array(values), pa.array(values // 7, pa.int32())], names=["a", "b"])
    assert parse(record_batch_to_csv(batch)) == [[str(a), str(a // 7)] for a in values]


def test_date_formats_that_render_separators_are_quoted():
    dates = pa.array([datetime.date(1999, 1, d) for d in range(1, 29)] * 10, pa.date32())
    batch = pa.RecordBatch.from_arrays([dates, pa.array(range(280))], names=["d", "n"])
    rows = parse(record_batch_to_csv(batch, "%d, %m %Y"))
    assert rows[0] == ["01, 01 1999", "0"] and all(len(r) == 2 for r in rows)


def test_empty_batch_is_empty_text():
    assert record_batch_to_csv(pa.RecordBatch.from_arrays([pa.array([], pa.string())], names=["s"])) == b""


@pytest.mark.parametrize("value,expected", [("a", "a"), ("a,b", '"a,b"'), ('a"b', '"a""b"')])
def test_csv_field(value, expected):
    assert csv_field(value) == expected


def test_blocks_sharing_a_dictionary_render_it_once_and_right():
    # A dataset's blocks share their dictionaries; their fields are rendered once per dictionary (transforms.text
    # keeps them by the dictionary's buffers). The text must not depend on what was rendered before.
    names = pa.array([f"author {i}" for i in range(1000)] + ['a "quoted", name'])
    dates = pa.array([datetime.date(2000, 1, 1) + datetime.timedelta(days=i) for i in range(10)], pa.date32())

    def block(indices, dictionary=names):
        codes = pa.array(indices, pa.int32())
        return pa.RecordBatch.from_arrays([
            pa.DictionaryArray.from_arrays(codes, dictionary),  # a middle column: fields end with ","
            pa.DictionaryArray.from_arrays(pa.array([i % 10 for i in indices], pa.int32()), dates),
            pa.DictionaryArray.from_arrays(codes, dictionary),  # the last column: fields end with "\n"
        ], names=["a", "d", "z"])

    first, second = [0, 1000, 5], [999, 3, 1000, 1000]
    for _ in range(2):  # the second time, every dictionary's fields come from the cache
        assert parse(record_batch_to_csv(block(first))) == [
            ["author 0", "2000-01-01", "author 0"], ['a "quoted", name', "2000-01-01", 'a "quoted", name'],
            ["author 5", "2000-01-06", "author 5"]]
        assert parse(record_batch_to_csv(block(second), "%d/%m/%Y")) == [
            ["author 999", "10/01/2000", "author 999"], ["author 3", "04/01/2000", "author 3"],
            ['a "quoted", name', "01/01/2000", 'a "quoted", name'],
            ['a "quoted", name', "01/01/2000", 'a "quoted", name']]
    # Dictionaries made and dropped one after another (their memory may be reused) are each rendered as they are.
    for k in range(100):
        fresh = pa.array([f"v{k}-{j}" for j in range(3)])
        assert parse(record_batch_to_csv(block([2, 0], fresh))) == [
            [f"v{k}-2", "2000-01-03", f"v{k}-2"], [f"v{k}-0", "2000-01-01", f"v{k}-0"]]
    # A slice of a dictionary is not the dictionary.
    assert parse(record_batch_to_csv(block([0], names.slice(5)))) == [["author 5", "2000-01-01", "author 5"]]


@pytest.mark.parametrize("separator", [",", " · ", ""])
def test_prefixes_are_every_prefix_of_every_sequence(separator):
    items = ["a", "twelve_bytes", "Ünïcödé", "thirteen bytes", "x" * 40, "yy"]
    pieces = pa.array([v + separator for v in items] + items)
    rng = np.random.default_rng(5)
    sequences = np.array([rng.permutation(len(items))[:4] for _ in range(300)])
    table = Prefixes(pieces, sequences, len(separator.encode()))
    s, k = np.meshgrid(np.arange(300), np.arange(1, 5), indexing="ij")
    views = table.views(s.ravel(), k.ravel())
    views.validate(full=True)
    expected = [separator.join(items[i] for i in sequences[a][:b]) for a, b in zip(s.ravel(), k.ravel())]
    assert views.to_pylist() == expected
    assert table.draw(s.ravel(), k.ravel()).to_pylist() == expected
    assert table.draw(s.ravel(), k.ravel()).type == pa.string()
    # A short text is held in its view, padded with zeros as Arrow's format asks.
    raw = np.frombuffer(views.buffers()[1], dtype=np.uint8).reshape(-1, 16)
    length = raw[:, :4].copy().view(np.int32).ravel()
    short = length <= 12
    assert short.any() and (~short).any()
    assert all(not raw[r, 4 + length[r]:].any() for r in np.flatnonzero(short))


def test_small_neighbouring_slots_merge_into_one_with_the_same_text():
    rng = np.random.default_rng(3)
    n = 500

    def slot(words):
        return pa.array(words), rng.integers(0, len(words), n)

    slots = [slot(["<"]), slot(["a", "bb", "ccc"]), slot([f"w{i}" for i in range(2000)]), slot([","]),
             slot([str(y) for y in range(1950, 2008)] + [""]), slot(["@x.com", "@y.org"]), slot(["\n"])]

    def text(slots):
        vocabulary = pa.concat_arrays([v for v, _ in slots])
        bases = np.cumsum([0] + [len(v) for v, _ in slots[:-1]])
        return compose(vocabulary, np.stack([rows + base for (_, rows), base in zip(slots, bases)], 1)).to_pylist()

    merged = merge_small_slots(slots)
    # "<" with the 3 words; the 2,000 words with ","; the years with the domains and the line end.
    assert [len(v) for v, _ in merged] == [3, 2000, 118]
    assert text(merged) == text(slots)
    assert text(merged)[0].startswith("<") and text(merged)[0].endswith("\n")
