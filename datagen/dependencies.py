"""One topological order for what depends on what: a spec's columns (each after the columns it reads) and a run's
datasets (each after the datasets it references)."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def topological(names: Iterable[str], depends_on: Callable[[str], Iterable[str]],
                cycle: Callable[[list[str]], Exception]) -> list[str]:
    """``names`` in an order where each comes after what ``depends_on`` it, otherwise in the order given (a depth-
    first walk: what a name depends on, in the order ``depends_on`` gives, goes just before it). A cycle raises
    ``cycle(path)``, ``path`` being the walk from where it started to the name met again (``[x, a, b, a]``)."""
    state, order = {}, []

    def visit(name, path):
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise cycle(path + [name])
        state[name] = "visiting"
        for d in depends_on(name):
            visit(d, path + [name])
        state[name] = "done"
        order.append(name)

    for name in names:
        visit(name, [])
    return order
