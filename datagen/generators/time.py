"""The generators of moments: date_range and timestamp_range, with a density that may grow over the range."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np

from datagen import checks
from datagen.columns import Col
from datagen.generators.base import Example, Generator, Parameters
from datagen.randomness import WeightedChoice, unit_interval
from datagen.types import EPOCH, EPOCH_DATETIME


def _growth(given, where) -> float:
    return checks.number(given, "growth", where, 1.0, positive=True)


def _ramp(u: np.ndarray, g: float) -> np.ndarray:
    """t in [0, 1) with density rising linearly from 1 to g (inverse CDF)."""
    if g == 1.0:
        return u
    a = g - 1.0
    return (np.sqrt(1.0 + a * (2.0 + a) * u) - 1.0) / a


def _four_times_as_many_a_day_at_the_end(rows):
    first, last = datetime.date(1920, 1, 1), datetime.date(2025, 12, 31)
    assert all(first <= d <= last for d in rows["premiere"])
    # Where the density rises linearly from 1 to g over [0, 1), the mean is (1/2 + a/3) / (1 + a/2) with a = g - 1.
    m = np.mean([(d - first).days / ((last - first).days + 1) for d in rows["premiere"]])
    assert abs(1 + (0.5 - m) / (m / 2 - 1 / 3) - 4) < 0.7


class DateRange(Generator):
    """Days from start to end; with ``growth`` g the density rises linearly to g times its start value."""

    name = "date_range"
    keys, required = ("start", "end", "growth"), ("start", "end")
    types, default_type = ("date",), "date"
    random = True
    example = Example(
        spec="""\
dataset: films
columns:
  - name: premiere
    type: date
    generator: date_range
    start: 1920-01-01
    end: 2025-12-31
    growth: 4                    # four times as many a day at the end as at the start
""",
        shows="`premiere` is a day from 1920 to 2025, with four times as many films a day at the end as at the "
              "start.",
        check=_four_times_as_many_a_day_at_the_end)

    @dataclass(frozen=True)
    class Params(Parameters):
        start: str  # ISO dates
        end: str
        growth: float

    @classmethod
    def check(cls, given, ctype, where):
        start, end = checks.date(given["start"], where, "start"), checks.date(given["end"], where, "end")
        if end < start:
            raise where.error(f"end: expected a date on or after start {start}, got {end}")
        return cls.Params(start.isoformat(), end.isoformat(), _growth(given, where)), ()

    def __init__(self, column, dataset):
        super().__init__(column, dataset)
        p = self.params
        self.first = (datetime.date.fromisoformat(p.start) - EPOCH).days
        self.span = (datetime.date.fromisoformat(p.end) - EPOCH).days - self.first + 1
        self.growth = p.growth

    def make(self, b, positions):
        t = _ramp(b.uniform(self.name, positions), self.growth)
        return Col(self.first + np.minimum(np.floor(t * self.span), self.span - 1).astype(np.int32))


_EXAMPLE_HOURLY = [1, 1, 1, 1, 1, 2, 4, 6, 8, 8, 8, 8, 9, 8, 8, 8, 8, 9, 10, 10, 8, 6, 4, 2]


def _a_moment_of_2024_by_the_hourly_weights(rows):
    utc = datetime.timezone.utc
    at = rows["at"]
    assert all(datetime.datetime(2024, 1, 1, tzinfo=utc) <= t < datetime.datetime(2025, 1, 1, tzinfo=utc) for t in at)
    hours = [t.hour for t in at]
    assert all(abs(hours.count(h) / len(at) - w / sum(_EXAMPLE_HOURLY)) < 0.01 for h, w in enumerate(_EXAMPLE_HOURLY))


class TimestampRange(Generator):
    """Seconds from start to end; ``growth`` as for dates; ``hourly`` weights the 24 hours of the day (UTC)."""

    name = "timestamp_range"
    keys, required = ("start", "end", "growth", "hourly"), ("start", "end")
    types, default_type = ("timestamp",), "timestamp"
    random = True
    example = Example(
        spec=f"""\
dataset: logins
columns:
  - name: at
    type: timestamp
    generator: timestamp_range
    start: 2024-01-01 00:00:00
    end: 2025-01-01 00:00:00
    hourly: {_EXAMPLE_HOURLY}
""",
        shows="`at` is a moment of 2024, whose hour follows the weights: from 18:00 to 20:00 ten times as often as "
              "from midnight to 05:00.",
        check=_a_moment_of_2024_by_the_hourly_weights)

    @dataclass(frozen=True)
    class Params(Parameters):
        start: str  # ISO timestamps, UTC
        end: str
        growth: float
        hourly: tuple | None = None

    @classmethod
    def check(cls, given, ctype, where):
        start, end = checks.timestamp(given["start"], where, "start"), checks.timestamp(given["end"], where, "end")
        if end <= start:
            raise where.error(f"end: expected a timestamp after start {start}, got {end}")
        hourly = tuple(checks.weights(given["hourly"], 24, where, "hourly")) if "hourly" in given else None
        return cls.Params(start.isoformat(), end.isoformat(), _growth(given, where), hourly), ()

    def __init__(self, column, dataset):
        super().__init__(column, dataset)
        p = self.params
        start = datetime.datetime.fromisoformat(p.start)
        end = datetime.datetime.fromisoformat(p.end)
        self.first = int((start - EPOCH_DATETIME).total_seconds())
        self.span = int((end - start).total_seconds())
        self.growth = p.growth
        self.hourly = WeightedChoice(p.hourly, bits=16) if p.hourly is not None else None

    def make(self, b, positions):
        bits = b.bits(self.name, positions)
        t = _ramp(unit_interval(bits), self.growth)
        seconds = self.first + np.minimum(np.floor(t * self.span), self.span - 1).astype(np.int64)
        if self.hourly is not None:
            # Keep the day the ramp gave, redraw the second of the day from the hourly weights.
            second_bits = b.bits(f"{self.name}#hour", positions)
            hour = self.hourly((second_bits >> np.uint64(48)).view(np.int64)).astype(np.int64)
            within = ((second_bits & np.uint64(0xFFFFFFFF)).view(np.int64) * 3600) >> 32
            day = np.floor_divide(seconds, 86400)
            seconds = day * 86400 + hour * 3600 + within
            # On a partial first or last day, a time outside the range moves to the same hour of the next or
            # previous day, so the hours keep their weights (a range shorter than a day is cut to it).
            last = self.first + self.span - 1
            seconds = np.where(seconds < self.first, seconds + 86400, seconds)
            seconds = np.where(seconds > last, seconds - 86400, seconds)
            seconds = np.clip(seconds, self.first, last)
        return Col(seconds * 1_000_000)
