"""The generators of numbers: sequence, uniform, normal, lognormal, quantiles, zipf and permutation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from datagen import checks
from datagen.columns import Col
from datagen.distributions import normal_cdf, truncated_normal, zipf_rank
from datagen.generators.base import Example, Generator, Parameters
from datagen.randomness import WeightedChoice, row_bits

_NUMBERS = ("int64", "float64", "numeric")


def _counts_up_by_ten_from_1000(rows):
    assert rows["ticket_id"] == [1000 + 10 * i for i in range(len(rows["ticket_id"]))]


class Sequence(Generator):
    """``start + i * step`` for row ``i``."""

    name = "sequence"
    keys = ("start", "step")
    types, default_type = ("int64",), "int64"
    may_be_by = True
    example = Example(
        spec="""\
dataset: tickets
columns:
  - name: ticket_id
    type: int64
    generator: sequence
    start: 1000
    step: 10                     # 1000, 1010, 1020, ...
""",
        shows="`ticket_id` is 1000 in the first row and 10 more in each row after it: 1000, 1010, 1020, ...",
        check=_counts_up_by_ten_from_1000)

    @dataclass(frozen=True)
    class Params(Parameters):
        start: int
        step: int

    @classmethod
    def check(cls, given, ctype, where):
        start = checks.fits(checks.number(given, "start", where, 0, whole=True), ctype, where, "start")
        step = checks.fits(checks.number(given, "step", where, 1, whole=True), ctype, where, "step")
        if step == 0:
            raise where.error("step: expected a whole number other than 0, got 0")
        return cls.Params(start, step), ()

    def make(self, b, positions):
        p = self.params
        return Col(np.arange(b.start, b.stop, dtype=np.int64) * p.step + p.start)


def _floors_equally_often_and_battery_in_thousandths(rows):
    floor, battery = rows["floor"], rows["battery"]
    assert set(floor) == set(range(13))
    assert all(abs(floor.count(k) / len(floor) - 1 / 13) < 0.01 for k in range(13))
    assert all(0 <= x <= 1 and round(x, 3) == x for x in battery)
    assert abs(np.mean(battery) - 0.5) < 0.01


class Uniform(Generator):
    """Equally likely values from ``min`` to ``max``: whole numbers both included for int64, else up to ``max``."""

    name = "uniform"
    keys = required = ("min", "max")
    types, default_type = _NUMBERS, "float64"
    random = may_be_by = True
    example = Example(
        spec="""\
dataset: sensors
columns:
  - name: floor
    type: int64
    generator: uniform
    min: 0
    max: 12
  - name: battery
    generator: uniform
    min: 0
    max: 1
    decimals: 3
