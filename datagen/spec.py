"""Reading and checking a dataset spec (YAML or JSON): the one place that defines a dataset.

A spec is data, never code: it is checked here, key by key, into :class:`DatasetSpec` and :class:`ColumnSpec`,
and every mistake is a :class:`SpecError` of one line naming the file, the column and what was expected. This
module checks the document: its keys, names, types, the keys every column takes, dependency order and
nullability; each generator checks its own keys and what it reads (datagen/generators/, found by name in its
registry). The language is documented in ``docs/spec.md``; the built-in datasets are specs in
``datagen/datasets/``.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING

from datagen import checks, expressions, types
from datagen.checks import SpecError, Where
from datagen.dependencies import topological
from datagen.types import ColumnType

if TYPE_CHECKING:
    from datagen.generators import Parameters

__all__ = ["SpecError", "ColumnSpec", "DatasetSpec", "builtin", "builtin_names", "load", "parse", "from_dict"]

BUILTIN_FOLDER = "datasets"
COMMON_KEYS = ("name", "type", "description", "generator", "nulls", "hidden", "per", "clip", "decimals")


def _generators() -> dict:
    """The generators by name (:data:`datagen.generators.REGISTRY`), imported once a spec is read: a command's
    --help reads none."""
    from datagen.generators import REGISTRY

    return REGISTRY


def __getattr__(name: str):
    """``RANDOM``: the names of the generators that draw at random, those a column may draw ``per`` entity."""
    if name == "RANDOM":
        return frozenset(g.name for g in _generators().values() if g.random)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: ColumnType
    generator: str
    params: Parameters  # the generator's, checked (its class's Params)
    description: str = ""
    nulls: float = 0.0
    hidden: bool = False
    per: str | None = None
    clip: tuple | None = None
    decimals: int | None = None
    depends_on: tuple = ()  # columns of this dataset read by this one

    may_be_null: bool = False  # worked out over the whole spec (:func:`_nullability`)

    @property
    def nullable(self) -> bool:
        """Whether the column can hold nulls: a null fraction; a null entity key (``per``); a categorical whose
        ``by`` column has a value with no case and no default, or nulls; an expression reading a column that can
        be null, or whose result may not be a finite number (a division, log, sqrt, exp or power: such a value is
        written as null)."""
        return self.nulls > 0 or self.may_be_null

    @property
    def generator_class(self):
        """The class of the column's generator (:mod:`datagen.generators`): its checks and its maker."""
        return _generators()[self.generator]

    @property
    def listed_values(self) -> list | None:
        """The values the column can take where the spec lists them (a categorical's, a constant's), else None."""
        return self.generator_class.listed_values(self.params)

    @property
    def references(self) -> tuple[str, ...]:
        """The other datasets of the run the column reads (a reference's)."""
        return self.generator_class.references(self.params)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    columns: tuple  # of ColumnSpec, in the spec's order
    source: str  # the file, for messages
    merge_order: str = ""
    primary_key: str = ""
    order: tuple = field(default=())  # column names in an order where each comes after what it reads

    @property
    def output_columns(self) -> list[ColumnSpec]:
        return [c for c in self.columns if not c.hidden]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def references(self) -> set[str]:
        return {name for c in self.columns for name in c.references}


# --- loading -----------------------------------------------------------------------------------------------


def builtin_names() -> list[str]:
    folder = resources.files("datagen").joinpath(BUILTIN_FOLDER)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


@functools.cache
def builtin(name: str) -> DatasetSpec:
    """A built-in dataset (``datagen/datasets/<name>.yaml``), read once per process (specs are immutable)."""
    if name not in builtin_names():
        raise SpecError(f"unknown dataset {name!r}: expected one of {', '.join(builtin_names())}, or a spec "
                        "file with --spec")
    text = resources.files("datagen").joinpath(f"{BUILTIN_FOLDER}/{name}.yaml").read_text()
    return parse(text, f"datagen/datasets/{name}.yaml")


def load(path: str) -> DatasetSpec:
    """The spec in a local or ``gs://`` file (YAML, or JSON, which YAML reads too)."""
    return parse(read_text(path), path)


