"""The generators of choices: constant, categorical (one value of a list by weight, or by another column's value)
and items (several distinct values of a list, joined)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from datagen import checks, vocabulary
from datagen.arrow import pa
from datagen.columns import Col, native
from datagen.generators import filters
from datagen.generators.base import Example, Generator, Parameters
from datagen.randomness import WeightedChoice, bits_at, row_bits, table_bits, unit_interval
from datagen.text import Prefixes, compose, compose_ragged

MAX_ITEMS = 64  # k of the items generator


@dataclass(frozen=True)
class Choice(Parameters):
    """Values with their weights (None: equally likely), or a shipped vocabulary."""

    values: tuple | None = None
    weights: tuple | None = None
    vocabulary: str | None = None


def _choice(given: dict, ctype, where, prefix: str = "") -> Choice:
    """values (list or value -> weight mapping) with optional weights, or a vocabulary."""
    has_values, has_vocab = "values" in given, "vocabulary" in given
    if has_values == has_vocab:
        raise where.error(f"{prefix}expected either 'values' or 'vocabulary'")
    if has_vocab:
        if ctype.name != "string":
            raise where.error(f"{prefix}vocabulary: vocabularies are strings, the column is {ctype}")
        if not isinstance(given["vocabulary"], str) or given["vocabulary"] not in vocabulary.NAMES:
            raise where.error(f"{prefix}unknown vocabulary {given['vocabulary']!r}: expected one of "
                              f"{', '.join(vocabulary.NAMES)}")
        if "weights" in given:
            raise where.error(f"{prefix}weights: a vocabulary brings its own weights (or none)")
        return Choice(vocabulary=given["vocabulary"])
    values = given["values"]
    if isinstance(values, dict):
        if "weights" in given:
            raise where.error(f"{prefix}weights: the values mapping already gives each value its weight")
        weights = checks.weights(list(values.values()), len(values), where, f"{prefix}values")
        values = list(values)
    elif isinstance(values, list) and values:
        weights = (checks.weights(given["weights"], len(values), where, f"{prefix}weights") if "weights" in given
                   else None)
    else:
        raise where.error(f"{prefix}values: expected a non-empty list, or a mapping of value to weight")
    values = [checks.value(v, ctype, where, f"{prefix}values") for v in values]
    if len(set(map(str, values))) != len(values):
        dup = next(v for v in values if list(map(str, values)).count(str(v)) > 1)
        raise where.error(f"{prefix}values: {dup!r} is listed twice")
    return Choice(values=tuple(values), weights=None if weights is None else tuple(weights))


def _values_and_weights(choice: Choice) -> tuple[list, list | None]:
    if choice.vocabulary is not None:
        values, weights = vocabulary.get(choice.vocabulary)
        return list(values), None if weights is None else list(weights)
    return list(choice.values), choice.weights


def _source_and_version_everywhere(rows):
    assert set(rows["source"]) == {"synthetic"} and set(rows["version"]) == {3}


class Constant(Generator):
    """The same value in every row."""

    name = "constant"
    keys = required = ("value",)
    default_type = "string"
    may_be_by = True
    example = Example(
        spec="""\
dataset: tickets
columns:
  - name: source
    generator: constant
    value: synthetic
  - name: version
    type: int64
    generator: constant
    value: 3
""",
        shows="Every row has `source` synthetic and `version` 3.",
        check=_source_and_version_everywhere, rows=1000)

    @dataclass(frozen=True)
    class Params(Parameters):
        value: object

    @classmethod
    def check(cls, given, ctype, where):
        return cls.Params(checks.value(given["value"], ctype, where, "value")), ()

    @classmethod
    def listed_values(cls, params):
        return [params.value]

    def __init__(self, column, dataset):
        super().__init__(column, dataset)
        self.value = native([self.params.value], column.type)

    def make(self, b, positions):
        if self.column.type.name == "string":
            return Col(np.zeros(b.n, dtype=np.int16), pa.array(self.value, pa.string()), list(self.value))
        return Col(np.repeat(self.value, b.n))


def _channels_by_weight_and_cities_in_capitals(rows):
    def shares(column):
        return {v: rows[column].count(v) / len(rows[column]) for v in set(rows[column])}

    assert all(abs(shares("channel")[v] - w) < 0.02 for v, w in {"web": 0.55, "app": 0.35, "store": 0.1}.items())
    assert all(abs(shares("size")[v] - w) < 0.02 for v, w in {"S": 0.2, "M": 0.4, "L": 0.3, "XL": 0.1}.items())
    assert 0.0005 < shares("fraud").get(1, 0) < 0.004
    assert set(rows["city"]) == {"PARIS", "LYON", "NICE"}


class Categorical(Generator):
    """One of a list of values by weight, through a lookup table; with ``by``, one table per case."""

    name = "categorical"
    keys = ("values", "weights", "vocabulary", "filter", "by", "cases")
    default_type = "string"
    random = may_be_by = True
    example = Example(
        spec="""\
