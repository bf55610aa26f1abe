"""Arrow string columns built from small vocabularies of pieces, without a Python loop per row.

A row's text is a fixed number of pieces drawn from one vocabulary (an entry may be empty, so the number of
pieces can vary in effect). One gather takes every piece of every row in order; the values buffer of its result
*is* the concatenated text, and every k-th offset of it is a row boundary. That gives an Arrow string column
(:func:`compose`), or, over all the columns of a record batch, its CSV text (``transforms/text.py``, through
:func:`gather_bytes`). The gather is a C loop (``datagen/_gather.c``) where it is built, else Arrow's ``take``.
"""

from __future__ import annotations

import functools

import numpy as np

from datagen.arrow import pa

try:  # the gather loop in C (datagen/_gather.c), built by setup.py where a C compiler is found
    from datagen import _gather as _native
except ImportError:  # the same bytes through Arrow's take, more slowly (benchmarks/README.md, "CPU per block")
    _native = None

# A range of at most this many values is rendered once per value, then drawn (numbers, dates, the high digits of
# keys).
SMALL_RANGE = 1 << 16
# A slot of a row's text: (vocabulary: pa.Array of strings, piece number of each row: np.ndarray).
Slot = tuple


class Pieces:
    """A vocabulary of text pieces: ``add`` a section, get its base index, draw with ``base + i``."""

    def __init__(self):
        self._pieces: list[str] = []
        self._array: pa.Array | None = None

    def add(self, pieces) -> int:
        base = len(self._pieces)
        self._pieces.extend(pieces)
        self._array = None
        return base

    @property
    def array(self) -> pa.Array:
        if self._array is None:
            self._array = pa.array(self._pieces, type=pa.string())
        return self._array

    def __len__(self):
        return len(self._pieces)


def _gather(array: pa.Array, indices: np.ndarray) -> pa.Array:
    taken = array.take(pa.array(indices.ravel(), type=pa.int32()))
    if taken.type != pa.string():
        taken = taken.cast(pa.string())
    return taken


def _native_vocabulary(array: pa.Array):
    """(int32 offsets, data buffer) of a string array as the C loop takes it; None where the loop is not built or
    cannot take ``array`` (nulls)."""
    if _native is None or array.null_count:
        return None
    if array.type != pa.string():
        array = array.cast(pa.string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=array.offset * 4)
    data = array.buffers()[2]
    return offsets, b"" if data is None else data


def _native_gather(array: pa.Array, indices: np.ndarray, k: int = 0, counts: np.ndarray | None = None):
    """The pieces ``array[indices]`` end to end through the C loop: (data buffer, row offsets (int32 bytes) or
    None, bytes of text); None where the loop cannot be used. With ``k`` or ``counts``, see :func:`_rows_of`."""
    vocabulary = _native_vocabulary(array)
    if vocabulary is None:
        return None
    if indices.dtype != np.int32:  # Arrow's checked conversion: an index past int32 is an error, not a wrap
        indices = pa.array(indices.ravel(), type=pa.int32()).to_numpy()
    return _native.gather(*vocabulary, np.ascontiguousarray(indices), k, counts)


def _rows_of(gathered: tuple, n: int) -> pa.StringArray:
    """The ``n`` rows of what the C loop gathered, as a string column (its buffers, not a copy)."""
    data, row_offsets, _ = gathered
    return pa.StringArray.from_buffers(n, pa.py_buffer(row_offsets), pa.py_buffer(data))


def compose(pieces: Pieces | pa.Array, indices: np.ndarray) -> pa.StringArray:
    """Row r of the result is the concatenation of ``pieces[indices[r, 0]]``, ``pieces[indices[r, 1]]``, ...

    ``indices`` has one row per output string and a fixed number of columns (pieces per string).
    """
    array = pieces.array if isinstance(pieces, Pieces) else pieces
    indices = np.asarray(indices)
    if indices.ndim == 1:
        indices = indices[:, None]
    n, k = indices.shape
    if k == 0:  # no pieces: empty strings
        return pa.StringArray.from_buffers(n, pa.py_buffer(np.zeros(n + 1, np.int32)), pa.py_buffer(b""))
    gathered = _native_gather(array, indices, k)
    if gathered is not None:
        return _rows_of(gathered, n)
    taken = _gather(array, indices)
    offsets = np.frombuffer(taken.buffers()[1], dtype=np.int32, count=len(taken) + 1, offset=taken.offset * 4)
    row_offsets = np.ascontiguousarray(offsets[::k])
    return pa.StringArray.from_buffers(n, pa.py_buffer(row_offsets), taken.buffers()[2])