def read_text(path: str) -> str:
    try:
        if str(path).startswith("gs://"):
            data = _read_gcs(str(path))
        else:
            with open(path, "rb") as f:
                data = f.read()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a folder, expected a spec file (YAML or JSON)") from None
    except Exception as e:  # Cloud Storage's 404, permissions, an unreachable bucket, ...
        if type(e).__name__ == "NotFound":
            raise SpecError(f"{path}: no such spec file") from None
        raise SpecError(f"{path}: cannot read the spec file ({type(e).__name__}: {str(e).splitlines()[0][:200]})") \
            from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{path}: expected a UTF-8 text file (YAML or JSON)") from None


def _read_gcs(path: str) -> bytes:
    """A gs:// object's bytes with the Cloud Storage client (the engine imports no Beam), as the environment's
    credentials allow (STORAGE_EMULATOR_HOST points it at an emulator)."""
    from google.cloud import storage

    bucket, _, name = path[len("gs://"):].partition("/")
    try:
        client = storage.Client()
    except OSError:  # no project can be found: reading an object needs none
        client = storage.Client(project="-")
    return client.bucket(bucket).blob(name).download_as_bytes()


def parse(text: str, source: str = "<spec>") -> DatasetSpec:
    import yaml

    try:  # libyaml's safe loader where PyYAML was built with it: the same documents, several times faster
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"{source}: not valid YAML{where}: {problem}") from None
    return from_dict(raw, source)


# --- checking ----------------------------------------------------------------------------------------------

def from_dict(raw, source: str = "<spec>") -> DatasetSpec:
    top = Where(source)
    if not isinstance(raw, dict):
        raise top.error("expected a mapping with 'dataset' and 'columns' at the top level")
    top_keys = ("dataset", "description", "columns", "merge_order", "primary_key")
    unknown = [k for k in raw if k not in top_keys]
    if unknown:
        raise top.error(f"unknown key {unknown[0]!r}: expected one of {', '.join(top_keys)}"
                        f"{_did_you_mean(unknown[0], top_keys)}")
    name = raw.get("dataset")
    if not isinstance(name, str) or not checks.DATASET_NAME.match(name):
        raise top.error(f"dataset: expected a name of lowercase letters, digits and _ (starting with a letter), "
                        f"got {name!r}")
    columns_raw = raw.get("columns")
    if not isinstance(columns_raw, list) or not columns_raw:
        raise top.error("columns: expected a non-empty list of columns")
    seen = set()
    columns = []
    for i, c in enumerate(columns_raw):
        if not isinstance(c, dict):
            raise top.error(f"columns: item {i + 1} is not a mapping with name, type and generator")
        cname = c.get("name")
        if not isinstance(cname, str) or not checks.COLUMN_NAME.match(cname):
            raise top.error(f"columns: item {i + 1}: expected a name of letters, digits and _ (not starting with a "
                            f"digit), got {cname!r}")
        if cname in seen:
            raise top.error(f"column {cname!r} is defined twice")
        if cname in expressions.BUILTINS:
            raise top.error(f"column {cname!r}: the name is reserved (the row index in expressions)")
        seen.add(cname)
        columns.append(_column(c, Where(source, cname)))
    by_name = {c.name: c for c in columns}
    for i, c in enumerate(columns):
        where = Where(source, c.name)
        for d in c.depends_on:
            if d not in by_name:
                raise where.error(f"unknown column {d!r}: expected one of {', '.join(by_name)}")
        columns[i] = by_name[c.name] = _check_dependencies(c, by_name, where)
    if not any(not c.hidden for c in columns):
        raise top.error("every column is hidden: nothing would be written")
    order = topological([c.name for c in columns], lambda name: by_name[name].depends_on,
                        lambda walk: top.error(f"dependency cycle: {' -> '.join(walk[walk.index(walk[-1]):])}"))
    columns = _nullability(columns, order)
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise top.error(f"description: expected text, got {description!r}")
    merge_order = raw.get("merge_order") or ""
    visible = [c.name for c in columns if not c.hidden]
    for key, value in (("merge_order", merge_order), ("primary_key", raw.get("primary_key") or "")):
        if value and value not in visible:
            raise top.error(f"{key}: expected a written column, one of {', '.join(visible)}, got {value!r}")
    return DatasetSpec(name=name, description=description, columns=tuple(columns), source=source,
                       merge_order=merge_order, primary_key=raw.get("primary_key") or "", order=tuple(order))


