"""datagen/_gather.c, the C gather loop: the same bytes as a plain Python reference and as Arrow's take (the
fallback where it is not built), and a clear error for an index or range that is not in the vocabulary."""

import numpy as np
import pyarrow as pa
import pytest

from datagen import text
from datagen.engine import compile_dataset
from datagen.spec import builtin
from datagen.text import Prefixes, compose, compose_ragged
from transforms.text import record_batch_to_csv

native = text._native


def test_the_c_loop_is_built_here():
    # CI and `make test` install the project with setup.py's extension; without it every test below would only
    # compare the fallback with itself.
    assert native is not None, ("datagen._gather is not built: install the project with a C compiler "
                                "(`pip install -e .`; Debian: apt-get install gcc python3-dev)")


def vocabulary(rng, m, end_padding=True):
    """m pieces of 0 to 40 characters (empty ones, ones longer than 16 and 32 bytes, non-ASCII)."""
    alphabet = list("abcXYZ,\"é€ ")
    words = ["".join(rng.choice(alphabet, size=rng.integers(0, 41))) for _ in range(m)]
    words[0] = ""
    array = pa.array(words, pa.string())
    if not end_padding:  # data exactly as long as the text: the loop's 16-byte copies must not read past it
        data = "".join(words).encode()
        offsets = np.concatenate([[0], np.cumsum([len(w.encode()) for w in words])]).astype(np.int32)
        return words, offsets, data
    return words, array


@pytest.mark.parametrize("end_padding", [True, False])
def test_gather_is_the_pieces_end_to_end(end_padding):
    rng = np.random.default_rng(1)
    if end_padding:
        words, array = vocabulary(rng, 300)
        offsets = np.frombuffer(array.buffers()[1], np.int32, count=301)
        data = array.buffers()[2]
    else:
        words, offsets, data = vocabulary(rng, 300, end_padding=False)
    index = rng.integers(0, 300, size=(1000, 3)).astype(np.int32)
    expected = ["".join(words[i] for i in row) for row in index]
    out, rows, total = native.gather(offsets, data, index, 3, None)
    assert out[:total] == "".join(expected).encode() and len(out) == total + 16
    starts = np.frombuffer(rows, np.int32)
    assert starts[0] == 0 and starts[-1] == total and len(starts) == 1001
    assert [out[a:b].decode() for a, b in zip(starts[:-1], starts[1:])] == expected
    # No rows asked for: only the text.
    out, rows, total = native.gather(offsets, data, index, 0, None)
    assert rows is None and out[:total] == "".join(expected).encode()
    # A varying number of pieces a row.
    counts = np.array([0, 1, 2, 3, 0, 2994], dtype=np.int64)
    flat = index.ravel()
    out, rows, total = native.gather(offsets, data, flat, 0, counts)
    ends = np.concatenate([[0], np.cumsum(counts)])
    starts = np.frombuffer(rows, np.int32)
    assert [out[a:b].decode() for a, b in zip(starts[:-1], starts[1:])] == [
        "".join(words[i] for i in flat[a:b]) for a, b in zip(ends[:-1], ends[1:])]


def test_gather_refuses_what_is_not_in_the_vocabulary():
    array = pa.array(["a", "bc"])
    offsets, data = np.frombuffer(array.buffers()[1], np.int32, count=3), array.buffers()[2]
    for bad in (2, -1):
        with pytest.raises(IndexError, match=f"index: {bad} at 1, the vocabulary has 2 pieces"):
            native.gather(offsets, data, np.array([0, bad], np.int32), 1, None)
    with pytest.raises(ValueError, match="counts: 2 at row 1, where 1 of the index's 2 pieces are left"):
        native.gather(offsets, data, np.array([0, 1], np.int32), 0, np.array([1, 2], np.int64))
    with pytest.raises(ValueError, match="counts add up to 1, index holds 2"):
        native.gather(offsets, data, np.array([0, 1], np.int32), 0, np.array([1, 0], np.int64))
    # Counts whose sum wraps around to the index's length (2**64 + 1) are refused, not followed past the index.
    with pytest.raises(ValueError, match="counts: 4611686018427387904 at row 0"):
        native.gather(offsets, data, np.array([0], np.int32), 0, np.array([2**62] * 3 + [2**62 + 1], np.int64))
    # Arrays of another type or order are refused, not read as int32 (an int64 1 would be read as 1, 0).
    with pytest.raises(TypeError, match="index: int32 expected, got items of format 'l'"):
        native.gather(offsets, data, np.array([1, 0], np.int64), 1, None)
    with pytest.raises(TypeError, match="index: int32 expected, got items of format '>i'"):
        native.gather(offsets, data, np.array([1, 0], ">i4"), 1, None)
    with pytest.raises(TypeError, match="counts: int64 expected"):
        native.gather(offsets, data, np.array([1, 0], np.int32), 0, np.array([2], np.int32))
    misaligned = np.frombuffer(b"\0" + offsets.tobytes(), np.uint8)[1:]
    with pytest.raises(TypeError, match="offsets: int32 expected"):  # bytes, not int32
        native.gather(misaligned, data, np.array([0], np.int32), 1, None)
    with pytest.raises(ValueError, match="offsets: int32 not aligned to 4 bytes"):
        native.gather(memoryview(misaligned).cast("i"), data, np.array([0], np.int32), 1, None)
    with pytest.raises(ValueError, match="not a whole number of rows of 3"):
        native.gather(offsets, data, np.array([0, 1], np.int32), 3, None)
    with pytest.raises(ValueError, match="past the end of data"):
        native.gather(np.array([0, 1, 99], np.int32), b"abc", np.array([0], np.int32), 1, None)
    with pytest.raises(ValueError, match="not increasing at 0"):
        native.gather(np.array([2, 1, 3], np.int32), b"abc", np.array([0], np.int32), 1, None)


