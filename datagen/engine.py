"""Compiles a dataset spec into vectorised column generators: ``compile_dataset(spec, run).batch(seed, a, b)``
returns rows [a, b) as one Arrow record batch.

Every random value of a column comes from its own counter-based stream, keyed by (seed, dataset, column name)
at the row's index (or, with ``per``, at the entity number the row belongs to), so row ``i`` is a pure function
of (seed, dataset, column, i): batches cut anywhere give the same rows, and adding, removing or reordering a
column leaves the other columns' values as they were. Columns are made in dependency order, whole arrays at a
time: lookup tables for choices, an inverse CDF for normals, one Arrow ``take`` to compose strings. No Python
runs per row.
"""

from __future__ import annotations

import datetime
import functools
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagen import expressions
from datagen.memory import reuse_freed_memory
from datagen.randomness import WeightedChoice, bits_at, row_bits, stream_key, table_bits, unit_interval
from datagen.spec import ColumnSpec, DatasetSpec, SpecError, template_parts
from datagen.text import Prefixes, compose, compose_ragged, merge_small_slots, split_integer_slots

EPOCH = datetime.date(1970, 1, 1)
_DAY_US = 86_400_000_000


@dataclass
class Col:
    """A column while a batch is made. ``data``: numpy values (int64, float64, bool, int32 days, int64 µs), an
    Arrow string array, or, for choices of strings, numpy codes into ``dictionary`` (``labels``: the spec's
    values behind those codes, before any filter). ``valid``: None, or False where the value is null."""

    data: object
    dictionary: pa.Array | None = None
    labels: list | None = None
    valid: np.ndarray | None = None


class Batch:
    """What one column's maker sees: the rows being made and the columns made so far."""

    def __init__(self, gen: DatasetGenerator, seed: int, start: int, stop: int):
        self.gen, self.seed, self.start, self.stop, self.n = gen, seed, start, stop, stop - start
        self.cols: dict[str, Col] = {}
        self.memo: dict = {}  # functions of columns computed once for every expression of these rows

    def bits(self, stream: str, positions: np.ndarray | None) -> np.ndarray:
        key = self.gen.key(self.seed, stream)
        return row_bits(key, self.start, self.stop) if positions is None else bits_at(key, positions)

    def uniform(self, stream: str, positions) -> np.ndarray:
        return unit_interval(self.bits(stream, positions))


# --- distributions -----------------------------------------------------------------------------------------

_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
      -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
      -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
      4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_P_LOW = 0.02425


def normal_ppf(p: np.ndarray) -> np.ndarray:
    """The standard normal's inverse CDF (Acklam's rational approximation, relative error below 1.2e-9), for p
    in [0, 1); computed in place, a pass per term, since it is on the hot path of every normal draw."""
    q = np.subtract(p, 0.5)
    r = q * q
    num = r * _A[0]
    for a in _A[1:]:
        num += a
        num *= r if a is not _A[-1] else 1.0
    num *= q
    den = r * _B[0]
    for b in _B[1:]:
        den += b
        den *= r
    den += 1.0
    num /= den
    tails = np.flatnonzero(np.abs(q) > 0.5 - _P_LOW)
    if len(tails):
        pt = np.asarray(p)[tails]
        t = np.sqrt(-2 * np.log(np.maximum(np.minimum(pt, 1 - pt), 1e-300)))
        xt = (((((_C[0] * t + _C[1]) * t + _C[2]) * t + _C[3]) * t + _C[4]) * t + _C[5]) / \
             ((((_D[0] * t + _D[1]) * t + _D[2]) * t + _D[3]) * t + 1)
        num[tails] = np.where(pt < 0.5, xt, -xt)
    return num


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def truncated_normal(u: np.ndarray, mean: float, sd: float, bounds=None) -> np.ndarray:
    """mean + sd * z with z standard normal, cut to ``bounds`` by drawing only inside them (inverse CDF)."""
    if bounds is None:
        return mean + sd * normal_ppf(u)
    a, b = normal_cdf((bounds[0] - mean) / sd), normal_cdf((bounds[1] - mean) / sd)
    return np.clip(mean + sd * normal_ppf(a + u * (b - a)), bounds[0], bounds[1])


# --- column makers -----------------------------------------------------------------------------------------

class Maker:
    """Makes one column's values for a batch; ``positions`` (or None for the row indices) index its streams."""

    def __init__(self, spec: ColumnSpec, gen: DatasetGenerator):
        self.spec, self.name = spec, spec.name

    def make(self, b: Batch, positions) -> Col:
        raise NotImplementedError


class Sequence(Maker):
    def make(self, b, positions):
        p = self.spec.params
        return Col(np.arange(b.start, b.stop, dtype=np.int64) * p["step"] + p["start"])