def compose_ragged(pieces: pa.Array, indices: np.ndarray, counts: np.ndarray) -> pa.StringArray:
    """Like :func:`compose` with a varying number of pieces per row: row r is the concatenation of the next
    ``counts[r]`` pieces of the flat ``indices``."""
    gathered = _native_gather(pieces, np.asarray(indices), 0, np.ascontiguousarray(counts, dtype=np.int64))
    if gathered is not None:
        return _rows_of(gathered, len(counts))
    taken = _gather(pieces, np.asarray(indices))
    offsets = np.frombuffer(taken.buffers()[1], dtype=np.int32, count=len(taken) + 1, offset=taken.offset * 4)
    ends = np.empty(len(counts) + 1, dtype=np.int64)
    ends[0] = 0
    np.cumsum(counts, out=ends[1:])
    row_offsets = np.ascontiguousarray(offsets[ends])
    return pa.StringArray.from_buffers(len(counts), pa.py_buffer(row_offsets), taken.buffers()[2])


class Prefixes:
    """The prefixes of fixed sequences of pieces, drawn as strings: the text of sequence s up to (and without the
    separator after) its item k. Each (s, k) is a range of one buffer holding every whole sequence (where the
    sequence starts, and the prefix's length), made once; drawing n rows is one gather of n ranges by the C loop,
    whatever the number of items in them, where :func:`compose_ragged` gathers every piece. Without the C loop,
    each (s, k) is an Arrow string view (16 bytes: the length, then the text itself if it is 12 bytes or shorter,
    else its first 4 bytes and where it is in the buffer), and a draw is a gather of views and a cast.

    ``pieces`` holds each item followed by the separator (numbers 0..m-1), then each item alone (m..2m-1);
    ``sequences`` is (S, K) item numbers; ``separator_bytes`` the separator's length in bytes.
    """

    _INLINE = 12  # an Arrow string view holds up to 12 bytes itself
    _PAD = 16  # zeros after the text: a view's first 12 bytes, the C loop's 16-byte copies
    _VIEW = np.dtype({"names": ["length", "low", "high"], "formats": ["<i4", "<u8", "<u4"], "offsets": [0, 4, 12],
                      "itemsize": 16})
    # By case, what a view keeps of its text's first 12 bytes (bytes 0-7, then 8-11) and of where the text
    # starts: case L <= 12 (a text of L bytes, held in the view, zeros after it) or 13 (a longer text: its first
    # 4 bytes, buffer 0, its start).
    _BYTES = np.arange(_INLINE)[None, :] < np.append(np.arange(_INLINE + 1), 4)[:, None]
    _KEEP = np.ascontiguousarray(_BYTES.astype(np.uint8) * np.uint8(255))
    _KEEP_LOW, _KEEP_HIGH = _KEEP[:, :8].copy().view("<u8").ravel(), _KEEP[:, 8:].copy().view("<u4").ravel()
    _KEEP_START = np.where(np.arange(_INLINE + 2) == _INLINE + 1, 0xFFFFFFFF, 0).astype("<u4")

    def __init__(self, pieces: pa.Array, sequences: np.ndarray, separator_bytes: int):
        sequences = np.asarray(sequences, dtype=np.int64)
        s_count, self.k_count = sequences.shape
        m = len(pieces) // 2
        index = sequences.copy()
        index[:, -1] += m  # the last item without its separator
        whole = compose(pieces, index)
        offsets = np.frombuffer(whole.buffers()[1], dtype=np.int32, count=s_count + 1)
        self._sequence_starts = offsets[:-1].astype("<u4")
        piece_offsets = np.frombuffer(pieces.buffers()[1], dtype=np.int32, count=len(pieces) + 1,
                                      offset=pieces.offset * 4)
        with_separator = np.diff(piece_offsets)[:m]
        total = int(offsets[-1])
        self._text = np.zeros(total + self._PAD, np.uint8)
        if total:
            self._text[:total] = np.frombuffer(whole.buffers()[2], dtype=np.uint8, count=total)
        # Row s * K + k - 1: the prefix of sequence s up to its k-th item.
        self._lengths = np.cumsum(with_separator[sequences], axis=1, dtype=np.int32).ravel() - separator_bytes
        # (start, length) of each: one 8-byte read where a row is drawn
        self._ranges = np.stack([np.repeat(self._sequence_starts.astype(np.int32), self.k_count), self._lengths], 1)
        self._views = None

    def _rows(self, sequence: np.ndarray, items: np.ndarray) -> np.ndarray:
        sequence, items = np.asarray(sequence, dtype=np.int64), np.asarray(items, dtype=np.int64)
        if len(sequence) and not (0 <= sequence.min() and sequence.max() < len(self._sequence_starts)
                                  and 1 <= items.min() and items.max() <= self.k_count):
            raise IndexError(f"a sequence outside 0..{len(self._sequence_starts) - 1} or a number of items outside "
                             f"1..{self.k_count}")
        return sequence * self.k_count + (items - 1)

    def views(self, sequence: np.ndarray, items: np.ndarray) -> pa.Array:
        """Row r: sequence ``sequence[r]`` up to its ``items[r]``-th item (1 to K), as Arrow string views."""
        if self._views is None:
            self._views = self._view_table()
        chosen = self._views[self._rows(sequence, items)]
        return pa.Array.from_buffers(pa.string_view(), len(chosen), [None, pa.py_buffer(chosen),
                                                                     pa.py_buffer(self._text)])

    def draw(self, sequence: np.ndarray, items: np.ndarray) -> pa.StringArray:
        """The same as a string column."""
        if _native is None:
            return self.views(sequence, items).cast(pa.string())
        rows = self._rows(sequence, items).astype(np.int32)
        return _rows_of(_native.gather_ranges(self._ranges, self._text, rows), len(rows))

    def _view_table(self) -> np.ndarray:
        """The view of every (sequence, k), made on first use (12 MB for 65,536 sequences of 12 items)."""
        starts = self._sequence_starts
        first = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(self._text, self._INLINE)[starts])
        low = first[:, :8].copy().view("<u8").ravel()  # each sequence's first 12 bytes
        high = first[:, 8:].copy().view("<u4").ravel()
        sequence = np.repeat(np.arange(len(starts)), self.k_count)
        lengths = self._lengths
        case = np.where(lengths > self._INLINE, self._INLINE + 1, lengths)
        views = np.empty(len(lengths), dtype=self._VIEW)
        views["length"] = lengths
        views["low"] = low[sequence] & self._KEEP_LOW[case]
        views["high"] = (high[sequence] & self._KEEP_HIGH[case]) | (starts[sequence] & self._KEEP_START[case])
        return views.view(np.complex128)  # one 16-byte number each, for numpy's gather


