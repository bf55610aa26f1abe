"""The checks of the values a spec gives, shared by the spec's reader (datagen/spec.py) and every generator
(datagen/generators/): numbers, bounds a column's type must hold, dates, timestamps and weights, each mistake a
:class:`SpecError` of one line."""

from __future__ import annotations

import datetime
import math
import re

from datagen.types import ColumnType

DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")


class SpecError(ValueError):
    """A mistake in a spec: ``str()`` is one line, ``<file>: column '<name>': <what was expected>``."""


class Where:
    """Builds error messages for one place in one file."""

    def __init__(self, source: str, column: str | None = None):
        self.source, self.column = source, column

    def error(self, message: str) -> SpecError:
        at = f"column {self.column!r}: " if self.column else ""
        return SpecError(f"{self.source}: {at}{message}")


def is_number(v) -> bool:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # a whole number beyond any float: no column type holds it
        return False


def number(params, key, where, default=None, positive=False, whole=False):
    v = params.get(key, default)
    if not is_number(v) or (whole and int(v) != v) or (positive and v <= 0):
        what = "a whole number" if whole else "a number"
        raise where.error(f"{key}: expected {what}{' above 0' if positive else ''}, got {v!r}")
    return int(v) if whole else float(v)


def pair(v, where, key):
    if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(is_number(x) for x in v) or v[0] > v[1]:
        raise where.error(f"{key}: expected [low, high] with low <= high, got {v!r}")
    return (float(v[0]), float(v[1]))


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _numeric_range(t: ColumnType) -> str:
    top = f"{10 ** (t.precision - t.scale) - 1}" + (f".{'9' * t.scale}" if t.scale else "")
    return f"from -{top} to {top}"


def fits(v, t: ColumnType, where, key, what=None):
    """Refuses a number the column's values take or are bounded by (a value, min or max, a truncate or clip bound)
    that its type cannot hold: written out of range, an int64 would wrap around and a numeric(p, s) would be an
    invalid decimal. A numeric is rounded to s decimals first, as every value of the column is."""
    what = f"{v!r}" if what is None else what
    if t.name == "int64" and not INT64_MIN <= v <= INT64_MAX:
        raise where.error(f"{key}: {what} does not fit int64: expected a whole number from {INT64_MIN} to "
                          f"{INT64_MAX}")
    if t.name == "numeric":
        f = 10.0 ** t.scale  # as the engine writes it: numpy's round(v, s), then rint(v * 10**s), halves to even
        held = abs(v) < 10.0 ** t.precision and abs(round(round(v * f) / f * f)) < 10 ** t.precision
        if not held:
            raise where.error(f"{key}: {what} does not fit {t}: expected a number {_numeric_range(t)}")
    return v


def bounds(v, t: ColumnType, where, key):
    """A [low, high] pair bounding a number column's values, each of which its type must hold."""
    lo, hi = pair(v, where, key)
    for x in v:
        fits(x, t, where, key, f"{x!r} in {list(v)!r}")
    return lo, hi


def value(v, t: ColumnType, where, key):
    """One value as the column's type takes it (a YAML date for a date column, a number for int64, ...)."""
    ok = {
        "string": lambda x: isinstance(x, str),
        "int64": lambda x: is_number(x) and int(x) == x,
        "float64": is_number, "numeric": is_number,
        "bool": lambda x: isinstance(x, bool),
        "date": lambda x: isinstance(x, (datetime.date, str)),
        "timestamp": lambda x: isinstance(x, (datetime.datetime, datetime.date, str)),
    }[t.name]
    if not ok(v):
        raise where.error(f"{key}: {v!r} does not fit the column's type {t}")
    if t.name == "int64":
        return fits(int(v), t, where, key, repr(v))
    if t.name in ("float64", "numeric"):
        return float(fits(v, t, where, key))
    if t.name == "date":
        return date(v, where, key).isoformat()
    if t.name == "timestamp":
        return timestamp(v, where, key).isoformat()
    return v


def date(v, where, key) -> datetime.date:
    if isinstance(v, datetime.datetime):
        v = v.date()
    if isinstance(v, datetime.date):
        return v
    try:
        return datetime.date.fromisoformat(str(v))
    except ValueError:
        raise where.error(f"{key}: expected a date such as 2020-01-31, got {v!r}") from None


def timestamp(v, where, key) -> datetime.datetime:
    if isinstance(v, datetime.datetime):
        ts = v
    elif isinstance(v, datetime.date):
        ts = datetime.datetime(v.year, v.month, v.day)
    else:
        try:
            ts = datetime.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        except ValueError:
            raise where.error(f"{key}: expected a timestamp such as 2020-01-31 13:45:00, got {v!r}") from None
    if ts.tzinfo is not None:
        try:
            ts = ts.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        except OverflowError:  # year 1 in a zone east of UTC, year 9999 west of it
            raise where.error(f"{key}: {v!r} is out of range in UTC: expected a timestamp from year 1 to "
                              "9999") from None
    return ts


def weights(w, n, where, key="weights"):
    if not isinstance(w, list) or not all(is_number(x) for x in w):
        raise where.error(f"{key}: expected a list of numbers, got {w!r}")
    if len(w) != n:
        raise where.error(f"{key}: {len(w)} weights for {n} values: expected one weight per value")
    if any(x < 0 for x in w):
        raise where.error(f"{key}: expected weights of 0 or more, got {min(w)!r}")
    if sum(w) <= 0:
        raise where.error(f"{key}: expected at least one weight above 0")
    return [float(x) for x in w]


def key_fits(k, c, where, key):
    """A case of ``by`` or a map's key, for a column ``c`` (a ColumnSpec) whose values are not listed: a value of
    its type, or it would match no row."""
    t = c.type.name
    ok = {"string": lambda x: isinstance(x, str), "bool": lambda x: isinstance(x, bool),
          "int64": lambda x: is_number(x) and int(x) == x and INT64_MIN <= x <= INT64_MAX,
          "float64": is_number, "numeric": is_number}.get(t, lambda x: True)
    if not ok(k):
        quote = " (quote it)" if t == "string" else ""
        raise where.error(f"{key}: {k!r} is not a value of {c.name!r}: expected a value of type {c.type}{quote}")