dataset: shop
columns:
  - name: channel
    generator: categorical
    values: {web: 55, app: 35, store: 10}
  - name: size
    generator: categorical
    values: [S, M, L, XL]
    weights: [2, 4, 3, 1]
  - name: fraud
    type: int64
    generator: categorical
    values: {0: 99.8, 1: 0.2}
  - name: city
    generator: categorical
    values: [paris, lyon, nice]
    filter: upper                # PARIS, LYON, NICE
""",
        shows="`channel` is web, app or store in about 55%, 35% and 10% of the rows, `size` S, M, L or XL in 20%, "
              "40%, 30% and 10%, `fraud` is 1 in about 2 rows in 1,000, and `city` is written in capitals.",
        check=_channels_by_weight_and_cities_in_capitals)

    @dataclass(frozen=True, kw_only=True)
    class Params(Choice):
        filter: str | None = None
        by: str | None = None  # the column whose value picks the case
        cases: dict | None = None  # value of ``by`` -> Choice
        default: Choice | None = None  # for a value of ``by`` without a case of its own

    @classmethod
    def check(cls, given, ctype, where):
        f = filters.check(given, where)
        if f and ctype.name != "string":
            raise where.error("filter: only string columns take a filter")
        by = given.get("by")
        if by is None:
            if "cases" in given:
                raise where.error("cases: needs 'by', the column whose value picks the case")
            choice = _choice(given, ctype, where)
            return cls.Params(values=choice.values, weights=choice.weights, vocabulary=choice.vocabulary,
                              filter=f), ()
        if not isinstance(by, str):
            raise where.error(f"by: expected a column name, got {by!r}")
        cases = given.get("cases")
        if not isinstance(cases, dict) or not cases:
            raise where.error(f"cases: expected a mapping of each value of {by!r} to its values or weights")
        shared = {k: given[k] for k in ("values", "vocabulary") if k in given}
        if "weights" in given:
            raise where.error("weights: with 'by', each case gives its own weights")
        out = {}
        for key, case in cases.items():
            label = f"cases: {key}: "
            if isinstance(case, list):
                case = {"weights": case}
            if not isinstance(case, dict):
                raise where.error(f"{label}expected a list of weights or a mapping with values, weights or "
                                  "vocabulary")
            bad = set(case) - {"values", "weights", "vocabulary"}
            if bad:
                raise where.error(f"{label}unknown key {sorted(bad)[0]!r}: expected values, weights or vocabulary")
            merged = dict(case) if ("values" in case or "vocabulary" in case) else {**shared, **case}
            out[key] = _choice(merged, ctype, where, label)
        default = out.pop("default", None)
        return cls.Params(filter=f, by=by, cases=out, default=default), (by,)

    @classmethod
    def listed_values(cls, params):
        cases = list((params.cases or {}).values())
        if params.vocabulary or any(case.vocabulary for case in cases):
            return None
        values = list(params.values or [])
        for case in cases:
            values += [v for v in case.values or [] if v not in values]
        return values

    @classmethod
    def check_in_dataset(cls, column, columns, where):
        p = column.params
        if p.by is None:
            return column
        parent = columns[p.by]
        if parent.type.name not in ("string", "int64", "bool") or not parent.generator_class.may_be_by:
            raise where.error(f"by: {parent.name!r} must be a string, int64 or bool column with few values, not a "
                              f"{parent.generator} of {parent.type}")
        parent_values = parent.listed_values
        if parent_values is None:  # its values are not listed: a case must at least be a value of its type
            for k in p.cases:
                checks.key_fits(k, parent, where, "cases")
        else:
            missing = [v for v in parent_values if v not in p.cases]
            if missing and p.default is None:
                raise where.error(f"cases: no case for value {missing[0]!r} of {parent.name!r}; add it or a "
                                  "'default' case")
            extra = [k for k in p.cases if k not in parent_values]
            if extra:
                raise where.error(f"cases: {extra[0]!r} is not a value of {parent.name!r}: expected one of "
                                  f"{', '.join(map(str, parent_values))}")
        return column

    @classmethod
    def may_be_null(cls, column, columns):
        p = column.params
        if p.by is None:
            return False
        parent = columns[p.by]
        known = parent.listed_values
        uncovered = known is None or any(v not in p.cases for v in known)
        return parent.nullable or (p.default is None and uncovered)


    def __init__(self, column, dataset):
        super().__init__(column, dataset)
        p = self.params
        if p.by is None:
            cases = {None: p}
        else:
            cases = dict(p.cases)
            if p.default is not None:
                cases["default"] = p.default
        union: dict = {}
        per_case = []
        for key, choice in cases.items():
            values, weights = _values_and_weights(choice)
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
        if column.type.name == "string":
            self.dictionary = pa.array(filters.on_values(self.labels, p.filter), pa.string())
        else:
            self.values = native(self.labels, column.type)

    def make(self, b, positions):
        field = (b.bits(self.name, positions) >> np.uint64(64 - self.bits)).view(np.int64)
        valid = None
        if len(self.tables) == 1:
            codes = self.tables[0][field]
        else:
            parent = b.cols[self.params.by]
            case = _case_index(parent, self.case_keys, self.default)
            valid = case >= 0
            if parent.valid is not None:
                valid &= parent.valid
            codes = self.flat_tables[(np.maximum(case, 0) << self.bits) + field]
            if valid.all():
                valid = None
        if self.column.type.name == "string":
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


def _distinct_items_as_many_as_asked(rows):
    languages = [r.split(",") for r in rows["languages"]]
    assert all(len(set(r)) == len(r) and set(r) <= {"English", "Spanish", "French", "German"} for r in languages)
    for k, share in {1: 0.6, 2: 0.3, 3: 0.1}.items():
        assert abs(sum(len(r) == k for r in languages) / len(languages) - share) < 0.02
    tags = [r.split(" ") for r in rows["tags"]]
    assert all(2 <= len(r) <= 4 and len(set(r)) == len(r) and all(t == t.lower() for t in r) for r in tags)
    hobbies = [r.split(",") for r in rows["hobbies"]]
    assert [len(set(r)) for r in hobbies] == rows["n_hobbies"]


class Items(Generator):
    """k distinct values of a list, joined by a separator. Small lists (up to 64 values) draw an ordering from a
    table of 65,536 weighted orderings made once from the column's stream (weighted sampling without
    replacement); larger lists draw each item by weight and draw again where it repeats an earlier one."""

    name = "items"
    keys = ("values", "weights", "vocabulary", "filter", "count", "separator")
    required = ("count",)
    types, default_type = ("string",), "string"
    random = True
    example = Example(
        spec="""\
