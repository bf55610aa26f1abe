"""The generator of keys of another dataset of the run: reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datagen import checks
from datagen.checks import SpecError
from datagen.columns import Col
from datagen.distributions import zipf_rank
from datagen.generators.base import Example, Generator, Parameters


def _keys_of_the_clients_the_first_most_often(rows):
    client = rows["client_id"]
    assert set(client) <= set(range(1, 1001)) and max(set(client), key=client.count) == 1
    assert 0.45 < sum(c <= 10 for c in client) / len(client) < 0.56
    assert set(rows["stars"]) == {1, 2, 3, 4, 5}


class Reference(Generator):
    """Row numbers of another dataset of the run (or that dataset's sequence column at them)."""

    name = "reference"
    keys, required = ("dataset", "distribution", "exponent", "column"), ("dataset",)
    types, default_type = ("int64",), "int64"
    may_be_by = True
    example = Example(
        spec="""\
dataset: reviews
columns:
  - name: client_id
    type: int64
    generator: reference
    dataset: clients
    column: client_id
    distribution: zipf
    exponent: 1.2
  - name: stars
    type: int64
    generator: uniform
    min: 1
    max: 5
""",
        shows="Made with 1,000 clients, `client_id` is one of their `client_id`s, 1 to 1,000, and about half the "
              "reviews are by the first 10 clients.",
        check=_keys_of_the_clients_the_first_most_often, parents={"clients": 1000})

    @dataclass(frozen=True)
    class Params(Parameters):
        dataset: str
        distribution: str  # uniform or zipf
        exponent: float
        column: str | None = None  # a sequence column of ``dataset`` (None: its row numbers, from 0)

    @classmethod
    def check(cls, given, ctype, where):
        ds = given["dataset"]
        if not isinstance(ds, str) or not checks.DATASET_NAME.match(ds):
            raise where.error(f"dataset: expected a dataset name, got {ds!r}")
        dist = given.get("distribution", "uniform")
        if dist not in ("uniform", "zipf"):
            raise where.error(f"distribution: expected uniform or zipf, got {dist!r}")
        exponent = checks.number(given, "exponent", where, 1.0, positive=True)
        if "exponent" in given and dist != "zipf":
            raise where.error("exponent: only the zipf distribution has an exponent")
        column = given.get("column")
        if "column" in given and not isinstance(column, str):
            raise where.error(f"column: expected a column name of dataset {ds!r}, got {column!r}")
        return cls.Params(ds, dist, exponent, column), ()

    @classmethod
    def references(cls, params):
        return (params.dataset,)

    def __init__(self, column, dataset):
        super().__init__(column, dataset)
        p = self.params
        ref = dataset.run.get(p.dataset)
        where = f"{dataset.spec.source}: column {self.name!r}"
        if ref is None:
            raise SpecError(f"{where}: references dataset {p.dataset!r}, which is not in this run")
        parent, self.rows = ref
        self.start, self.step = 0, 1
        if p.column is not None:
            try:
                target = parent.column(p.column)
            except KeyError:
                raise SpecError(f"{where}: dataset {p.dataset!r} has no column {p.column!r}") from None
            if target.generator != "sequence":
                raise SpecError(f"{where}: {p.dataset}.{p.column} is a {target.generator}; expected a sequence "
                                "column (a key)")
            self.start, self.step = target.params.start, target.params.step
        self.zipf = p.distribution == "zipf"
        self.exponent = p.exponent

    def make(self, b, positions):
        u = b.uniform(self.name, positions)
        n = self.rows
        if self.zipf:
            index = zipf_rank(u, n, self.exponent)
        else:
            index = np.minimum(np.floor(u * n).astype(np.int64), n - 1)
        return Col(self.start + index * self.step)