""",
        shows="`floor` takes each whole number from 0 to 12 about equally often, and `battery` is a number from 0 to "
              "1 with three decimals, 0.5 on average.",
        check=_floors_equally_often_and_battery_in_thousandths)

    @dataclass(frozen=True)
    class Params(Parameters):
        min: float
        max: float

    @classmethod
    def check(cls, given, ctype, where):
        lo, hi = checks.number(given, "min", where), checks.number(given, "max", where)
        if lo > hi or (lo == hi and ctype.name != "int64"):
            raise where.error(f"min, max: expected min below max, got {given['min']!r} and {given['max']!r}")
        if ctype.name == "int64" and (int(lo) != lo or int(hi) != hi):
            raise where.error(f"min, max: an int64 column needs whole bounds, got {given['min']!r} and "
                              f"{given['max']!r}")
        checks.fits(lo, ctype, where, "min", repr(given["min"]))
        checks.fits(hi, ctype, where, "max", repr(given["max"]))
        return cls.Params(lo, hi), ()

    def make(self, b, positions):
        p = self.params
        u = b.uniform(self.name, positions)
        if self.column.type.name == "int64":
            lo, hi = int(p.min), int(p.max)
            return Col(np.minimum(np.floor(u * (hi - lo + 1)), hi - lo).astype(np.int64) + lo)
        return Col(p.min + u * (p.max - p.min))


def _delays_follow_their_quantiles(rows):
    delay, party = np.asarray(rows["delay_min"], float), rows["party"]
    assert delay.min() >= -30 and delay.max() <= 600
    assert abs(np.mean(delay <= 0) - 0.6) < 0.01  # 0 is the 60th percentile: a spike of on-time departures
    assert abs(np.median(delay)) < 0.1 and abs(np.quantile(delay, 0.9) - 45) < 2
    party = np.asarray(party)
    assert set(party) <= set(range(1, 13)) and abs(np.mean(party == 1) - 0.5) < 0.01
    assert abs(np.mean(party <= 2) - 0.75) < 0.01 and abs(np.mean(party <= 3) - 0.95) < 0.01


class Quantiles(Generator):
    """A distribution given by its quantiles, as learnt from real data: ``values`` are the column's values at the
    ``probabilities`` (increasing from 0 to 1; default evenly spaced, so the first value is the minimum and the
    last the maximum). A row's value is drawn by the inverse of the piecewise-linear distribution through those
    points: any shape, skewed or with spikes (a value repeated over several quantiles is a point mass). An int64
    column takes the next whole number up, so that a value listed at probability p holds at least p of the rows
    up to it."""

    name = "quantiles"
    keys, required = ("values", "probabilities"), ("values",)
    types, default_type = _NUMBERS, "float64"
    random = may_be_by = True
    example = Example(
        spec="""\
dataset: departures
columns:
  - name: delay_min
    generator: quantiles          # minutes late, at the 0%, 10%, ..., 100% points
    values: [-30, -8, -5, -3, -1, 0, 0, 8, 20, 45, 600]
  - name: party
    type: int64
    generator: quantiles
    values: [1, 1, 2, 3, 12]
    probabilities: [0, 0.5, 0.75, 0.95, 1]
""",
        shows="`delay_min` runs from 30 minutes early to 600 late, on time or early in 60% of the rows (0 is both "
              "the 50% and the 60% point: a spike at 0, the median), 10% of the rows past 45 minutes; `party` is a "
              "whole number from 1 to 12: 1 in half the rows, 2 or fewer in 75%, 3 or fewer in 95%.",
        check=_delays_follow_their_quantiles)

    @dataclass(frozen=True)
    class Params(Parameters):
        values: tuple[float, ...]
        probabilities: tuple[float, ...]

    @classmethod
    def check(cls, given, ctype, where):
        values = given.get("values")
        if (not isinstance(values, (list, tuple)) or len(values) < 2 or not all(checks.is_number(v) for v in values)
                or any(b < a for a, b in zip(values, values[1:]))):
            raise where.error(f"values: expected a list of at least two numbers in increasing order (the "
                              f"quantiles), got {values!r}")
        for v in (values[0], values[-1]):
            checks.fits(v, ctype, where, "values")
        probs = given.get("probabilities")
        if probs is None:
            probs = [k / (len(values) - 1) for k in range(len(values))]
        elif (not isinstance(probs, (list, tuple)) or len(probs) != len(values)
              or not all(checks.is_number(q) for q in probs) or probs[0] != 0 or probs[-1] != 1
              or any(b <= a for a, b in zip(probs, probs[1:]))):
            raise where.error(f"probabilities: expected {len(values)} numbers rising from 0 to 1, one per value, "
                              f"got {probs!r}")
        return cls.Params(tuple(float(v) for v in values), tuple(float(q) for q in probs)), ()

    def make(self, b, positions):
        p = self.params
        u = b.uniform(self.name, positions)
        x = np.interp(u, p.probabilities, p.values)
        if self.column.type.name == "int64":  # the next whole number up: at most value k at probability k's
            x = np.ceil(x)
        return Col(x)


def _heights_around_170_and_scores_in_range(rows):
    height, score = rows["height_cm"], rows["credit_score"]
    assert all(140 <= h <= 210 and round(h, 1) == h for h in height)
    assert abs(np.mean(height) - 170) < 0.4 and abs(np.std(height, ddof=1) - 9) < 0.3
    assert all(isinstance(s, int) and 300 <= s <= 850 for s in score)
    # Cut at 850, 2 sd above 680 (300 is too far below to matter), the mean moves down by 85 phi(2) / Phi(2).
    cut = 85 * math.exp(-2) / math.sqrt(2 * math.pi) / normal_cdf(2.0)
    assert abs(np.mean(score) - (680 - cut)) < 3


class Normal(Generator):
    """A normal, optionally truncated. Where the column's values are a grid (whole numbers, or a number of
    decimals) over a truncated range of at most 16,384 points, each grid value is drawn through a lookup table of
    its exact probability (to 2**-18), the same distribution as drawing and rounding, at a fraction of the cost."""

    name = "normal"
    keys, required = ("mean", "sd", "truncate"), ("mean", "sd")
    types, default_type = _NUMBERS, "float64"
    random = True
    example = Example(
        spec="""\