class Constant(Maker):
    def __init__(self, spec, gen):
        super().__init__(spec, gen)
        self.value = _native([spec.params["value"]], spec.type)

    def make(self, b, positions):
        if self.spec.type.name == "string":
            return Col(np.zeros(b.n, dtype=np.int16), pa.array(self.value, pa.string()), list(self.value))
        return Col(np.repeat(self.value, b.n))


class Uniform(Maker):
    def make(self, b, positions):
        p = self.spec.params
        u = b.uniform(self.name, positions)
        if self.spec.type.name == "int64":
            lo, hi = int(p["min"]), int(p["max"])
            return Col(np.minimum(np.floor(u * (hi - lo + 1)), hi - lo).astype(np.int64) + lo)
        return Col(p["min"] + u * (p["max"] - p["min"]))


class Normal(Maker):
    """A normal, optionally truncated. Where the column's values are a grid (whole numbers, or a number of
    decimals) over a truncated range of at most 16,384 points, each grid value is drawn through a lookup table of
    its exact probability (to 2**-18), the same distribution as drawing and rounding, at a fraction of the cost."""

    GRID_POINTS = 1 << 14
    TABLE_BITS = 18

    def __init__(self, spec, gen):
        super().__init__(spec, gen)
        self.grid = self._grid()

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        p = self.spec.params
        z = (x - p["mean"]) / p["sd"]
        return np.array([normal_cdf(v) for v in z])

    def _bounds(self):
        return self.spec.params.get("truncate")

    def _grid(self):
        bounds, t = self._bounds(), self.spec.type
        decimals = 0 if t.name == "int64" else self.spec.decimals
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
        p = self.spec.params
        return truncated_normal(u, p["mean"], p["sd"], p.get("truncate"))


class LogNormal(Normal):
    def _cdf(self, x: np.ndarray) -> np.ndarray:
        p = self.spec.params
        with np.errstate(divide="ignore"):
            z = (np.log(x) - math.log(p["median"])) / p["sigma"]
        return np.array([normal_cdf(v) for v in z])

    def _draw(self, u):
        p = self.spec.params
        bounds = p.get("truncate")
        if bounds is not None:
            lo = math.log(bounds[0]) if bounds[0] > 0 else -745.0
            bounds = (lo, math.log(bounds[1]))
        return np.exp(truncated_normal(u, math.log(p["median"]), p["sigma"], bounds))


def _choice_values(choice: dict) -> tuple[list, list | None]:
    from datagen import vocabulary

    if "vocabulary" in choice:
        values, weights = vocabulary.get(choice["vocabulary"])
        return list(values), None if weights is None else list(weights)
    return list(choice["values"]), choice.get("weights")


def _filtered(values: list, f: str | None) -> list:
    if f == "lower":
        return [v.lower() for v in values]
    if f == "upper":
        return [v.upper() for v in values]
    if f == "title":
        return [v.title() for v in values]
    return values


class Categorical(Maker):
    """One of a list of values by weight, through a lookup table; with ``by``, one table per case."""

    def __init__(self, spec, gen):
        super().__init__(spec, gen)
        p = spec.params
        if "by" not in p:
            cases = {None: p}
        else:
            cases = dict(p["cases"])
            if "default" in p:
                cases["default"] = p["default"]
        union: dict = {}
        per_case = []
        for key, choice in cases.items():
            values, weights = _choice_values(choice)
            for v in values:
                union.setdefault(v, len(union))
            per_case.append((key, values, weights or [1.0] * len(values)))
        self.labels = list(union)
        dense = np.zeros((len(per_case), len(union)))
        for i, (_, values, weights) in enumerate(per_case):
            dense[i, [union[v] for v in values]] = weights
        self.bits = max(table_bits(row) for row in dense)
        self.tables = np.stack([WeightedChoice(row, bits=self.bits).table for row in dense])
        self.flat_tables = self.tables.ravel()  # case c's table starts at c << bits
        self.case_keys = [k for k, _, _ in per_case]
        self.default = self.case_keys.index("default") if "default" in self.case_keys else -1
        if spec.type.name == "string":
            self.dictionary = pa.array(_filtered(self.labels, p.get("filter")), pa.string())
        else:
            self.values = _native(self.labels, spec.type)

    def make(self, b, positions):
        field = (b.bits(self.name, positions) >> np.uint64(64 - self.bits)).view(np.int64)
        valid = None
        if len(self.tables) == 1:
            codes = self.tables[0][field]
        else:
            parent = b.cols[self.spec.params["by"]]
            case = _case_index(parent, self.case_keys, self.default)
            valid = case >= 0
            if parent.valid is not None:
                valid &= parent.valid
            codes = self.flat_tables[(np.maximum(case, 0) << self.bits) + field]
            if valid.all():
                valid = None
        if self.spec.type.name == "string":
            return Col(codes, self.dictionary, self.labels, valid)
        return Col(self.values[codes], valid=valid)