def _nullability(columns: list, order: list) -> list:
    by_name = {c.name: c for c in columns}
    for name in order:  # parents first
        c = by_name[name]
        null = c.nulls > 0
        if c.per and by_name[c.per].nullable:
            null = True
        null = null or c.generator_class.may_be_null(c, by_name)
        by_name[name] = replace(c, may_be_null=null)
    return [by_name[c.name] for c in columns]


def _check_dependencies(c: ColumnSpec, by_name: dict, where: Where) -> ColumnSpec:
    """``c`` against the columns it reads (its generator may complete it from them)."""
    if c.per:
        p = by_name[c.per]
        if p.type.name != "int64":
            raise where.error(f"per: {c.per!r} is {p.type}; expected an int64 column (an entity's number)")
    return c.generator_class.check_in_dataset(c, by_name, where)


def _did_you_mean(key, known) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _column(c: dict, where: Where) -> ColumnSpec:
    generators = _generators()
    name = c.get("generator")
    if not isinstance(name, str) or name not in generators:
        # Keys first: a misspelt 'generator' key is named as such, not reported as a missing generator.
        every_key = dict.fromkeys(COMMON_KEYS + tuple(k for g in generators.values() for k in g.keys))
        for key in c:
            if key not in every_key:
                raise where.error(f"unknown key {key!r}: expected one of {', '.join(COMMON_KEYS[1:])} or a key of "
                                  f"the column's generator{_did_you_mean(key, every_key)}")
        if name is None:
            raise where.error(f"needs 'generator': expected one of {', '.join(generators)}")
        raise where.error(f"unknown generator {name!r}: expected one of {', '.join(generators)}"
                          f"{_did_you_mean(name, generators)}")
    gen = generators[name]
    for key in c:
        if key not in COMMON_KEYS and key not in gen.keys:
            raise where.error(f"unknown key {key!r} for generator {name}: expected one of "
                              f"{', '.join(COMMON_KEYS[1:] + gen.keys)}{_did_you_mean(key, COMMON_KEYS + gen.keys)}")
    for key in gen.required:
        if key not in c:
            raise where.error(f"generator {name} needs {key!r}")
    try:
        ctype = types.parse(c.get("type", gen.default_type))
    except ValueError as e:
        raise where.error(f"type: {e}") from None
    if gen.types is not None and ctype.name not in gen.types:
        raise where.error(f"type {ctype} does not fit generator {name}: expected {' or '.join(gen.types)}")
    description = c.get("description", "")
    if not isinstance(description, str):
        raise where.error(f"description: expected text, got {description!r}")
    nulls = c.get("nulls", 0)
    if not checks.is_number(nulls) or not 0 <= nulls < 1:
        raise where.error(f"nulls: expected a fraction from 0 to below 1, got {nulls!r}")
    hidden = c.get("hidden", False)
    if not isinstance(hidden, bool):
        raise where.error(f"hidden: expected true or false, got {hidden!r}")
    per = c.get("per")
    if per is not None:
        if not gen.random:
            random = sorted(g.name for g in generators.values() if g.random)
            raise where.error(f"per: only random generators ({', '.join(random)}) draw per entity")
        if not isinstance(per, str):
            raise where.error(f"per: expected a column name, got {per!r}")
    clip = c.get("clip")
    if clip is not None:
        if not ctype.is_number:
            raise where.error(f"clip: only number columns are clipped, this one is {ctype}")
        clip = checks.bounds(clip, ctype, where, "clip")
    decimals = c.get("decimals")
    if decimals is not None:
        if ctype.name != "float64":
            raise where.error("decimals: only float64 columns have a number of decimals (numeric(p, s) has s)")
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 15:
            raise where.error(f"decimals: expected a whole number from 0 to 15, got {decimals!r}")
    if ctype.name == "numeric":
        decimals = ctype.scale
    params, depends = gen.check({k: c[k] for k in gen.keys if k in c}, ctype, where)
    if per:
        depends = depends + (per,)
    if c["name"] in depends:
        raise where.error(f"dependency cycle: {c['name']} -> {c['name']}")
    return ColumnSpec(name=c["name"], type=ctype, generator=name, params=params, description=description,
                      nulls=float(nulls), hidden=hidden, per=per, clip=clip, decimals=decimals,
                      depends_on=tuple(dict.fromkeys(depends)))