def test_gather_ranges_draws_overlapping_pieces():
    rng = np.random.default_rng(2)
    data = bytes(rng.integers(97, 123, size=500).astype(np.uint8))
    starts = rng.integers(0, 400, size=200)
    lengths = rng.integers(0, 100, size=200)
    ranges = np.stack([starts, lengths], 1).astype(np.int32)
    index = rng.integers(0, 200, size=2000).astype(np.int32)
    out, rows, total = native.gather_ranges(ranges, data, index)
    offsets = np.frombuffer(rows, np.int32)
    assert [out[a:b] for a, b in zip(offsets[:-1], offsets[1:])] == [
        data[starts[i]:starts[i] + lengths[i]] for i in index]
    with pytest.raises(IndexError, match="not a piece inside data"):
        native.gather_ranges(np.array([[498, 3]], np.int32), data, np.array([0], np.int32))
    with pytest.raises(IndexError, match="index: 1 at 0"):
        native.gather_ranges(np.array([[0, 3]], np.int32), data, np.array([1], np.int32))
    with pytest.raises(TypeError, match="ranges: int32 expected"):
        native.gather_ranges(np.array([[0, 3]], np.int64), data, np.array([0], np.int32))
    with pytest.raises(ValueError, match="ranges: \\(start, length\\) pairs expected, got 3 int32 values"):
        native.gather_ranges(np.array([0, 3, 1], np.int32), data, np.array([0], np.int32))


def test_a_prefix_outside_the_table_is_an_error_with_or_without_it(monkeypatch):
    items = pa.array(["a,", "b,", "c,", "a", "b", "c"])
    table = Prefixes(items, np.array([[0, 1], [2, 0]]), 1)
    assert table.draw([1, 0], [2, 1]).to_pylist() == ["c,a", "a"]
    for loop in (native, None):
        monkeypatch.setattr(text, "_native", loop)
        for sequence, k in (([2], [1]), ([-1], [1]), ([0], [0]), ([0], [3]), ([2**31], [1])):
            with pytest.raises(IndexError, match=r"a sequence outside 0\.\.1 or a number of items outside 1\.\.2"):
                table.draw(sequence, k)


def test_no_pieces_a_row_are_empty_strings():
    assert compose(pa.array(["a"]), np.zeros((3, 0), np.int32)).to_pylist() == ["", "", ""]


def test_the_text_functions_give_the_same_arrays_with_and_without_it(monkeypatch):
    rng = np.random.default_rng(3)
    words, array = vocabulary(rng, 200)
    sliced = array.slice(7, 150)
    index = rng.integers(0, 150, size=(500, 4))
    counts = rng.integers(0, 5, size=400)
    flat = rng.integers(0, 150, size=int(counts.sum()))
    sequences = np.array([rng.permutation(12)[:5] for _ in range(50)])
    items = pa.array([f"item{i}," for i in range(12)] + [f"item{i}" for i in range(12)])
    table = Prefixes(items, sequences, 1)
    s, k = rng.integers(0, 50, size=300), rng.integers(1, 6, size=300)

    def results():
        return (compose(sliced, index), compose(array, index[:, :1].astype(np.int32)),
                compose_ragged(sliced, flat, counts), table.draw(s, k))

    fast = results()
    monkeypatch.setattr(text, "_native", None)
    slow = results()
    for a, b in zip(fast, slow):
        a.validate(full=True)
        assert a.type == b.type == pa.string() and a.equals(b)


@pytest.mark.parametrize("dataset", ["films", "clients", "transactions"])
def test_the_csv_of_a_dataset_is_the_same_with_and_without_it(dataset, monkeypatch):
    def block():
        gen = compile_dataset(builtin(dataset), {})  # a fresh generator: nothing kept from the other path
        batch = gen.batch(11, 40_000, 40_000 + (1 << 15))  # as large as a block that draws lists by prefixes
        return batch, bytes(record_batch_to_csv(batch))

    fast_batch, fast = block()
    monkeypatch.setattr(text, "_native", None)
    slow_batch, slow = block()
    assert fast_batch.equals(slow_batch)
    assert fast == slow


def test_arrays_written_by_another_thread_meanwhile_give_an_error_not_a_stray_write():
    # The loop runs without the GIL; another thread may write to its inputs. Offsets that grow between its check
    # and its copy once made it write past its output (found under AddressSanitizer): now each call either
    # returns a consistent result or says the input changed.
    import threading

    data = bytes(1 << 20)
    offsets = np.array([0, 1, 2], np.int32)
    index = np.zeros(500_000, np.int32)
    index[-1] = 1
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            offsets[2] = 1 << 20
            offsets[2] = 2

    thread = threading.Thread(target=writer)
    thread.start()
    outcomes = set()
    try:
        for _ in range(40):
            try:
                out, rows, total = native.gather(offsets, data, index, 1, None)
            except RuntimeError as e:
                assert "changed while it was read" in str(e)
                outcomes.add("changed")
                continue
            starts = np.frombuffer(rows, np.int32)
            assert len(out) == total + 16 and starts[-1] == total and (np.diff(starts) >= 0).all()
            outcomes.add("result")
    finally:
        stop.set()
        thread.join()
    assert outcomes  # every call ended one way or the other, and the process is still here