def _case_index(parent: Col, keys: list, default: int) -> np.ndarray:
    """For each row, the index in ``keys`` of the parent's value (``default``, or -1, where it has no case)."""
    if parent.dictionary is not None:
        lookup = np.array([keys.index(v) if v in keys else default for v in parent.labels], dtype=np.int64)
        return lookup[parent.data]
    data = np.asarray(parent.data)
    known = [(k, i) for i, k in enumerate(keys) if k not in (None, "default")]
    out = np.full(len(data), default, dtype=np.int64)
    for k, i in known:
        out[data == k] = i
    return out


class Items(Maker):
    """k distinct values of a list, joined by a separator. Small lists (up to 64 values) draw an ordering from a
    table of 65,536 weighted orderings made once from the column's stream (weighted sampling without
    replacement); larger lists draw each item by weight and draw again where it repeats an earlier one."""

    TABLE_BITS = 16
    SMALL = 64
    # From a batch of this many rows on, every prefix of every ordering is kept as a range of one buffer
    # (Prefixes: 12 MB for 12 values, made once per process, then cheaper to draw); a smaller batch composes its rows'
    # pieces (a run of a few thousand rows would spend longer on the table than on its rows). The text is the same
    # either way.
    PREFIX_TABLE_ROWS = 1 << 15

    def __init__(self, spec, gen):
        super().__init__(spec, gen)
        p = spec.params
        values, weights = _choice_values(p)
        self.m = len(values)
        self.weights = np.asarray(weights or [1.0] * self.m, dtype=np.float64)
        self.count_column = p.get("count_column")
        self.kmax = max(p["count"])
        self.k_values = np.asarray(p["count"], dtype=np.int64)
        self.k_choice = WeightedChoice(p["count_weights"], bits=12)
        text = _filtered(values, p.get("filter"))
        sep = p["separator"]
        self.pieces = pa.array([v + sep for v in text] + text + [""] * self.m, pa.string())  # item, last, none
        self.separator_bytes = len(sep.encode())
        self.last_base = self.m
        mean_k = float(np.dot(p["count"], p["count_weights"]) / np.sum(p["count_weights"]))
        self.fixed_width = self.kmax <= 1.5 * mean_k
        if weights is None:  # equally likely: multiply-shift of a field wide enough that the bias is < 0.1%
            self.width = min(32, max(20, int(math.ceil(math.log2(self.m))) + 10))
            self.choice = lambda field: (field * self.m) >> self.width
        else:
            table = WeightedChoice(self.weights, bits=table_bits(self.weights))
            self.width, self.choice = table.bits, table

    def _orderings(self, gen, seed) -> np.ndarray:
        # Gumbel-top-k: the k smallest of -log(u) / w are a weighted sample without replacement, in order.
        size = 1 << self.TABLE_BITS
        key = gen.key(seed, f"{self.name}#orderings")
        u = unit_interval(row_bits(key, 0, size * self.m)).reshape(size, self.m)
        with np.errstate(divide="ignore"):
            keys = -np.log1p(-u) / self.weights
        order = np.argsort(keys, axis=1, kind="stable")[:, : self.kmax]
        return order.astype(np.int16)

    def make(self, b, positions):
        bits = b.bits(self.name, positions)
        if self.count_column:
            count = b.cols[self.count_column]
            k = np.clip(np.asarray(count.data, dtype=np.int64), 1, self.kmax)
        else:
            k = self.k_values[self.k_choice((bits >> np.uint64(52)).view(np.int64))]
        slots = None
        if self.m <= self.SMALL:  # a row is the first k items of one of the orderings
            tables = b.gen.cache.get((self.name, b.seed))
            if tables is None:
                tables = b.gen.cache[(self.name, b.seed)] = self._orderings(b.gen, b.seed)
            ordering = ((bits >> np.uint64(36)) & np.uint64(0xFFFF)).view(np.int64)
            prefixes = b.gen.cache.get((self.name, b.seed, "prefixes"))
            if prefixes is None and b.n >= self.PREFIX_TABLE_ROWS:
                prefixes = b.gen.cache[(self.name, b.seed, "prefixes")] = Prefixes(
                    self.pieces.slice(0, 2 * self.m), tables, self.separator_bytes)
            if prefixes is not None:
                return Col(prefixes.draw(ordering, k))
            chosen = tables[ordering]
        else:
            slots = self._draw_distinct(b, positions, bits, k)
        # Only the first k items of each row are written, the last one without its separator: as k pieces per
        # row, or, where most rows have about kmax items, as kmax pieces, the unused ones empty.
        if self.fixed_width:
            # Slot j of a row of k items: the item with its separator (j < k - 1), the last item (j = k - 1) or
            # nothing (j >= k): the item's number plus 0, m or 2m, looked up by k.
            shift = np.where(np.arange(self.kmax + 1)[:, None] - 1 == np.arange(self.kmax)[None, :], self.m,
                             np.where(np.arange(self.kmax + 1)[:, None] <= np.arange(self.kmax)[None, :],
                                      2 * self.m, 0)).astype(np.int32)
            index = np.empty((b.n, self.kmax), dtype=np.int32)
            for j in range(self.kmax):
                item = slots[j] if slots is not None else chosen[:, j]
                np.add(item, shift[:, j][k], out=index[:, j], casting="unsafe")
            return Col(compose(self.pieces, index))
        used = np.arange(self.kmax)[None, :] < k[:, None]
        flat = (chosen[used] if slots is None else np.stack(slots, axis=1)[used]).astype(np.int64)
        flat[np.cumsum(k) - 1] += self.last_base
        return Col(compose_ragged(self.pieces, flat, k))

    def _draw_distinct(self, b, positions, bits, k) -> list:
        """Slot j of every row: an item by weight, drawn again (from further streams, in those rows only) while
        it repeats an earlier slot of its row. Fields of ``width`` bits: the main stream's below the count's 12,
        then whole further streams."""
        width = self.width
        fields, stream = [], 0
        shift = 52 - width
        while len(fields) < self.kmax:
            if shift < 0:
                stream += 1
                bits, shift = b.bits(f"{self.name}#{stream}", positions), 64 - width
            fields.append(((bits >> np.uint64(shift)) & np.uint64((1 << width) - 1)).view(np.int64))
            shift -= width
        slots = []
        for j, field in enumerate(fields):
            item = self.choice(field).astype(np.int64, copy=False)
            if j:
                repeat = slots[0] == item
                for earlier in slots[1:]:
                    repeat |= earlier == item
                todo = np.flatnonzero(repeat & (k > j))
                for draw in range(1, 64):  # a repeat: draw again from the next stream, in those rows only
                    if not len(todo):
                        break
                    where = todo + b.start if positions is None else np.asarray(positions)[todo]
                    key = b.gen.key(b.seed, f"{self.name}#{j}.{draw}")
                    item[todo] = self.choice((bits_at(key, where) >> np.uint64(64 - width)).view(np.int64))
                    again = np.zeros(len(todo), dtype=bool)
                    for earlier in slots:
                        again |= earlier[todo] == item[todo]
                    todo = todo[again]
                for r in todo:  # 64 repeats in a row: the first value not chosen yet (all but impossible)
                    item[r] = next(v for v in range(self.m) if v not in [s[r] for s in slots])
            slots.append(item)
        return slots


