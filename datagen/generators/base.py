"""What a generator of the spec language is: one class holding its name, its keys and typed parameters with
their checks, the types it makes, whether it draws at random, the maker of its values and its documented
example. The spec's reader (datagen/spec.py) and the engine (datagen/engine.py) know generators only through
these classes, found by name in :data:`REGISTRY`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from datagen.checks import Where
    from datagen.columns import Batch, Col
    from datagen.types import ColumnType

REGISTRY: dict[str, type[Generator]] = {}  # name -> class, in the order the spec's messages list them


def register(generator: type[Generator]) -> type[Generator]:
    """Makes ``generator`` known to the spec's reader and the engine under its name (usable as a decorator)."""
    if generator.name in REGISTRY and REGISTRY[generator.name] is not generator:
        raise ValueError(f"a generator named {generator.name!r} is registered already")
    REGISTRY[generator.name] = generator
    return generator


class Parameters:
    """The base of a generator's checked parameters, each a frozen dataclass. They also read as the mapping of the
    keys that are set (``params["values"]``, ``params.get("column")``, ``"truncate" in params``; a None field is
    not set), as code written when parameters were dictionaries reads them."""

    def __getitem__(self, key: str):
        value = getattr(self, key) if key in _field_names(type(self)) else None
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None


def _field_names(params: type) -> frozenset:
    return frozenset(f.name for f in dataclasses.fields(params))


@dataclass(frozen=True)
class NoParameters(Parameters):
    """The parameters of a generator that takes none."""


@dataclass(frozen=True)
class Example:
    """A generator's example in docs/spec.md (its section shows ``spec`` and ``shows`` as they are written here):
    tests/test_generators.py makes ``rows`` rows of it and asserts what ``shows`` says with ``check``."""

    spec: str  # a small spec using the generator, in YAML
    shows: str  # one sentence: what its rows show
    check: Callable[[dict], None]  # asserts it of the rows made: column name -> values (``to_pydict``)
    rows: int = 20_000
    parents: dict = field(default_factory=dict)  # built-in datasets it references -> their rows


class Generator:
    """One generator: the class says what a column with ``generator: <name>`` may say and checks it
    (:meth:`check`); an instance, made by the engine for one column, makes that column's values (:meth:`make`).
    A new generator is a subclass in a module of its family, and one :func:`register` line in
    ``datagen/generators/__init__.py``. A ``column`` below is a :class:`datagen.spec.ColumnSpec`, ``columns`` the
    dataset's by name, and ``dataset`` the engine's :class:`datagen.engine.DatasetGenerator` (above this module:
    named, not imported)."""

    name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]] = ()  # its own keys in a column, in the order messages list them
    required: ClassVar[tuple[str, ...]] = ()
    types: ClassVar[tuple[str, ...] | None] = None  # the column types it makes (None: any)
    default_type: ClassVar[str]
    random: ClassVar[bool] = False  # draws from its column's stream, so it can draw once per entity (``per``)
    may_be_by: ClassVar[bool] = False  # its values are few and exact: it may be the ``by`` of a categorical
    composes_reads: ClassVar[bool] = False  # its value is text made from the columns it reads alone, no draws
    Params: ClassVar[type[Parameters]] = NoParameters
    example: ClassVar[Example]

    @classmethod
    def check(cls, given: dict, ctype: ColumnType, where: Where) -> tuple[Parameters, tuple[str, ...]]:
        """The generator's keys that a column gives (``given``) checked into :attr:`Params`, and the columns of the
        dataset they read; a mistake is ``where.error(...)``."""
        return cls.Params(), ()

    # What holds over the whole spec, once every column is read (those a column reads are complete already). The
    # defaults: nothing to check, nothing listed, never null by itself.

    @classmethod
    def check_in_dataset(cls, column, columns: dict, where: Where):
        """``column`` checked against the columns it reads; the column, or a copy with what they tell it."""
        return column

    @classmethod
    def may_be_null(cls, column, columns: dict) -> bool:
        """Whether ``column`` can be null for a reason of its generator (beside ``nulls`` and ``per``)."""
        return False

    @classmethod
    def listed_values(cls, params: Parameters) -> list | None:
        """The values a column can take where the spec lists them (other columns' cases and maps are checked
        against them), else None."""
        return None

    @classmethod
    def references(cls, params: Parameters) -> tuple[str, ...]:
        """The other datasets of the run the column reads."""
        return ()

    @classmethod
    def pool(cls, params: Parameters) -> int | None:
        """n where the column numbers a pool of entities 1..n (columns ``per`` it are then made once for the whole
        pool), else None."""
        return None

    def __init__(self, column, dataset):
        self.column, self.name, self.params = column, column.name, column.params

    def make(self, b: Batch, positions) -> Col:
        """The column's values for the rows of ``b``; ``positions`` (None: the row indices) index its streams."""
        raise NotImplementedError
