"""The generator of numbers computed from other columns: expression (the grammar is datagen/expressions.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datagen import checks, expressions
from datagen.columns import Col
from datagen.distributions import normal_ppf
from datagen.generators.base import Example, Generator, Parameters

_DAY_US = 86_400_000_000


def _totals_less_the_discount_and_big_ones(rows):
    discount = {"web": 0.0, "app": 0.05, "store": 0.02}
    for channel, quantity, price, total, big in zip(rows["channel"], rows["quantity"], rows["unit_price"],
                                                    rows["total"], rows["big"]):
        assert abs(float(total) - quantity * float(price) * (1 - discount[channel])) <= 0.005 + 1e-9
        assert big == (total >= 200)
    assert 0.1 < sum(rows["big"]) / len(rows["big"]) < 0.9


class Expression(Generator):
    """A formula over the row's other columns, evaluated over whole arrays; a result that is not a finite number,
    or a row where a column it reads is null, is null."""

    name = "expression"
    keys, required = ("expression", "maps"), ("expression",)
    types, default_type = ("int64", "float64", "numeric", "bool", "date"), "float64"
    may_be_by = True
    example = Example(
        spec="""\
dataset: orders
columns:
  - name: channel
    generator: categorical
    values: {web: 55, app: 35, store: 10}
  - name: quantity
    type: int64
    generator: uniform
    min: 1
    max: 5
  - name: unit_price
    type: numeric(10, 2)
    generator: uniform
    min: 1
    max: 100
  - name: total
    type: numeric(12, 2)
    generator: expression
    expression: "quantity * unit_price * (1 - discount[channel])"
    maps:
      discount: {app: 0.05, store: 0.02}
  - name: big
    type: bool
    generator: expression
    expression: "total >= 200"
  - name: measured
    generator: expression
    expression: "if(quantity > 2, log(quantity), 0) + normal(0, 0.1)"
    decimals: 3
""",
        shows="`total` is `quantity` times `unit_price` less the channel's discount (5% on the app, 2% in a store, "
              "none on the web), to the cent, and `big` is true where `total` is 200 or more.",
        check=_totals_less_the_discount_and_big_ones)

    @dataclass(frozen=True)
    class Params(Parameters):
        expression: str
        maps: dict  # map name -> {value: number}
        reads: tuple  # the columns read as numbers
        lookups: tuple  # (map, column) of each map[column]

    @classmethod
    def check(cls, given, ctype, where):
        try:
            tree = expressions.parse(given["expression"])
        except expressions.ExpressionError as e:
            raise where.error(f"expression: {e}") from None
        reads, lookups = expressions.names(tree)
        maps = given.get("maps", {})
        if not isinstance(maps, dict) or not all(isinstance(m, dict) for m in maps.values()):
            raise where.error("maps: expected a mapping of map name to a mapping of value to number")
        for name, m in maps.items():
            for k, v in m.items():
                if not checks.is_number(v):
                    raise where.error(f"maps: {name}: {k!r} maps to {v!r}: expected a number")
        for m, col in sorted(lookups):  # the first unknown map in the same order at every run
            if m not in maps:
                raise where.error(f"expression: unknown map {m!r} in {m}[{col}]: expected one of the column's maps "
                                  f"({', '.join(maps) or 'none defined'})")
        unused = set(maps) - {m for m, _ in lookups}
        if unused:
            raise where.error(f"maps: {sorted(unused)[0]!r} is not used by the expression")
        reads = {r for r in reads if r not in expressions.BUILTINS}
        params = cls.Params(given["expression"], {k: dict(v) for k, v in maps.items()}, tuple(sorted(reads)),
                            tuple(sorted(lookups)))
        return params, tuple(sorted(reads | {c for _, c in lookups}))

    @classmethod
    def check_in_dataset(cls, column, columns, where):
        p = column.params
        for m, col in p.lookups:
            target = columns[col]
            keys = target.listed_values
            if keys is None:
                for k in p.maps[m]:
                    checks.key_fits(k, target, where, f"maps: {m}")
            else:
                bad = [k for k in p.maps[m] if k not in keys]
                if bad:
                    raise where.error(f"maps: {m}: {bad[0]!r} is not a value of {col!r}: expected one of "
                                      f"{', '.join(map(str, keys))}")
        for n in p.reads:
            if columns[n].type.name == "string":
                raise where.error(f"expression: {n!r} is a string column; use a map to turn its values into "
                                  f"numbers, e.g. effect[{n}]")
        return column

    @classmethod
    def may_be_null(cls, column, columns):
        tree = expressions.parse(column.params.expression)
        return expressions.may_be_non_finite(tree, column.clip is not None) or any(
            columns[d].nullable for d in column.depends_on)

    def __init__(self, column, dataset):
        super().__init__(column, dataset)
        self.tree = expressions.parse(self.params.expression)
        self.maps = self.params.maps
        self.types = dataset.column_types

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
        if self.column.clip is not None:  # an overflow to infinity is clipped too (NaN stays NaN, then null)
            x = np.clip(x, self.column.clip[0], self.column.clip[1])
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