class DateRange(Maker):
    """Days from start to end; with ``growth`` g the density rises linearly to g times its start value."""

    def __init__(self, spec, gen):
        super().__init__(spec, gen)
        p = spec.params
        self.first = (datetime.date.fromisoformat(p["start"]) - EPOCH).days
        self.span = (datetime.date.fromisoformat(p["end"]) - EPOCH).days - self.first + 1
        self.growth = p["growth"]

    def make(self, b, positions):
        t = _ramp(b.uniform(self.name, positions), self.growth)
        return Col(self.first + np.minimum(np.floor(t * self.span), self.span - 1).astype(np.int32))


def _ramp(u: np.ndarray, g: float) -> np.ndarray:
    """t in [0, 1) with density rising linearly from 1 to g (inverse CDF)."""
    if g == 1.0:
        return u
    a = g - 1.0
    return (np.sqrt(1.0 + a * (2.0 + a) * u) - 1.0) / a


class TimestampRange(Maker):
    """Seconds from start to end; ``growth`` as for dates; ``hourly`` weights the 24 hours of the day (UTC)."""

    def __init__(self, spec, gen):
        super().__init__(spec, gen)
        p = spec.params
        start = datetime.datetime.fromisoformat(p["start"])
        end = datetime.datetime.fromisoformat(p["end"])
        epoch = datetime.datetime(1970, 1, 1)
        self.first = int((start - epoch).total_seconds())
        self.span = int((end - start).total_seconds())
        self.growth = p["growth"]
        self.hourly = WeightedChoice(p["hourly"], bits=16) if "hourly" in p else None

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