dataset: people
columns:
  - name: height_cm
    generator: normal
    mean: 170
    sd: 9
    truncate: [140, 210]
    decimals: 1
  - name: credit_score
    type: int64
    generator: normal
    mean: 680
    sd: 85
    truncate: [300, 850]
""",
        shows="`height_cm` averages 170 with a standard deviation of about 9, from 140 to 210 to one decimal, and "
              "`credit_score` is a whole number from 300 to 850 around 680.",
        check=_heights_around_170_and_scores_in_range)

    GRID_POINTS = 1 << 14
    TABLE_BITS = 18

    @dataclass(frozen=True)
    class Params(Parameters):
        mean: float
        sd: float
        truncate: tuple | None = None

    @classmethod
    def check(cls, given, ctype, where):
        mean, sd = checks.number(given, "mean", where), checks.number(given, "sd", where, positive=True)
        truncate = checks.bounds(given["truncate"], ctype, where, "truncate") if "truncate" in given else None
        return cls.Params(mean, sd, truncate), ()

    def __init__(self, column, dataset):
        super().__init__(column, dataset)
        self.grid = self._grid()

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.params.mean) / self.params.sd
        return np.array([normal_cdf(v) for v in z])

    def _grid(self):
        bounds, t = self.params.truncate, self.column.type
        decimals = 0 if t.name == "int64" else self.column.decimals
        if bounds is None or decimals is None:
            return None
        step = 10.0 ** -decimals
        first, last = round(bounds[0] / step), round(bounds[1] / step)
        if last - first + 1 > self.GRID_POINTS:
            return None
        k = np.arange(first, last + 1)
        lo = np.maximum((k - 0.5) * step, bounds[0])
        hi = np.minimum((k + 0.5) * step, bounds[1])
        mass = np.maximum(self._cdf(hi) - self._cdf(lo), 0.0)
        mass[mass < mass.sum() * 2.0 ** -(self.TABLE_BITS + 1)] = 0.0  # below the table's resolution
        return WeightedChoice(mass, bits=self.TABLE_BITS), np.round(k * step, decimals)

    def make(self, b, positions):
        if self.grid is not None:
            table, values = self.grid
            field = (b.bits(self.name, positions) >> np.uint64(64 - table.bits)).view(np.int64)
            return Col(values[table(field)])
        return Col(self._draw(b.uniform(self.name, positions)))

    def _draw(self, u):
        p = self.params
        return truncated_normal(u, p.mean, p.sd, p.truncate)


def _half_the_amounts_below_20(rows):
    amount = [float(a) for a in rows["amount"]]
    assert 18.5 < np.median(amount) < 21.5 and 0.5 <= min(amount) and max(amount) <= 25000
    minutes = rows["minutes"]
    assert all(isinstance(m, int) and 60 <= m <= 360 for m in minutes) and 95 <= np.median(minutes) <= 106


class LogNormal(Normal):
    """``exp`` of a normal of mean ``log(median)`` and standard deviation ``sigma``, optionally truncated."""

    name = "lognormal"
    keys, required = ("median", "sigma", "truncate"), ("median", "sigma")
    example = Example(
        spec="""\
