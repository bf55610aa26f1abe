"""ml-dataset-pipeline as a Python library: load a spec, explain it, make rows of it, without Beam.

    import mldp

    orders = mldp.load("docs/examples/orders.yaml")        # a file (local or gs://), YAML text, or a dict
    print(mldp.explain(orders))                            # each column, in the order it is made
    clients = mldp.generate(mldp.builtin("clients"), rows=1000)     # a pyarrow.Table
    tables = mldp.generate_all([orders, mldp.builtin("clients")], rows={"clients": 1000, "orders": 20000})

The rows are the ones the pipeline writes for the same spec, seed and row range (row ``i`` depends only on the
seed, the dataset, the column and ``i``), with the columns' types of the data contract (``pyarrow`` types, so
``.to_pandas()`` and Polars take them). A mistake in a spec raises :class:`SpecError`, whose text is the one line
the commands print. :mod:`mldp.beam` holds the same as Beam transforms, for a pipeline of your own.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from datagen import spec as _spec
from datagen.seed import DEFAULT_SEED, MAX_SEED
from datagen.spec import ColumnSpec, DatasetSpec, SpecError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEFAULT_SEED", "ColumnSpec", "DatasetSpec", "Explanation", "SpecError", "arrow_schema", "bigquery_schema",
           "builtin", "builtin_names", "explain", "generate", "generate_all", "load", "run_context_of"]

def load(source) -> DatasetSpec:
    """A dataset spec from ``source``: a path (``str`` or ``Path``, local or ``gs://``, YAML or JSON), the text of
    a spec (a ``str`` holding a line break), or a ``dict`` of the same keys. Checked whole: a mistake raises
    :class:`SpecError`."""
    if isinstance(source, DatasetSpec):
        return source
    if isinstance(source, dict):
        return _spec.from_dict(source, "<dict>")
    if isinstance(source, Path):
        return _spec.load(str(source))
    if isinstance(source, str):
        return _spec.parse(source, "<text>") if "\n" in source else _spec.load(source)
    raise TypeError(f"expected a spec file's path, a spec's text or a dict, got {type(source).__name__}")


def builtin(name: str) -> DatasetSpec:
    """One of the built-in datasets (:func:`builtin_names`)."""
    return _spec.builtin(name)


def builtin_names() -> list[str]:
    return _spec.builtin_names()


# --- explaining a spec --------------------------------------------------------------------------------------

class Explanation:
    """A spec's columns in the order they are made: ``str()`` is a text table, ``.table`` a ``pyarrow.Table``,
    and a notebook shows it as an HTML table."""

    HEADINGS = ("step", "column", "type", "generator", "parameters", "depends on", "nullable", "hidden")

    def __init__(self, spec: DatasetSpec):
        self.spec = spec
        by_name = {c.name: c for c in spec.columns}
        self.rows = [(i + 1, c.name, str(c.type), c.generator, _parameters(c), ", ".join(_depends_on(c)),
                      c.nullable, c.hidden) for i, c in enumerate(by_name[n] for n in spec.order)]

    @property
    def table(self) -> pa.Table:
        import pyarrow as pa

        return pa.table({h: [r[i] for r in self.rows] for i, h in enumerate(self.HEADINGS)})

    WIDEST = 48  # a cell of the text table; .table and the HTML table have every character

    def __str__(self) -> str:
        cells = [self.HEADINGS] + [tuple(_short("yes" if v is True else "" if v is False else str(v), self.WIDEST)
                                         for v in r) for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.HEADINGS))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
        title = f"dataset {self.spec.name!r}: {len(self.rows)} columns ({len(self.spec.output_columns)} written)"
        return "\n".join([title, lines[0], "  ".join("-" * w for w in widths), *lines[1:]])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.HEADINGS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in self.rows)
        return (f"<p>dataset <b>{html.escape(self.spec.name)}</b></p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def explain(spec) -> Explanation:
    """Each column of ``spec`` (a spec, or anything :func:`load` takes) in the order the engine makes them: its
    type, generator and parameters, the columns (and datasets) it reads, whether it may be null, whether it is
    hidden (made, read by others, not written)."""
    return Explanation(load(spec))


def _parameters(c: ColumnSpec) -> str:
    params = asdict(c.params)  # every generator's parameters are a dataclass (datagen/generators)
    shown = {k: v for k, v in params.items() if v not in (None, (), [], {})}
    extra = {"nulls": c.nulls or None, "per": c.per, "clip": c.clip, "decimals": c.decimals}
    shown.update({k: v for k, v in extra.items() if v is not None})
    return ", ".join(f"{k}={v if isinstance(v, str) else repr(v)}" for k, v in shown.items())


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _depends_on(c: ColumnSpec) -> list[str]:
    found = list(c.depends_on)
    if c.per and c.per not in found:
        found.insert(0, c.per)
    for dataset in c.references:  # another dataset's column (a reference), by its parameters' names
        found.append(f"{dataset}.{getattr(c.params, 'column', None) or '(its row number)'}")
    return found


# --- making rows ------------------------------------------------------------------------------------------

def generate(spec, rows: int, *, seed: int = DEFAULT_SEED, start: int = 0, parents: dict | None = None
             ) -> pa.Table:
    """Rows ``[start, start + rows)`` of one dataset under ``seed``, as a ``pyarrow.Table`` with the data
    contract's types. A dataset that references others needs them: ``parents`` maps each referenced dataset's
    name to ``(its spec, its row count)`` (or use :func:`generate_all`)."""
    spec = load(spec)
    return _rows(spec, run_context_of(spec, parents), _whole("rows", rows, 0), _whole("start", start, 0),
                 _seed(seed))


def generate_all(specs, rows, *, seed: int = DEFAULT_SEED) -> dict[str, pa.Table]:
    """Rows ``[0, n)`` of each of ``specs`` (a list of anything :func:`load` takes), with references resolved as
    the pipeline resolves them: ``rows`` is one count for every dataset or ``{name: count}``. Returns
    ``{name: pyarrow.Table}``, parents first."""
    from datagen.plan import plan

    chosen = [load(s) for s in specs]
    if isinstance(rows, dict):
        unknown = sorted(set(rows) - {s.name for s in chosen})
        if unknown:
            raise ValueError(f"rows: {', '.join(map(repr, unknown))} is not one of the datasets given: "
                             f"{', '.join(s.name for s in chosen)}")
        counts = {name: _whole(f"rows[{name!r}]", n, 1) for name, n in rows.items()}
    else:
        counts = _whole("rows", rows, 1)
    seed = _seed(seed)
    return {p.name: _rows(p.spec, p.run, p.rows, 0, seed) for p in plan(chosen, rows=counts)}


def _rows(spec: DatasetSpec, run: dict, rows: int, start: int, seed: int) -> pa.Table:
    import pyarrow as pa

    from datagen.blocks import DEFAULT_BLOCK_ROWS
    from datagen.engine import compile_dataset

    gen = compile_dataset(spec, run)
    schema = gen.schema.arrow_schema
    # Blocks on the pipeline's own boundaries: the same rows whatever the blocks, the same memory per step.
    edges = list(range(start, start + rows, DEFAULT_BLOCK_ROWS)) + [start + rows]
    batches = [gen.batch(seed, a, b).cast(schema) for a, b in zip(edges, edges[1:]) if b > a]
    return pa.Table.from_batches(batches, schema=schema)


def run_context_of(spec: DatasetSpec, parents: dict | None) -> dict:
    """What the engine needs of the datasets ``spec`` references, from ``parents``: ``{name: (spec, rows)}``."""
    from datagen.engine import run_context

    parents = {name: (load(s), _whole(f"parents[{name!r}] rows", n, 1)) for name, (s, n) in (parents or {}).items()}
    missing = sorted(spec.references - set(parents))
    if missing:
        raise SpecError(f"{spec.source}: dataset {spec.name!r} references {', '.join(map(repr, missing))}: give "
                        "each as parents={name: (spec, rows)}, or use mldp.generate_all")
    return run_context([s for s, _ in parents.values()], {name: n for name, (_, n) in parents.items()})


def arrow_schema(spec) -> pa.Schema:
    """The Arrow schema of the columns ``spec`` writes (the data contract's types: what Parquet files hold)."""
    from datagen.contract import from_spec

    return from_spec(load(spec)).arrow_schema


def bigquery_schema(spec) -> list[dict]:
    """The BigQuery schema (the JSON of a table's fields) of the columns ``spec`` writes."""
    from datagen.contract import from_spec

    return from_spec(load(spec)).bigquery_schema()


def _seed(seed) -> int:
    return _whole("seed", seed, 0, MAX_SEED)


def _whole(name: str, value, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
            maximum is not None and value > maximum):
        expected = f"a whole number from {minimum}" + (f" to {maximum}" if maximum is not None else " up")
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return value