class Template(Maker):
    """Text composed from literal parts and other columns, with filters; one Arrow ``take`` per batch."""

    def __init__(self, spec, gen):
        super().__init__(spec, gen)
        self.parts = template_parts(spec.params["template"])

    def make(self, b, positions):
        slots = []  # (pieces: pa.Array of strings, piece number of each row: np.ndarray)
        for part in self.parts:
            if part[0] == "lit":
                slots.append((pa.array([part[1]], pa.string()), np.zeros(b.n, dtype=np.int64)))
                continue
            col = b.cols[part[1]]
            if col.dictionary is not None:
                pieces = col.dictionary
                for f in part[2]:
                    pieces = _apply_filter(pieces, f)
                index = np.asarray(col.data, dtype=np.int64)
                if col.valid is not None:  # a null value writes nothing
                    pieces = pa.concat_arrays([pieces, pa.array([""], pa.string())])
                    index = np.where(col.valid, index, len(pieces) - 1)
                slots.append((pieces, index))
            elif b.gen.column_types[part[1]].name == "int64" and _is_small_int(col):  # a year: each value once
                data = np.asarray(col.data)
                lo, hi = int(data.min()), int(data.max())
                pieces = pa.array([str(v) for v in range(lo, hi + 1)] + [""], pa.string())
                index = data - lo
                if col.valid is not None:
                    index = np.where(col.valid, index, hi - lo + 1)
                slots.append((pieces, index))
            elif (split := _split_int(col, b.gen.column_types[part[1]])) is not None:
                slots.extend(split)
            else:
                text = _as_text(col, b.gen.column_types[part[1]])
                for f in part[2]:
                    text = _apply_filter(text, f)
                slots.append((text, np.arange(b.n, dtype=np.int64)))
        slots = merge_small_slots(slots)  # literals and small choices joined ahead: fewer pieces a row
        vocabulary = pa.concat_arrays([s[0] for s in slots])
        index = np.empty((b.n, len(slots)), dtype=np.int64)
        base = 0
        for j, (pieces, rows) in enumerate(slots):
            index[:, j] = rows + base
            base += len(pieces)
        return Col(compose(vocabulary, index))


def _split_int(col: Col, ctype) -> list | None:
    """Wide non-negative int64 values without nulls (a permutation's numbers) as two small slots, the digits
    above the last four and those four, as the CSV encoder writes them: cheaper than rendering each value."""
    data = col.data
    if ctype.name != "int64" or col.valid is not None or not isinstance(data, np.ndarray) or not len(data):
        return None
    return split_integer_slots(data, "")


def _is_small_int(col: Col) -> bool:
    data = col.data
    if not isinstance(data, np.ndarray) or data.dtype != np.int64 or not len(data):
        return False
    return int(data.max()) - int(data.min()) < min(1 << 16, len(data))


def _apply_filter(text: pa.Array, f: str) -> pa.Array:
    return {"lower": pc.utf8_lower, "upper": pc.utf8_upper, "title": pc.utf8_title}[f](text)


def _as_text(col: Col, ctype) -> pa.Array:
    arr = to_arrow(col, ctype)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_floating(arr.type):
        text = arr.cast(pa.string())
    elif pa.types.is_boolean(arr.type):
        text = pc.if_else(arr, "true", "false")
    else:
        text = arr.cast(pa.string())
    return pc.fill_null(text, "")


class Expression(Maker):
    def __init__(self, spec, gen):
        super().__init__(spec, gen)
        p = spec.params
        self.tree = expressions.parse(p["expression"])
        self.maps = p["maps"]
        self.types = gen.column_types

    def make(self, b, positions):
        valid = []

        def column(name):
            if name == "row":
                return np.arange(b.start, b.stop, dtype=np.float64)
            col = b.cols[name]
            if col.valid is not None:
                valid.append(col.valid)
            return _as_number(col, self.types[name])

        def lookup(map_name, name):
            col = b.cols[name]
            if col.valid is not None:
                valid.append(col.valid)
            table = self.maps[map_name]
            if col.dictionary is not None:
                per_code = np.array([float(table.get(v, 0.0)) for v in col.labels])
                return per_code[col.data]
            data = np.asarray(col.data)
            out = np.zeros(len(data))
            for k, v in table.items():
                out[data == k] = v
            return out

        def draw(function, k, args):
            u = b.uniform(f"{self.name}#draw{k}", None)
            if function == "normal":
                return args[0] + args[1] * normal_ppf(u)
            return args[0] + u * (np.asarray(args[1]) - args[0])

        x = expressions.evaluate(self.tree, column, lookup, draw, b.memo)
        x = np.broadcast_to(np.asarray(x, dtype=np.float64), (b.n,)).copy()
        if self.spec.clip is not None:  # an overflow to infinity is clipped too (NaN stays NaN, then null)
            x = np.clip(x, self.spec.clip[0], self.spec.clip[1])
        ok = np.isfinite(x)
        for v in valid:
            ok &= v
        x[~ok] = 0.0
        return Col(x, valid=None if ok.all() else ok)


def _as_number(col: Col, ctype) -> np.ndarray:
    data = np.asarray(col.data)
    if ctype.name == "timestamp":
        return data / _DAY_US
    return data.astype(np.float64)