dataset: payments
columns:
  - name: amount
    type: numeric(10, 2)
    generator: lognormal
    median: 20
    sigma: 1.45
    truncate: [0.5, 25000]
  - name: minutes
    type: int64
    generator: lognormal
    median: 100
    sigma: 0.25
    truncate: [60, 360]
""",
        shows="Half the `amount`s are below about 20, with a long tail up to 25,000 and none below 0.50; `minutes` is "
              "a whole number from 60 to 360, half of them below about 100.",
        check=_half_the_amounts_below_20)

    @dataclass(frozen=True)
    class Params(Parameters):
        median: float
        sigma: float
        truncate: tuple | None = None

    @classmethod
    def check(cls, given, ctype, where):
        median = checks.number(given, "median", where, positive=True)
        sigma = checks.number(given, "sigma", where, positive=True)
        truncate = None
        if "truncate" in given:
            lo, hi = checks.bounds(given["truncate"], ctype, where, "truncate")
            if hi <= 0:
                raise where.error(f"truncate: a log-normal is above 0: expected high above 0, got "
                                  f"{given['truncate']!r}")
            truncate = (lo, hi)
        return cls.Params(median, sigma, truncate), ()

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        with np.errstate(divide="ignore"):
            z = (np.log(x) - math.log(p.median)) / p.sigma
        return np.array([normal_cdf(v) for v in z])

    def _draw(self, u):
        p = self.params
        bounds = p.truncate
        if bounds is not None:
            lo = math.log(bounds[0]) if bounds[0] > 0 else -745.0
            bounds = (lo, math.log(bounds[1]))
        return np.exp(truncated_normal(u, math.log(p.median), p.sigma, bounds))


def _a_few_authors_make_many_films_each_of_one_quality(rows):
    author, quality = rows["author_id"], rows["author_quality"]
    assert all(1 <= a <= 50_000 for a in author)
    assert 0.03 < sum(a <= 100 for a in author) / len(author) < 0.05
    assert len(set(zip(author, quality))) == len(set(author))


class Zipf(Generator):
    """Whole numbers 1..n, 1 the most frequent: P(k) about proportional to k ** -exponent (a pool of n entities,
    a few of which make most of the rows)."""

    name = "zipf"
    keys, required = ("n", "exponent"), ("n",)
    types, default_type = ("int64",), "int64"
    random = True
    example = Example(
        spec="""\
dataset: films
columns:
  - name: author_id
    generator: zipf
    n: 50000
    exponent: 0.5
  - name: author_quality
    per: author_id               # one quality per author, on all their films
    generator: normal
    mean: 0
    sd: 1
