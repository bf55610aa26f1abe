"""Planning a run of several datasets: their order (each after the datasets it references), what each may
reference, and each one's row count and bytes a row, given or worked out from a target size.

No Beam and no command line: ``pipelines.generate`` and the Python API plan with it. A mistake is a
:class:`PlanError` (a :class:`~datagen.spec.SpecError`: one line, the text the commands print). Planning knows no
file format: how many bytes a row takes as written comes from the :class:`Sizing` the caller gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from datagen.blocks import DEFAULT_BLOCK_ROWS
from datagen.dependencies import topological
from datagen.spec import DatasetSpec, SpecError

MAX_ROWS = 10**15  # the most rows one dataset may have
RESHAPES = 3  # measurements again on a sample shaped like small files, until the row count settles


class PlanError(SpecError):
    """A run that cannot be planned: a dataset given twice, a reference to a dataset not in the run, a cycle."""


class TooManyRows(PlanError):
    """A target size that means more than :data:`MAX_ROWS` rows."""

    def __init__(self, dataset: str, target: int):
        super().__init__(f"{dataset}: {target:,} bytes means more than {MAX_ROWS:,} rows")
        self.dataset, self.target = dataset, target


@dataclass(frozen=True)
class Sizing:
    """How the files of a run are sized, from the job that writes them.

    ``bytes_per_row(generator, sample_rows, group_rows)``: bytes a row takes as written, measured on the first
    ``sample_rows`` rows written ``group_rows`` at a time (a format that keeps groups, such as Parquet's row groups,
    compresses a large group better). ``file_bytes(generator)``: what every file costs whatever its rows (a header,
    a footer). A target size is met on ``sample_rows``; an estimate alone (row counts given) is measured on at most
    ``estimate_rows``."""

    bytes_per_row: Callable[[object, int, int], float]
    file_bytes: Callable[[object], int]
    sample_rows: int
    estimate_rows: int


@dataclass(frozen=True)
class DatasetPlan:
    name: str
    rows: int
    bytes_per_row: float | None  # as written (None without a Sizing)
    spec: DatasetSpec
    run: dict = field(default_factory=dict)  # the datasets it references: name -> (spec, rows)

    @property
    def schema(self):
        from datagen.contract import from_spec

        return from_spec(self.spec)


def order_datasets(specs: Sequence[DatasetSpec]) -> list[DatasetSpec]:
    """``specs`` in an order where a dataset comes after those it references (otherwise as given); a PlanError for
    a dataset given twice, a reference to a dataset not among ``specs`` or datasets that reference each other."""
    seen = {}
    for s in specs:
        if s.name in seen:
            raise PlanError(f"dataset {s.name!r} is given twice ({seen[s.name]} and {s.source})")
        seen[s.name] = s.source
    by_name = {s.name: s for s in specs}
    for s in specs:
        for c in s.columns:
            for parent in c.references:
                if parent not in by_name:
                    raise PlanError(f"{s.source}: column {c.name!r}: references dataset {parent!r}, which is not in "
                                    f"this run: add it with --datasets or --spec")

    def cycle(path):
        return PlanError(f"datasets reference each other in a cycle: {' -> '.join(path)}")

    names = topological(by_name, lambda name: sorted(by_name[name].references), cycle)
    return [by_name[name] for name in names]


def plan(specs: Sequence[DatasetSpec], rows: int | dict | None = None, targets: int | dict | None = None,
         sizing: Sizing | None = None, block_rows: int = DEFAULT_BLOCK_ROWS, num_shards: int = 0
         ) -> tuple[DatasetPlan, ...]:
    """Each dataset of ``specs`` with its row count, parents first (a dataset's references need their parents'
    row counts): ``rows`` (one count for all, or name -> count), or as many as fill ``targets`` bytes (one size or
    name -> bytes) in ``num_shards`` files (0: as many as the runner makes), measured by ``sizing``."""
    from datagen.engine import compile_dataset, run_context

    ordered = order_datasets(specs)
    if (rows is None) == (targets is None):
        raise PlanError("give row counts or target sizes, not both or neither")
    if targets is not None and sizing is None:
        raise PlanError("a target size needs the sizing of the files written")
    wanted = _per_dataset(rows if targets is None else targets, ordered, "row count" if targets is None else "size")
    plans, planned_rows = [], {}
    for spec in ordered:
        run = run_context([s for s in ordered if s.name in spec.references], planned_rows)
        gen = compile_dataset(spec, run)
        if targets is None:
            n = wanted[spec.name]
            bpr = None if sizing is None else _measure(gen, n, None, sizing, block_rows, num_shards)[1]
        else:
            n, bpr = _measure(gen, None, wanted[spec.name], sizing, block_rows, num_shards)
            if n > MAX_ROWS:
                raise TooManyRows(spec.name, wanted[spec.name])
        planned_rows[spec.name] = n
        plans.append(DatasetPlan(spec.name, n, bpr, spec, run))
    return tuple(plans)


def _per_dataset(value, specs: list[DatasetSpec], what: str) -> dict:
    if not isinstance(value, dict):
        return {s.name: value for s in specs}
    for s in specs:
        if s.name not in value:
            raise PlanError(f"no {what} for dataset {s.name!r}")
    return value


def rows_for_size(target_bytes: int, bytes_per_row: float) -> int:
    return max(1, round(target_bytes / bytes_per_row))


def _measure(gen, rows: int | None, target: int | None, sizing: Sizing, block_rows: int, num_shards: int
             ) -> tuple[int, float]:
    """(rows, bytes a row as written) of one dataset: ``rows`` as given, or as many as fill ``target`` bytes."""
    sample = sizing.sample_rows if target is not None else min(rows, sizing.estimate_rows)
    group = min(block_rows, sample)  # one group per generated block, as the sinks write
    bpr = sizing.bytes_per_row(gen, sample, group)
    if target is None:
        return rows, bpr
    overhead = sizing.file_bytes(gen) * max(num_shards, 1)
    n = rows_for_size(max(target - overhead, 1), bpr)
    # A small dataset, or small shards (a shard's groups hold at most its rows): measure again on a sample shaped
    # like the files, until the row count settles.
    shape = (sample, group)
    for _ in range(RESHAPES):
        per_shard = -(-n // num_shards) if num_shards else n
        wanted = (min(n, sample), min(per_shard, group, n))
        if wanted == shape:
            break
        shape = wanted
        bpr = sizing.bytes_per_row(gen, *shape)
        n = rows_for_size(max(target - overhead, 1), bpr)
    return n, bpr