class Reference(Maker):
    """Row numbers of another dataset of the run (or that dataset's sequence column at them)."""

    def __init__(self, spec, gen):
        super().__init__(spec, gen)
        p = spec.params
        ref = gen.run.get(p["dataset"])
        if ref is None:
            raise SpecError(f"{gen.spec.source}: column {self.name!r}: references dataset {p['dataset']!r}, which "
                            f"is not in this run")
        parent, self.rows = ref
        self.start, self.step = 0, 1
        if "column" in p:
            try:
                target = parent.column(p["column"])
            except KeyError:
                raise SpecError(f"{gen.spec.source}: column {self.name!r}: dataset {p['dataset']!r} has no column "
                                f"{p['column']!r}") from None
            if target.generator != "sequence":
                raise SpecError(f"{gen.spec.source}: column {self.name!r}: {p['dataset']}.{p['column']} is a "
                                f"{target.generator}; expected a sequence column (a key)")
            self.start, self.step = target.params["start"], target.params["step"]
        self.zipf = p["distribution"] == "zipf"
        self.exponent = p["exponent"]

    def make(self, b, positions):
        u = b.uniform(self.name, positions)
        n = self.rows
        if self.zipf:
            index = zipf_rank(u, n, self.exponent)
        else:
            index = np.minimum(np.floor(u * n).astype(np.int64), n - 1)
        return Col(self.start + index * self.step)


def zipf_rank(u: np.ndarray, n: int, s: float) -> np.ndarray:
    """Rank r in [0, n) (0 the most frequent) with P(r) about proportional to (r + 1) ** -s: the inverse CDF of
    the continuous power law on [1, n + 1), floored."""
    if abs(s - 1.0) < 1e-12:
        x = np.exp(u * math.log(n + 1.0))
    else:
        x = (math.pow(n + 1.0, 1 - s) - 1.0) * u + 1.0
        power = 1.0 / (1 - s)
        if power == round(power) and 1 <= power <= 4:  # e.g. exponent 0.5: a square, cheaper than a power
            x = functools.reduce(np.multiply, [x] * int(power))
        else:
            x = x ** power
    return np.clip(np.floor(x).astype(np.int64) - 1, 0, n - 1)


class Zipf(Maker):
    """Whole numbers 1..n, 1 the most frequent: P(k) about proportional to k ** -exponent (a pool of n entities,
    a few of which make most of the rows)."""

    def make(self, b, positions):
        p = self.spec.params
        return Col(zipf_rank(b.uniform(self.name, positions), p["n"], p["exponent"]) + 1)


class Permutation(Maker):
    """A number of its own for every row, as short as the row's number and in an order that looks random: row i
    takes j = i + 1 moved within its decade [10**k, 10**(k + 1)) by a permutation of that decade keyed by the
    column's stream. The permutation is a Feistel network on the decade's 9 * 10**k numbers written as pairs
    (high, low) of two near-equal ranges 3 * 10**(k // 2) and 3 * 10**((k + 1) // 2): each round adds a keyed
    hash of one half to the other, modulo its range, which can be undone; so no two rows share a value, whatever
    the row count, and none needs another row to be made."""

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


MAKERS = {
    "sequence": Sequence, "constant": Constant, "uniform": Uniform, "normal": Normal, "lognormal": LogNormal,
    "categorical": Categorical, "items": Items, "date_range": DateRange, "timestamp_range": TimestampRange,
    "template": Template, "expression": Expression, "reference": Reference, "zipf": Zipf,
    "permutation": Permutation,
}


# --- values to Arrow ---------------------------------------------------------------------------------------