""",
        shows="`author_id` is one of 50,000 authors, the first 100 of whom make about 4% of the films (20 times "
              "their share of the pool), and all the films of an author have the same `author_quality`.",
        check=_a_few_authors_make_many_films_each_of_one_quality)

    @dataclass(frozen=True)
    class Params(Parameters):
        n: int
        exponent: float

    @classmethod
    def check(cls, given, ctype, where):
        n = checks.fits(checks.number(given, "n", where, whole=True, positive=True), ctype, where, "n")
        return cls.Params(n, checks.number(given, "exponent", where, 1.0, positive=True)), ()

    @classmethod
    def pool(cls, params):
        return params.n

    def make(self, b, positions):
        p = self.params
        return Col(zipf_rank(b.uniform(self.name, positions), p.n, p.exponent) + 1)


def _every_code_once_as_long_as_its_row_number(rows):
    code = rows["code"]
    assert len(set(code)) == len(code) and all(len(str(c)) == len(str(i + 1)) for i, c in enumerate(code))
    assert sorted(code[:9]) == list(range(1, 10)) != code[:9] and sorted(code[9:99]) == list(range(10, 100))
    assert len(set(rows["login"])) == len(code)


class Permutation(Generator):
    """A number of its own for every row, as short as the row's number and in an order that looks random: row i
    takes j = i + 1 moved within its decade [10**k, 10**(k + 1)) by a permutation of that decade keyed by the
    column's stream. The permutation is a Feistel network on the decade's 9 * 10**k numbers written as pairs
    (high, low) of two near-equal ranges 3 * 10**(k // 2) and 3 * 10**((k + 1) // 2): each round adds a keyed
    hash of one half to the other, modulo its range, which can be undone; so no two rows share a value, whatever
    the row count, and none needs another row to be made."""

    name = "permutation"
    types, default_type = ("int64",), "int64"
    example = Example(
        spec="""\
dataset: accounts
columns:
  - name: code
    generator: permutation       # 3, 4, 9, 7, ... then 67, 78, 27, ...: never twice
  - name: first
    hidden: true
    generator: categorical
    vocabulary: first_names
  - name: login
    generator: template
    template: "{first|lower}{code}"   # e.g. mary58: unique, since the code is
""",
        shows="Rows 0 to 8 take the `code`s 1 to 9 in a shuffled order, rows 9 to 98 take 10 to 99, and so on: no "
              "two rows share a `code`, so no two share a `login`.",
        check=_every_code_once_as_long_as_its_row_number)

    ROUNDS = 6
    TABLE_SIZE = 90_000  # decades up to this size (numbers of up to 5 digits) are shuffled through a table
    MAX_DIGITS = 18  # decades up to 10**18: both halves below 2**32, every value an int64

    def make(self, b, positions):
        out = np.empty(b.n, dtype=np.int64)
        first, last = b.start + 1, b.stop  # j of the batch's first and last rows
        if last >= 10 ** self.MAX_DIGITS:
            raise ValueError(f"{self.name}: a permutation numbers fewer than 10**{self.MAX_DIGITS} rows")
        for k in range(len(str(first)) - 1, len(str(last))):
            a, z = max(first, 10 ** k), min(last, 10 ** (k + 1) - 1)  # the batch's rows in decade k
            if a > z:
                continue
            x = np.arange(a - 10 ** k, z - 10 ** k + 1, dtype=np.uint64)
            out[a - first:z - first + 1] = self._permute(b, k, x).view(np.int64) + 10 ** k
        return Col(out)

    def _permute(self, b, k: int, x: np.ndarray) -> np.ndarray:
        if 9 * 10 ** k <= self.TABLE_SIZE:  # short numbers, the most seen: a shuffle of the whole decade, made once
            key = (self.name, b.seed, "decade", k)
            table = b.gen.cache.get(key)
            if table is None:
                bits = row_bits(b.gen.key(b.seed, f"{self.name}#{k}"), 0, 9 * 10 ** k)
                table = b.gen.cache[key] = np.argsort(bits, kind="stable").astype(np.uint64)
            return table[x.astype(np.int64)]
        sizes = (np.uint64(3 * 10 ** (k // 2)), np.uint64(3 * 10 ** ((k + 1) // 2)))
        halves = [x // sizes[1], x % sizes[1]]  # x = high * sizes[1] + low
        for r in range(self.ROUNDS):
            side = r % 2  # even rounds change the high half, odd ones the low half
            # A keyed hash of the other half (a multiply-xorshift), its top 32 bits scaled to this half's range.
            h = halves[1 - side] + np.uint64(b.gen.key(b.seed, f"{self.name}#{k}.{r}"))
            h *= np.uint64(_MIX1)
            h ^= h >> np.uint64(29)
            h *= np.uint64(_MIX2)
            h >>= np.uint64(32)
            h *= sizes[side]
            h >>= np.uint64(32)
            h += halves[side]
            halves[side] = np.minimum(h, h - sizes[side])  # modulo the range: below it, h - range wraps around
        return halves[0] * sizes[1] + halves[1]


_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # SplitMix64's multipliers
