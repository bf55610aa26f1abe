"""Counter-based random numbers: the draws of row ``i`` are a pure function of (seed, dataset, stream, i).

There is no generator state to carry from one row to the next, so any range of rows can be made on its own,
in any order, on any worker, and always comes out the same: this is what lets the source split anywhere and
still write identical data whatever the runner, the worker count or the split points.

Each stream gives 64 random bits per row (SplitMix64 of a per-stream key plus the row index times the golden
ratio, the construction of Steele, Lea and Flood 2014). Generators cut those bits into fields and map each
field through a lookup table (:class:`WeightedChoice`), so every distribution is integer arithmetic and the
output is bit-identical on every platform.
"""

from __future__ import annotations

import zlib

import numpy as np

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def _mix(z: int) -> int:
    """SplitMix64's finaliser on a Python int."""
    z &= _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def stream_key(seed: int, dataset: str, stream: str) -> int:
    """A 64-bit key for one named stream of one dataset under one seed."""
    z = _mix(seed & _MASK)
    z = _mix(z ^ zlib.crc32(dataset.encode()))
    return _mix(z ^ (zlib.crc32(stream.encode()) << 32))


def row_bits(key: int, start: int, stop: int) -> np.ndarray:
    """64 random bits for each row index in [start, stop), as uint64."""
    return _bits(key, np.arange(start, stop, dtype=np.uint64))


def bits_at(key: int, positions: np.ndarray) -> np.ndarray:
    """64 random bits for each of ``positions`` (any whole numbers, e.g. an entity's number), as uint64: position
    ``p`` gets what ``row_bits`` gives row ``p``."""
    return _bits(key, np.asarray(positions).astype(np.uint64))


def unit_interval(bits: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1) from 64 random bits each (the top 53 bits)."""
    out = (bits >> np.uint64(11)).view(np.int64).astype(np.float64)  # int64 to float is the fast conversion
    out *= 1.0 / (1 << 53)
    return out


def _bits(key: int, z: np.ndarray) -> np.ndarray:
    z *= np.uint64(_GOLDEN)
    z += np.uint64(key)
    t = z >> np.uint64(30)
    z ^= t
    z *= np.uint64(_M1)
    np.right_shift(z, np.uint64(27), out=t)
    z ^= t
    z *= np.uint64(_M2)
    np.right_shift(z, np.uint64(31), out=t)
    z ^= t
    return z


class WeightedChoice:
    """Draws indices 0..k-1 with given weights from a ``bits``-bit random field, through a lookup table.

    The weights are rounded to multiples of 2**-bits (largest remainders; every positive weight keeps at least
    one slot), so a draw is one table look-up: cheaper than a search of the cumulative distribution and exact
    integer arithmetic.
    """

    def __init__(self, weights, bits: int = 16):
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or len(w) == 0 or (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights must be a non-empty list of non-negative numbers, not all zero")
        size = 1 << bits
        if np.count_nonzero(w) > size:
            raise ValueError(f"{np.count_nonzero(w)} weights do not fit a {bits}-bit table")
        exact = w / w.sum() * size
        counts = np.floor(exact).astype(np.int64)
        counts[(w > 0) & (counts == 0)] = 1
        # Give the slots still missing (or take the excess) by largest remainder.
        remainder = exact - np.floor(exact)
        diff = size - counts.sum()
        order = np.argsort(-remainder, kind="stable")
        if diff > 0:
            counts[order[:diff]] += 1
        while diff < 0:
            for i in order[::-1]:
                if diff == 0:
                    break
                if counts[i] > 1:
                    counts[i] -= 1
                    diff += 1
        dtype = np.int16 if len(w) < (1 << 15) else np.int32
        self.bits = bits
        self.table = np.repeat(np.arange(len(w), dtype=dtype), counts)
        self.probabilities = counts / size

    def __call__(self, field_values: np.ndarray) -> np.ndarray:
        return self.table[field_values]


def table_bits(weights) -> int:
    """Table size (bits) for a WeightedChoice over ``weights``: 16 bits, more (up to 20) when the rarest weight
    would otherwise be rounded by more than about 1%."""
    w = np.asarray(weights, dtype=np.float64)
    positive = w[w > 0]
    if len(positive) == 0:
        return 16
    rarest = positive.min() / positive.sum()
    need = int(np.ceil(np.log2(max(len(positive), 100.0 / rarest))))
    return int(min(max(need, 16), 20))