dataset: users
columns:
  - name: languages
    generator: items
    values: {English: 40, Spanish: 10, French: 9, German: 5}
    count: {1: 60, 2: 30, 3: 10}
  - name: tags
    generator: items
    vocabulary: words
    filter: lower
    count: [2, 4]
    separator: " "
  - name: n_hobbies
    type: int64
    generator: categorical
    values: {1: 50, 2: 35, 3: 15}
  - name: hobbies
    generator: items
    values: [chess, running, cooking, music, films]
    count: n_hobbies             # as many items as this column says
""",
        shows="`languages` holds one to three distinct languages, one in about 60% of the rows, `tags` two to four "
              "distinct lower-case words, and `hobbies` as many distinct hobbies as `n_hobbies` says.",
        check=_distinct_items_as_many_as_asked)

    @dataclass(frozen=True, kw_only=True)
    class Params(Choice):
        count: tuple  # the numbers of items a row may have
        count_weights: tuple  # the weight of each
        separator: str
        filter: str | None = None
        count_column: str | None = None  # the column whose value is a row's number of items

    @classmethod
    def check(cls, given, ctype, where):
        choice = _choice(given, ctype, where)
        count = given["count"]
        count_column = None
        size = len(choice.values) if choice.values is not None else None
        if isinstance(count, str):  # the number of items is another column's value
            count_column = count
            ks, kw = list(range(1, (MAX_ITEMS if size is None else size) + 1)), None
        elif checks.is_number(count) and int(count) == count:
            ks, kw = [int(count)], [1.0]
        elif isinstance(count, list) and len(count) == 2 and all(checks.is_number(x) and int(x) == x for x in count):
            ks = list(range(int(count[0]), int(count[1]) + 1))
            kw = [1.0] * len(ks)
        elif isinstance(count, dict) and count:
            ks = []
            for k in count:
                try:
                    ks.append(int(k))
                except (TypeError, ValueError):
                    raise where.error(f"count: {k!r} is not a whole number of items") from None
            kw = checks.weights(list(count.values()), len(ks), where, "count")
        else:
            raise where.error(f"count: expected a number of items, [min, max], or a mapping of number to weight, "
                              f"got {count!r}")
        if not ks or min(ks) < 1 or max(ks) > MAX_ITEMS or (size is not None and max(ks) > size):
            limit = MAX_ITEMS if size is None else min(MAX_ITEMS, size)
            raise where.error(f"count: expected numbers of items from 1 to {limit}, got {count!r}")
        sep = given.get("separator", ",")
        if not isinstance(sep, str):
            raise where.error(f"separator: expected text, got {sep!r}")
        params = cls.Params(values=choice.values, weights=choice.weights, vocabulary=choice.vocabulary,
                            count=tuple(ks), count_weights=tuple(kw or [1.0] * len(ks)), separator=sep,
                            filter=filters.check(given, where), count_column=count_column)
        return params, () if count_column is None else (count_column,)

    @classmethod
    def check_in_dataset(cls, column, columns, where):
        """A count read from another column takes that column's numbers and weights."""
        p = column.params
        if p.count_column is None:
            return column
        counter = columns[p.count_column]
        known = counter.listed_values
        limit = min(MAX_ITEMS if p.values is None else len(p.values), MAX_ITEMS)
        if counter.type.name != "int64" or known is None or not all(1 <= v <= limit for v in known):
            raise where.error(f"count: {counter.name!r} must be an int64 categorical (or constant) whose values are "
                              f"numbers of items from 1 to {limit}")
        weights = counter.params.get("weights")
        return replace(column, params=replace(p, count=tuple(int(v) for v in known),
                                              count_weights=tuple(weights) if weights else (1.0,) * len(known)))

    TABLE_BITS = 16
    SMALL = 64
    # From a batch of this many rows on, every prefix of every ordering is kept as a range of one buffer
    # (Prefixes: 12 MB for 12 values, made once per process, then cheaper to draw); a smaller batch composes its rows'
    # pieces (a run of a few thousand rows would spend longer on the table than on its rows). The text is the same
    # either way.
    PREFIX_TABLE_ROWS = 1 << 15

    def __init__(self, column, dataset):
        super().__init__(column, dataset)
        p = self.params
        values, weights = _values_and_weights(p)
        self.m = len(values)
        self.weights = np.asarray(weights or [1.0] * self.m, dtype=np.float64)
        self.count_column = p.count_column
        self.kmax = max(p.count)
        self.k_values = np.asarray(p.count, dtype=np.int64)
        self.k_choice = WeightedChoice(p.count_weights, bits=12)
        text = filters.on_values(values, p.filter)
        sep = p.separator
        self.pieces = pa.array([v + sep for v in text] + text + [""] * self.m, pa.string())  # item, last, none
        self.separator_bytes = len(sep.encode())
        self.last_base = self.m
        mean_k = float(np.dot(p.count, p.count_weights) / np.sum(p.count_weights))
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