def _native(values: list, ctype) -> np.ndarray:
    """Spec values (already checked against the type) as the numpy form a column is held in."""
    if ctype.name == "string":
        return values
    if ctype.name == "date":
        return np.array([(datetime.date.fromisoformat(v) - EPOCH).days for v in values], dtype=np.int32)
    if ctype.name == "timestamp":
        epoch, us = datetime.datetime(1970, 1, 1), datetime.timedelta(microseconds=1)
        return np.array([(datetime.datetime.fromisoformat(v) - epoch) // us for v in values], dtype=np.int64)
    dtype = {"int64": np.int64, "float64": np.float64, "numeric": np.float64, "bool": np.bool_}[ctype.name]
    return np.array(values, dtype=dtype)


def finish(col: Col, spec: ColumnSpec, source: str = "<spec>") -> Col:
    """Clip, round and convert a column's numbers to its type; a generated number its type cannot hold is a
    SpecError naming the column (it would be written as another number, or as an invalid decimal)."""
    t = spec.type
    if col.dictionary is not None or isinstance(col.data, pa.Array):
        return col
    data = np.asarray(col.data)
    if t.is_number or t.name in ("bool", "date"):
        if spec.clip is not None and t.is_number:
            data = np.clip(data, spec.clip[0], spec.clip[1])
        if t.name == "int64" and data.dtype != np.int64:
            _check_fits(data, col.valid, float(1 << 63), t, spec, source)
            data = np.rint(data).astype(np.int64)
        elif t.name in ("float64", "numeric"):
            data = data.astype(np.float64)
            if spec.decimals is not None:
                data = np.round(data, spec.decimals)
            if t.name == "numeric":  # written as whole multiples of 10**-scale in 64 bits (to_arrow)
                _check_fits(np.round(data, t.scale), col.valid,
                            min(10.0 ** (t.precision - t.scale), float(1 << 63) / 10.0 ** t.scale), t, spec, source)
        elif t.name == "bool" and data.dtype != np.bool_:
            data = data != 0
        elif t.name == "date" and data.dtype != np.int32:
            data = np.floor(data).astype(np.int32)
    col.data = data
    return col


def _check_fits(data: np.ndarray, valid, limit: float, t, spec: ColumnSpec, source: str):
    """Every valid value of ``data`` is finite and below ``limit`` in size, or a SpecError naming one that is not."""
    size = np.abs(data if valid is None else data[valid])
    if size.size and not size.max() < limit:  # NaN fails too
        bad = float((data if valid is None else data[valid])[~(size < limit)][0])
        shown = f"{bad:.{t.scale}f}" if t.name == "numeric" else f"{bad:.15g}"
        raise SpecError(f"{source}: column {spec.name!r}: generated {shown}, which does not fit {t}: bound the "
                        "column with clip: [min, max] (or truncate) or change its generator")


def to_arrow(col: Col, ctype) -> pa.Array:
    mask = None if col.valid is None else ~col.valid
    if col.dictionary is not None:
        codes = np.asarray(col.data)
        small = len(col.dictionary) < (1 << 15)
        itype, dtype = (pa.int16(), np.int16) if small else (pa.int32(), np.int32)
        return pa.DictionaryArray.from_arrays(pa.array(codes.astype(dtype, copy=False), itype, mask=mask),
                                              col.dictionary)
    if isinstance(col.data, pa.Array):
        if mask is not None:
            return pc.if_else(pa.array(col.valid), col.data, pa.scalar(None, col.data.type))
        return col.data
    data = np.asarray(col.data)
    name = ctype.name
    if name == "date":
        return pa.array(data.astype(np.int32), pa.int32(), mask=mask).cast(pa.date32())
    if name == "timestamp":
        return pa.array(data.astype(np.int64), pa.int64(), mask=mask).cast(ctype.arrow)
    if name == "numeric":
        scaled = np.rint(data * 10.0 ** ctype.scale).astype(np.int64)
        if mask is not None:
            scaled[mask] = 0
        words = np.empty((len(scaled), 2), dtype=np.int64)
        words[:, 0] = scaled
        words[:, 1] = scaled >> 63
        validity = None if mask is None else pa.array(~mask).buffers()[1]
        return pa.Array.from_buffers(ctype.arrow, len(scaled), [validity, pa.py_buffer(words)],
                                     null_count=-1 if mask is not None else 0)
    return pa.array(data, ctype.arrow, mask=mask)


# --- the dataset -------------------------------------------------------------------------------------------

class DatasetGenerator:
    """A compiled spec: ``batch(seed, start, stop)`` gives rows [start, stop) as an Arrow record batch of the
    written columns, in the spec's order; ``schema`` is the dataset's contract (:mod:`datagen.contract`)."""

    def __init__(self, spec: DatasetSpec, run: dict):
        from datagen.contract import from_spec

        reuse_freed_memory()
        self.spec = spec
        self.run = run
        self.schema = from_spec(spec)
        self.column_types = {c.name: c.type for c in spec.columns}
        self.makers = {c.name: MAKERS[c.generator](c, self) for c in spec.columns}
        self.order = [spec.column(name) for name in spec.order]
        self.cache: dict = {}
        self._keys: dict = {}
        self._entity_of_template = {c.name: e for c in spec.columns if (e := self._template_entity(c))}

    def key(self, seed: int, stream: str) -> int:
        k = self._keys.get((seed, stream))
        if k is None:
            k = self._keys[(seed, stream)] = stream_key(seed, self.spec.name, stream)
        return k

    def batch(self, seed: int, start: int, stop: int) -> pa.RecordBatch:
        b = Batch(self, seed, start, stop)
        for c in self.order:
            self.make_column(b, c)
        return self.to_record_batch(b)

    def make_column(self, b: Batch, c: ColumnSpec) -> None:
        """Column ``c`` of the rows of ``b``, into ``b.cols`` (the columns it reads are made already)."""
        positions, per_valid = None, None
        entity = self._entity_of_template.get(c.name)
        if entity is not None:
            pool = self._entity_template(c, entity, b.seed)
            if pool is not None:  # composed once per process for every entity, then looked up
                b.cols[c.name] = _gather(pool, np.asarray(b.cols[entity].data) - 1)
                return
        if c.per:
            per = b.cols[c.per]
            positions, per_valid = np.asarray(per.data), per.valid
            pool = self._entity_values(c, b.seed)
            if pool is not None:  # made once per process for every entity, then looked up
                col = _gather(pool, positions - 1)
                if per_valid is not None:
                    col.valid = per_valid if col.valid is None else col.valid & per_valid
                b.cols[c.name] = col
                return
        b.cols[c.name] = self._make(b, c, positions, per_valid)

    def to_record_batch(self, b: Batch) -> pa.RecordBatch:
        """The written columns of ``b``, in the spec's order."""
        out = self.spec.output_columns
        arrays = [to_arrow(b.cols[c.name], c.type) for c in out]
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(
            [pa.field(c.name, a.type, nullable=c.nullable) for c, a in zip(out, arrays)]))

    def _make(self, b: Batch, c: ColumnSpec, positions, per_valid) -> Col:
        col = finish(self.makers[c.name].make(b, positions), c, self.spec.source)
        valid = col.valid
        if c.nulls:
            keep = b.uniform(f"{c.name}#nulls", positions) >= c.nulls
            valid = keep if valid is None else valid & keep
        if per_valid is not None:
            valid = per_valid if valid is None else valid & per_valid
        col.valid = valid
        return col

    POOL_LIMIT = 1 << 20

    def _entity_values(self, c: ColumnSpec, seed: int) -> Col | None:
        """A column drawn per entity of a ``zipf`` pool, reading nothing but the entity: its values for the
        whole pool, made once (entity k at position k, as a row-by-row draw would)."""
        key = (c.name, seed)
        if key in self.cache:
            return self.cache[key]
        entity = self.spec.column(c.per)
        pool = None
        if entity.generator == "zipf" and entity.params["n"] <= self.POOL_LIMIT and c.depends_on == (c.per,):
            n = entity.params["n"]
            whole = Batch(self, seed, 0, n)
            pool = self._make(whole, c, np.arange(1, n + 1, dtype=np.int64), None)
        self.cache[key] = pool
        return pool


    def _template_entity(self, c: ColumnSpec) -> str | None:
        """The entity whose per-entity columns are all that template ``c`` reads (e.g. an author's name from the
        author's first and last names), where it can be composed once per entity: the entity column is a
        ``zipf`` pool that is never null and ``c`` draws no nulls of its own."""
        if c.generator != "template" or c.nulls or not c.depends_on:
            return None
        entities = {self.spec.column(d).per for d in c.depends_on}
        if len(entities) != 1 or None in entities:
            return None
        entity = self.spec.column(entities.pop())
        if entity.generator != "zipf" or entity.nullable or entity.params["n"] > self.POOL_LIMIT:
            return None
        return entity.name

    def _entity_template(self, c: ColumnSpec, entity: str, seed: int) -> Col | None:
        """Template ``c`` for every entity (entity k at code k - 1), as codes into the composed texts."""
        key = (c.name, seed)
        if key not in self.cache:
            n = self.spec.column(entity).params["n"]
            whole = Batch(self, seed, 0, n)
            for d in c.depends_on:
                whole.cols[d] = self._entity_values(self.spec.column(d), seed)
            if any(col is None for col in whole.cols.values()):
                self.cache[key] = None
            else:
                text = self._make(whole, c, None, None).data
                self.cache[key] = Col(np.arange(n, dtype=np.int64), text, text.to_pylist())
        return self.cache[key]


def _gather(pool: Col, index: np.ndarray) -> Col:
    data = pool.data[index] if isinstance(pool.data, np.ndarray) else pool.data.take(pa.array(index))
    return Col(data, pool.dictionary, pool.labels, None if pool.valid is None else pool.valid[index])


def run_context(specs: list[DatasetSpec], rows: dict[str, int]) -> dict:
    """What a dataset's references may see: every dataset of the run with its row count."""
    return {s.name: (s, rows[s.name]) for s in specs}


_COMPILED: dict = {}


def compile_dataset(spec: DatasetSpec, run: dict | None = None) -> DatasetGenerator:
    """The generator of ``spec``, built once per process for the same spec and referenced datasets. ``run``:
    dataset name -> (spec, rows) of the datasets this one may reference (:func:`run_context`)."""
    run = run or {}
    refs = {name: run[name] for name in sorted(spec.references) if name in run}
    key = (repr(spec), repr(sorted((name, rows, repr(parent)) for name, (parent, rows) in refs.items())))
    gen = _COMPILED.get(key)
    if gen is None:
        gen = _COMPILED[key] = DatasetGenerator(spec, refs)
    return gen


@functools.cache
def builtin_generator(name: str) -> DatasetGenerator:
    """A built-in dataset that references no other."""
    from datagen.spec import builtin

    return compile_dataset(builtin(name))
