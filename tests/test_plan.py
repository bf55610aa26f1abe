"""datagen.plan: a run's datasets in an order where each comes after those it references, and each one's row
count from rows or a target size, measured through the Sizing a job gives (planning knows no file format)."""

from __future__ import annotations

import pytest

from datagen import plan
from datagen.spec import builtin, parse
from tests.helpers import ROOT

ORDERS = parse((ROOT / "docs" / "examples" / "orders.yaml").read_text(), "orders.yaml")


def spec(name: str, *references: str):
    columns = "".join(f"  - {{name: {r}_id, generator: reference, dataset: {r}}}\n" for r in references)
    return parse(f"dataset: {name}\ncolumns:\n  - {{name: id, generator: sequence}}\n{columns}", f"{name}.yaml")


def test_parents_come_first_and_the_rest_keep_their_order():
    films, clients = builtin("films"), builtin("clients")
    assert [s.name for s in plan.order_datasets([ORDERS, films, clients])] == ["clients", "orders", "films"]
    a, b, c = spec("a", "c"), spec("b"), spec("c", "b")
    assert [s.name for s in plan.order_datasets([a, b, c])] == ["b", "c", "a"]


@pytest.mark.parametrize("given,message", [
    ([spec("x"), spec("x")], "dataset 'x' is given twice (x.yaml and x.yaml)"),
    ([spec("x", "y")], "x.yaml: column 'y_id': references dataset 'y', which is not in this run: add it with "
                       "--datasets or --spec"),
    ([spec("x", "a"), spec("a", "b"), spec("b", "a")], "datasets reference each other in a cycle: x -> a -> b -> a"),
])
def test_a_run_that_cannot_be_planned_is_one_plan_error(given, message):
    with pytest.raises(plan.PlanError) as raised:
        plan.order_datasets(given)
    assert str(raised.value) == message


class Measured:
    """A Sizing of 10 bytes a row and 100 bytes a file, that records the samples it was asked to measure."""

    def __init__(self):
        self.samples = []

    def sizing(self, sample_rows=1000, estimate_rows=50):
        def bytes_per_row(gen, sample, group):
            self.samples.append((gen.spec.name, sample, group))
            return 10.0

        return plan.Sizing(bytes_per_row, lambda gen: 100, sample_rows=sample_rows, estimate_rows=estimate_rows)


def test_rows_given_are_kept_and_a_referencing_dataset_sees_its_parents_rows():
    measured = Measured()
    plans = plan.plan([ORDERS, builtin("clients")], rows={"orders": 500, "clients": 30}, sizing=measured.sizing(),
                      block_rows=40)
    assert [(p.name, p.rows, p.bytes_per_row) for p in plans] == [("clients", 30, 10.0), ("orders", 500, 10.0)]
    assert plans[1].run == {"clients": (builtin("clients"), 30)} and plans[0].run == {}
    assert measured.samples == [("clients", 30, 30), ("orders", 50, 40)]  # an estimate: at most estimate_rows
    assert plans[1].schema.column_names == [c.name for c in ORDERS.output_columns]
    unsized = plan.plan([builtin("films")], rows=7)
    assert (unsized[0].rows, unsized[0].bytes_per_row) == (7, None)


def test_a_target_size_is_filled_less_what_each_file_costs():
    measured = Measured()
    (films,) = plan.plan([builtin("films")], targets=10_100, sizing=measured.sizing(), block_rows=400)
    assert films.rows == 1000 and measured.samples == [("films", 1000, 400)]  # (10,100 - 100) / 10
    measured = Measured()
    (films,) = plan.plan([builtin("films")], targets={"films": 1_300}, sizing=measured.sizing(), num_shards=4)
    # 4 files cost 400 bytes: 90 rows; measured again on a sample shaped like those files (23 rows each)
    assert films.rows == 90 and measured.samples == [("films", 1000, 1000), ("films", 90, 23)]


def test_what_cannot_be_planned():
    with pytest.raises(plan.TooManyRows, match=f"films: 100,000,000,000,000,000 bytes means more than "
                                               f"{plan.MAX_ROWS:,} rows"):
        plan.plan([builtin("films")], targets=10**17, sizing=Measured().sizing())
    with pytest.raises(plan.PlanError, match="no row count for dataset 'clients'"):
        plan.plan([builtin("films"), builtin("clients")], rows={"films": 5})
    with pytest.raises(plan.PlanError, match="a target size needs the sizing"):
        plan.plan([builtin("films")], targets=1000)