def concatenated_bytes(array: pa.StringArray) -> memoryview:
    """The characters of all the strings of ``array`` end to end, without a copy."""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=array.offset * 4)
    data = array.buffers()[2]
    if data is None:
        return memoryview(b"")
    return memoryview(data).cast("B")[offsets[0]:offsets[-1]]  # unsigned bytes: equal to the same bytes


def merge_small_slots(slots: list) -> list:
    """Fewer pieces per row, the same text: neighbouring slots whose vocabularies are small together (a
    separator or a quote and a choice, a choice and a rendered range, ...) become one slot drawing from every
    pair of their pieces. ``slots``: (vocabulary: pa.Array of strings, piece number of each row: np.ndarray)."""
    out = []
    for values, rows in slots:
        if out and len(out[-1][0]) * len(values) <= _SMALL_VOCABULARY:
            prev, prev_rows = out[-1]
            width = len(values)
            pairs = np.arange(len(prev) * width)
            joined = compose(pa.concat_arrays([prev, values]), np.stack([pairs // width, len(prev) + pairs % width], 1))
            if width == 1:  # a constant after: the rows draw as before
                out[-1] = (joined, prev_rows)
            elif len(prev) == 1:  # a constant before
                out[-1] = (joined, rows)
            else:
                out[-1] = (joined, np.asarray(prev_rows, dtype=np.int64) * width + rows)
        else:
            out.append((values, rows))
    return out


_SMALL_VOCABULARY = 4096


_LOW_DIGITS = 10_000


@functools.cache
def _low_pieces(separator: str) -> pa.Array:
    """0..9999 as written alone, then 0000..9999 as written after higher digits, each with the separator."""
    return pa.array([f"{i}{separator}" for i in range(_LOW_DIGITS)] + [f"{i:04d}{separator}"
                                                                       for i in range(_LOW_DIGITS)], pa.string())


def split_integer_slots(raw: np.ndarray, separator: str) -> list | None:
    """Non-negative integers of a wide range whose values divided by 10,000 span a small range (keys counting
    up, ...): the high part rendered once per distinct value, the low four digits from a table. None where that
    does not hold."""
    if raw.min() < 0:
        return None
    high = raw // _LOW_DIGITS
    lo, hi = int(high.min()), int(high.max())
    if hi - lo >= min(SMALL_RANGE, len(raw)):
        return None
    low = raw - high * _LOW_DIGITS + np.where(high > 0, _LOW_DIGITS, 0)
    return [(_high_pieces(lo, hi), high - lo), (_low_pieces(separator), low)]


@functools.lru_cache(maxsize=64)
def _high_pieces(lo: int, hi: int) -> pa.Array:
    return pa.array([str(h) if h else "" for h in range(lo, hi + 1)], pa.string())


def gather_bytes(pieces: pa.Array, indices: np.ndarray) -> memoryview:
    """The pieces ``pieces[indices]`` (int32, in row-major order) end to end, as a view of the buffer holding them:
    text without row boundaries (a CSV block)."""
    gathered = _native_gather(pieces, indices)
    if gathered is not None:
        data, _, size = gathered
        return memoryview(data)[:size]
    return concatenated_bytes(_gather(pieces, indices))
