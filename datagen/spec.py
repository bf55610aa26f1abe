"""Reading and checking a dataset spec (YAML or JSON): the one place that defines a dataset.

A spec is data, never code: it is checked here, key by key, into :class:`DatasetSpec` and :class:`ColumnSpec`,
and every mistake is a :class:`SpecError` of one line naming the file, the column and what was expected.
The language is documented in ``docs/spec.md``; the built-in datasets are specs in ``datagen/datasets/``.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import math
import re
from dataclasses import dataclass, field
from importlib import resources

from datagen import expressions, types
from datagen.types import ColumnType

BUILTIN_FOLDER = "datasets"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
FILTERS = ("lower", "upper", "title")
MAX_ITEMS = 64  # k of the items generator

COMMON_KEYS = ("name", "type", "description", "generator", "nulls", "hidden", "per", "clip", "decimals")
# generator -> (its own keys, required keys, allowed types, default type)
GENERATORS = {
    "sequence": (("start", "step"), (), ("int64",), "int64"),
    "constant": (("value",), ("value",), None, "string"),
    "uniform": (("min", "max"), ("min", "max"), ("int64", "float64", "numeric"), "float64"),
    "normal": (("mean", "sd", "truncate"), ("mean", "sd"), ("int64", "float64", "numeric"), "float64"),
    "lognormal": (("median", "sigma", "truncate"), ("median", "sigma"), ("int64", "float64", "numeric"), "float64"),
    "categorical": (("values", "weights", "vocabulary", "filter", "by", "cases"), (), None, "string"),
    "items": (("values", "weights", "vocabulary", "filter", "count", "separator"), ("count",), ("string",), "string"),
    "date_range": (("start", "end", "growth"), ("start", "end"), ("date",), "date"),
    "timestamp_range": (("start", "end", "growth", "hourly"), ("start", "end"), ("timestamp",), "timestamp"),
    "template": (("template",), ("template",), ("string",), "string"),
    "expression": (("expression", "maps"), ("expression",), ("int64", "float64", "numeric", "bool", "date"),
                   "float64"),
    "reference": (("dataset", "distribution", "exponent", "column"), ("dataset",), ("int64",), "int64"),
    "zipf": (("n", "exponent"), ("n",), ("int64",), "int64"),
    "permutation": ((), (), ("int64",), "int64"),
}
RANDOM = {"uniform", "normal", "lognormal", "categorical", "items", "date_range", "timestamp_range", "zipf"}


class SpecError(ValueError):
    """A mistake in a spec: ``str()`` is one line, ``<file>: column '<name>': <what was expected>``."""


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: ColumnType
    generator: str
    params: dict
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
        return {c.params["dataset"] for c in self.columns if c.generator == "reference"}


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
            from apache_beam.io.filesystems import FileSystems

            with FileSystems.open(path) as f:
                data = f.read()
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

class _Where:
    """Builds error messages for one place in one file."""

    def __init__(self, source: str, column: str | None = None):
        self.source, self.column = source, column

    def error(self, message: str) -> SpecError:
        at = f"column {self.column!r}: " if self.column else ""
        return SpecError(f"{self.source}: {at}{message}")


def from_dict(raw, source: str = "<spec>") -> DatasetSpec:
    top = _Where(source)
    if not isinstance(raw, dict):
        raise top.error("expected a mapping with 'dataset' and 'columns' at the top level")
    top_keys = ("dataset", "description", "columns", "merge_order", "primary_key")
    unknown = [k for k in raw if k not in top_keys]
    if unknown:
        raise top.error(f"unknown key {unknown[0]!r}: expected one of {', '.join(top_keys)}"
                        f"{_did_you_mean(unknown[0], top_keys)}")
    name = raw.get("dataset")
    if not isinstance(name, str) or not _NAME.match(name):
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
        if not isinstance(cname, str) or not _COLUMN.match(cname):
            raise top.error(f"columns: item {i + 1}: expected a name of letters, digits and _ (not starting with a "
                            f"digit), got {cname!r}")
        if cname in seen:
            raise top.error(f"column {cname!r} is defined twice")
        if cname in expressions.BUILTINS:
            raise top.error(f"column {cname!r}: the name is reserved (the row index in expressions)")
        seen.add(cname)
        columns.append(_column(c, _Where(source, cname)))
    by_name = {c.name: c for c in columns}
    for c in columns:
        where = _Where(source, c.name)
        for d in c.depends_on:
            if d not in by_name:
                raise where.error(f"unknown column {d!r}: expected one of {', '.join(by_name)}")
        _check_dependencies(c, by_name, where)
    if not any(not c.hidden for c in columns):
        raise top.error("every column is hidden: nothing would be written")
    order = _topological(columns, top)
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
    from dataclasses import replace

    by_name = {c.name: c for c in columns}
    for name in order:  # parents first
        c = by_name[name]
        null = c.nulls > 0
        if c.per and by_name[c.per].nullable:
            null = True
        if c.generator == "categorical" and c.params.get("by"):
            parent = by_name[c.params["by"]]
            known = _known_values(parent)
            uncovered = known is None or any(v not in c.params["cases"] for v in known)
            null = null or parent.nullable or ("default" not in c.params and uncovered)
        if c.generator == "expression":
            tree = expressions.parse(c.params["expression"])
            null = null or expressions.may_be_non_finite(tree, c.clip is not None) or any(
                by_name[d].nullable for d in c.depends_on)
        by_name[name] = replace(c, may_be_null=null)
    return [by_name[c.name] for c in columns]


def _topological(columns, top: _Where) -> list[str]:
    state, order = {}, []
    deps = {c.name: c.depends_on for c in columns}

    def visit(name, path):
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name):] + [name]
            raise top.error(f"dependency cycle: {' -> '.join(cycle)}")
        state[name] = "visiting"
        for d in deps[name]:
            visit(d, path + [name])
        state[name] = "done"
        order.append(name)

    for c in columns:
        visit(c.name, [])
    return order


def _check_dependencies(c: ColumnSpec, by_name: dict, where: _Where):
    if c.per:
        p = by_name[c.per]
        if p.type.name != "int64":
            raise where.error(f"per: {c.per!r} is {p.type}; expected an int64 column (an entity's number)")
    if c.generator == "categorical" and c.params.get("by"):
        parent = by_name[c.params["by"]]
        if parent.type.name not in ("string", "int64", "bool") or parent.generator not in (
                "categorical", "constant", "expression", "uniform", "sequence", "reference"):
            raise where.error(f"by: {parent.name!r} must be a string, int64 or bool column with few values, not a "
                              f"{parent.generator} of {parent.type}")
        parent_values = _known_values(parent)
        if parent_values is None:  # its values are not listed: a case must at least be a value of its type
            for k in c.params["cases"]:
                _key_fits(k, parent, where, "cases")
        else:
            missing = [v for v in parent_values if v not in c.params["cases"]]
            if missing and "default" not in c.params:
                raise where.error(f"cases: no case for value {missing[0]!r} of {parent.name!r}; add it or a "
                                  "'default' case")
            extra = [k for k in c.params["cases"] if k not in parent_values]
            if extra:
                raise where.error(f"cases: {extra[0]!r} is not a value of {parent.name!r}: expected one of "
                                  f"{', '.join(map(str, parent_values))}")
    if c.generator == "items" and c.params.get("count_column"):
        counter = by_name[c.params["count_column"]]
        known = _known_values(counter)
        limit = len(c.params["values"]) if "values" in c.params else MAX_ITEMS
        if counter.type.name != "int64" or known is None or not all(1 <= v <= min(limit, MAX_ITEMS) for v in known):
            raise where.error(f"count: {counter.name!r} must be an int64 categorical (or constant) whose values are "
                              f"numbers of items from 1 to {min(limit, MAX_ITEMS)}")
        c.params["count"] = [int(v) for v in known]
        weights = counter.params.get("weights") if counter.generator == "categorical" else None
        c.params["count_weights"] = list(weights) if weights else [1.0] * len(known)
    if c.generator == "expression":
        for m, col in c.params["lookups"]:
            target = by_name[col]
            keys = _known_values(target)
            if keys is None:
                for k in c.params["maps"][m]:
                    _key_fits(k, target, where, f"maps: {m}")
            else:
                bad = [k for k in c.params["maps"][m] if k not in keys]
                if bad:
                    raise where.error(f"maps: {m}: {bad[0]!r} is not a value of {col!r}: expected one of "
                                      f"{', '.join(map(str, keys))}")
        for n in c.params["reads"]:
            if by_name[n].type.name == "string":
                raise where.error(f"expression: {n!r} is a string column; use a map to turn its values into "
                                  f"numbers, e.g. effect[{n}]")


def _key_fits(k, c: ColumnSpec, where, key):
    """A case of ``by`` or a map's key, for a column whose values are not listed: a value of its type, or it
    would match no row."""
    t = c.type.name
    ok = {"string": lambda x: isinstance(x, str), "bool": lambda x: isinstance(x, bool),
          "int64": lambda x: _is_number(x) and int(x) == x and INT64_MIN <= x <= INT64_MAX,
          "float64": _is_number, "numeric": _is_number}.get(t, lambda x: True)
    if not ok(k):
        quote = " (quote it)" if t == "string" else ""
        raise where.error(f"{key}: {k!r} is not a value of {c.name!r}: expected a value of type {c.type}{quote}")


def _known_values(c: ColumnSpec):
    """The values a column can take when the spec lists them (categorical, constant), else None."""
    if c.generator == "categorical":
        if c.params.get("vocabulary") or any(case.get("vocabulary") for case in c.params.get("cases", {}).values()):
            return None
        values = list(c.params.get("values") or [])
        for case in c.params.get("cases", {}).values():
            values += [v for v in case.get("values") or [] if v not in values]
        return values
    if c.generator == "constant":
        return [c.params["value"]]
    return None


def _did_you_mean(key, known) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _column(c: dict, where: _Where) -> ColumnSpec:
    gen = c.get("generator")
    if not isinstance(gen, str) or gen not in GENERATORS:
        # Keys first: a misspelt 'generator' key is named as such, not reported as a missing generator.
        every_key = dict.fromkeys(COMMON_KEYS + tuple(k for g in GENERATORS.values() for k in g[0]))
        for key in c:
            if key not in every_key:
                raise where.error(f"unknown key {key!r}: expected one of {', '.join(COMMON_KEYS[1:])} or a key of "
                                  f"the column's generator{_did_you_mean(key, every_key)}")
        if gen is None:
            raise where.error(f"needs 'generator': expected one of {', '.join(GENERATORS)}")
        raise where.error(f"unknown generator {gen!r}: expected one of {', '.join(GENERATORS)}"
                          f"{_did_you_mean(gen, GENERATORS)}")
    own, required, allowed_types, default_type = GENERATORS[gen]
    for key in c:
        if key not in COMMON_KEYS and key not in own:
            raise where.error(f"unknown key {key!r} for generator {gen}: expected one of "
                              f"{', '.join(COMMON_KEYS[1:] + own)}{_did_you_mean(key, COMMON_KEYS + own)}")
    for key in required:
        if key not in c:
            raise where.error(f"generator {gen} needs {key!r}")
    try:
        ctype = types.parse(c.get("type", default_type))
    except ValueError as e:
        raise where.error(f"type: {e}") from None
    if allowed_types is not None and ctype.name not in allowed_types:
        raise where.error(f"type {ctype} does not fit generator {gen}: expected "
                          f"{' or '.join(allowed_types)}")
    description = c.get("description", "")
    if not isinstance(description, str):
        raise where.error(f"description: expected text, got {description!r}")
    nulls = c.get("nulls", 0)
    if not _is_number(nulls) or not 0 <= nulls < 1:
        raise where.error(f"nulls: expected a fraction from 0 to below 1, got {nulls!r}")
    hidden = c.get("hidden", False)
    if not isinstance(hidden, bool):
        raise where.error(f"hidden: expected true or false, got {hidden!r}")
    per = c.get("per")
    if per is not None:
        if gen not in RANDOM:
            raise where.error(f"per: only random generators ({', '.join(sorted(RANDOM))}) draw per entity")
        if not isinstance(per, str):
            raise where.error(f"per: expected a column name, got {per!r}")
    clip = c.get("clip")
    if clip is not None:
        if not ctype.is_number:
            raise where.error(f"clip: only number columns are clipped, this one is {ctype}")
        clip = _bounds(clip, ctype, where, "clip")
    decimals = c.get("decimals")
    if decimals is not None:
        if ctype.name != "float64":
            raise where.error("decimals: only float64 columns have a number of decimals (numeric(p, s) has s)")
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 15:
            raise where.error(f"decimals: expected a whole number from 0 to 15, got {decimals!r}")
    if ctype.name == "numeric":
        decimals = ctype.scale
    params = {k: c[k] for k in own if k in c}
    params, depends = _PARAMS[gen](params, ctype, where)
    if per:
        depends = depends + (per,)
    if c["name"] in depends:
        raise where.error(f"dependency cycle: {c['name']} -> {c['name']}")
    return ColumnSpec(name=c["name"], type=ctype, generator=gen, params=params, description=description,
                      nulls=float(nulls), hidden=hidden, per=per, clip=clip, decimals=decimals,
                      depends_on=tuple(dict.fromkeys(depends)))


# --- the parameters of each generator ----------------------------------------------------------------------

def _is_number(v) -> bool:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # a whole number beyond any float: no column type holds it
        return False


def _number(params, key, where, default=None, positive=False, whole=False):
    v = params.get(key, default)
    if not _is_number(v) or (whole and int(v) != v) or (positive and v <= 0):
        what = "a whole number" if whole else "a number"
        raise where.error(f"{key}: expected {what}{' above 0' if positive else ''}, got {v!r}")
    return int(v) if whole else float(v)


def _pair(v, where, key):
    if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(_is_number(x) for x in v) or v[0] > v[1]:
        raise where.error(f"{key}: expected [low, high] with low <= high, got {v!r}")
    return (float(v[0]), float(v[1]))


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _numeric_range(t: ColumnType) -> str:
    top = f"{10 ** (t.precision - t.scale) - 1}" + (f".{'9' * t.scale}" if t.scale else "")
    return f"from -{top} to {top}"


def _fits(v, t: ColumnType, where, key, what=None):
    """Refuses a number the column's values take or are bounded by (a value, min or max, a truncate or clip bound)
    that its type cannot hold: written out of range, an int64 would wrap around and a numeric(p, s) would be an
    invalid decimal. A numeric is rounded to s decimals first, as every value of the column is."""
    what = f"{v!r}" if what is None else what
    if t.name == "int64" and not INT64_MIN <= v <= INT64_MAX:
        raise where.error(f"{key}: {what} does not fit int64: expected a whole number from {INT64_MIN} to "
                          f"{INT64_MAX}")
    if t.name == "numeric":
        f = 10.0 ** t.scale  # as the engine writes it: numpy's round(v, s), then rint(v * 10**s), halves to even
        fits = abs(v) < 10.0 ** t.precision and abs(round(round(v * f) / f * f)) < 10 ** t.precision
        if not fits:
            raise where.error(f"{key}: {what} does not fit {t}: expected a number {_numeric_range(t)}")
    return v


def _bounds(v, t: ColumnType, where, key):
    """A [low, high] pair bounding a number column's values, each of which its type must hold."""
    lo, hi = _pair(v, where, key)
    for x in v:
        _fits(x, t, where, key, f"{x!r} in {list(v)!r}")
    return lo, hi


def _sequence(p, t, where):
    start = _fits(_number(p, "start", where, 0, whole=True), t, where, "start")
    step = _fits(_number(p, "step", where, 1, whole=True), t, where, "step")
    if step == 0:
        raise where.error("step: expected a whole number other than 0, got 0")
    return {"start": start, "step": step}, ()


def _constant(p, t, where):
    return {"value": _value(p["value"], t, where, "value")}, ()


def _uniform(p, t, where):
    lo, hi = _number(p, "min", where), _number(p, "max", where)
    if lo > hi or (lo == hi and t.name != "int64"):
        raise where.error(f"min, max: expected min below max, got {p['min']!r} and {p['max']!r}")
    if t.name == "int64" and (int(lo) != lo or int(hi) != hi):
        raise where.error(f"min, max: an int64 column needs whole bounds, got {p['min']!r} and {p['max']!r}")
    _fits(lo, t, where, "min", repr(p["min"]))
    _fits(hi, t, where, "max", repr(p["max"]))
    return {"min": lo, "max": hi}, ()


def _normal(p, t, where):
    out = {"mean": _number(p, "mean", where), "sd": _number(p, "sd", where, positive=True)}
    if "truncate" in p:
        out["truncate"] = _bounds(p["truncate"], t, where, "truncate")
    return out, ()


def _lognormal(p, t, where):
    out = {"median": _number(p, "median", where, positive=True), "sigma": _number(p, "sigma", where, positive=True)}
    if "truncate" in p:
        lo, hi = _bounds(p["truncate"], t, where, "truncate")
        if hi <= 0:
            raise where.error(f"truncate: a log-normal is above 0: expected high above 0, got {p['truncate']!r}")
        out["truncate"] = (lo, hi)
    return out, ()


def _value(v, t: ColumnType, where, key):
    """One value as the column's type takes it (a YAML date for a date column, a number for int64, ...)."""
    ok = {
        "string": lambda x: isinstance(x, str),
        "int64": lambda x: _is_number(x) and int(x) == x,
        "float64": _is_number, "numeric": _is_number,
        "bool": lambda x: isinstance(x, bool),
        "date": lambda x: isinstance(x, (datetime.date, str)),
        "timestamp": lambda x: isinstance(x, (datetime.datetime, datetime.date, str)),
    }[t.name]
    if not ok(v):
        raise where.error(f"{key}: {v!r} does not fit the column's type {t}")
    if t.name == "int64":
        return _fits(int(v), t, where, key, repr(v))
    if t.name in ("float64", "numeric"):
        return float(_fits(v, t, where, key))
    if t.name == "date":
        return _date(v, where, key).isoformat()
    if t.name == "timestamp":
        return _timestamp(v, where, key).isoformat()
    return v


def _date(v, where, key) -> datetime.date:
    if isinstance(v, datetime.datetime):
        v = v.date()
    if isinstance(v, datetime.date):
        return v
    try:
        return datetime.date.fromisoformat(str(v))
    except ValueError:
        raise where.error(f"{key}: expected a date such as 2020-01-31, got {v!r}") from None


def _timestamp(v, where, key) -> datetime.datetime:
    if isinstance(v, datetime.datetime):
        ts = v
    elif isinstance(v, datetime.date):
        ts = datetime.datetime(v.year, v.month, v.day)
    else:
        try:
            ts = datetime.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        except ValueError:
            raise where.error(f"{key}: expected a timestamp such as 2020-01-31 13:45:00, got {v!r}") from None
    if ts.tzinfo is not None:
        try:
            ts = ts.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        except OverflowError:  # year 1 in a zone east of UTC, year 9999 west of it
            raise where.error(f"{key}: {v!r} is out of range in UTC: expected a timestamp from year 1 to "
                              "9999") from None
    return ts


def _weights(w, n, where, key="weights"):
    if not isinstance(w, list) or not all(_is_number(x) for x in w):
        raise where.error(f"{key}: expected a list of numbers, got {w!r}")
    if len(w) != n:
        raise where.error(f"{key}: {len(w)} weights for {n} values: expected one weight per value")
    if any(x < 0 for x in w):
        raise where.error(f"{key}: expected weights of 0 or more, got {min(w)!r}")
    if sum(w) <= 0:
        raise where.error(f"{key}: expected at least one weight above 0")
    return [float(x) for x in w]


def _choices(p, t, where, prefix=""):
    """values (list or value -> weight mapping) with optional weights, or a vocabulary."""
    from datagen import vocabulary

    has_values, has_vocab = "values" in p, "vocabulary" in p
    if has_values == has_vocab:
        raise where.error(f"{prefix}expected either 'values' or 'vocabulary'")
    if has_vocab:
        if t.name != "string":
            raise where.error(f"{prefix}vocabulary: vocabularies are strings, the column is {t}")
        if p["vocabulary"] not in vocabulary.NAMES:
            raise where.error(f"{prefix}unknown vocabulary {p['vocabulary']!r}: expected one of "
                              f"{', '.join(vocabulary.NAMES)}")
        if "weights" in p:
            raise where.error(f"{prefix}weights: a vocabulary brings its own weights (or none)")
        return {"vocabulary": p["vocabulary"]}
    values = p["values"]
    if isinstance(values, dict):
        if "weights" in p:
            raise where.error(f"{prefix}weights: the values mapping already gives each value its weight")
        weights = _weights(list(values.values()), len(values), where, f"{prefix}values")
        values = list(values)
    elif isinstance(values, list) and values:
        weights = _weights(p["weights"], len(values), where, f"{prefix}weights") if "weights" in p else None
    else:
        raise where.error(f"{prefix}values: expected a non-empty list, or a mapping of value to weight")
    values = [_value(v, t, where, f"{prefix}values") for v in values]
    if len(set(map(str, values))) != len(values):
        dup = next(v for v in values if list(map(str, values)).count(str(v)) > 1)
        raise where.error(f"{prefix}values: {dup!r} is listed twice")
    return {"values": values, "weights": weights}


def _filter(p, where):
    f = p.get("filter")
    if f is not None and f not in FILTERS:
        raise where.error(f"filter: unknown filter {f!r}: expected one of {', '.join(FILTERS)}")
    return f


def _categorical(p, t, where):
    f = _filter(p, where)
    if f and t.name != "string":
        raise where.error("filter: only string columns take a filter")
    by = p.get("by")
    if by is None:
        if "cases" in p:
            raise where.error("cases: needs 'by', the column whose value picks the case")
        return {**_choices(p, t, where), "filter": f}, ()
    if not isinstance(by, str):
        raise where.error(f"by: expected a column name, got {by!r}")
    cases = p.get("cases")
    if not isinstance(cases, dict) or not cases:
        raise where.error(f"cases: expected a mapping of each value of {by!r} to its values or weights")
    shared = {k: p[k] for k in ("values", "vocabulary") if k in p}
    if "weights" in p:
        raise where.error("weights: with 'by', each case gives its own weights")
    out = {}
    for key, case in cases.items():
        label = f"cases: {key}: "
        if isinstance(case, list):
            case = {"weights": case}
        if not isinstance(case, dict):
            raise where.error(f"{label}expected a list of weights or a mapping with values, weights or vocabulary")
        bad = set(case) - {"values", "weights", "vocabulary"}
        if bad:
            raise where.error(f"{label}unknown key {sorted(bad)[0]!r}: expected values, weights or vocabulary")
        merged = dict(case) if ("values" in case or "vocabulary" in case) else {**shared, **case}
        out[key] = _choices(merged, t, where, label)
    if "default" in out:
        out["default"] = out.pop("default")
    result = {"by": by, "cases": {k: v for k, v in out.items() if k != "default"}, "filter": f}
    if "default" in out:
        result["default"] = out["default"]
    return result, (by,)


def _items(p, t, where):
    choices = _choices(p, t, where)
    count = p["count"]
    count_column = None
    if isinstance(count, str):  # the number of items is another column's value
        count_column = count
        ks, kw = list(range(1, (len(choices["values"]) if "values" in choices else MAX_ITEMS) + 1)), None
    elif _is_number(count) and int(count) == count:
        ks, kw = [int(count)], [1.0]
    elif isinstance(count, list) and len(count) == 2 and all(_is_number(x) and int(x) == x for x in count):
        ks = list(range(int(count[0]), int(count[1]) + 1))
        kw = [1.0] * len(ks)
    elif isinstance(count, dict) and count:
        ks = []
        for k in count:
            try:
                ks.append(int(k))
            except (TypeError, ValueError):
                raise where.error(f"count: {k!r} is not a whole number of items") from None
        kw = _weights(list(count.values()), len(ks), where, "count")
    else:
        raise where.error(f"count: expected a number of items, [min, max], or a mapping of number to weight, got "
                          f"{count!r}")
    size = len(choices["values"]) if "values" in choices else None
    if not ks or min(ks) < 1 or max(ks) > MAX_ITEMS or (size is not None and max(ks) > size):
        limit = MAX_ITEMS if size is None else min(MAX_ITEMS, size)
        raise where.error(f"count: expected numbers of items from 1 to {limit}, got {count!r}")
    sep = p.get("separator", ",")
    if not isinstance(sep, str):
        raise where.error(f"separator: expected text, got {sep!r}")
    out = {**choices, "count": ks, "count_weights": kw or [1.0] * len(ks), "separator": sep,
           "filter": _filter(p, where)}
    if count_column:
        out["count_column"] = count_column
        return out, (count_column,)
    return out, ()


def _growth(p, where):
    return _number(p, "growth", where, 1.0, positive=True)


def _date_range(p, t, where):
    start, end = _date(p["start"], where, "start"), _date(p["end"], where, "end")
    if end < start:
        raise where.error(f"end: expected a date on or after start {start}, got {end}")
    return {"start": start.isoformat(), "end": end.isoformat(), "growth": _growth(p, where)}, ()


def _timestamp_range(p, t, where):
    start, end = _timestamp(p["start"], where, "start"), _timestamp(p["end"], where, "end")
    if end <= start:
        raise where.error(f"end: expected a timestamp after start {start}, got {end}")
    out = {"start": start.isoformat(), "end": end.isoformat(), "growth": _growth(p, where)}
    if "hourly" in p:
        out["hourly"] = _weights(p["hourly"], 24, where, "hourly")
    return out, ()


def template_parts(text: str) -> list:
    """``'{first|lower}.{last}@x'`` -> [('col', 'first', ('lower',)), ('lit', '.'), ('col', 'last', ()), ...].
    ``{{`` and ``}}`` are literal braces, as in Python's str.format. A ValueError for an unbalanced brace."""
    parts, literal, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text[i:i + 2] == ch * 2:
            literal.append(ch)
            i += 2
        elif ch == "{":
            close = text.find("}", i)
            if close < 0 or "{" in text[i + 1:close]:
                raise ValueError(f"unbalanced brace at character {i + 1}")
            if literal:
                parts.append(("lit", "".join(literal)))
                literal = []
            name, *filters = [s.strip() for s in text[i + 1:close].split("|")]
            parts.append(("col", name, tuple(filters)))
            i = close + 1
        elif ch == "}":
            raise ValueError(f"unbalanced brace at character {i + 1}")
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append(("lit", "".join(literal)))
    return parts


def _template(p, t, where):
    text = p["template"]
    if not isinstance(text, str) or not text:
        raise where.error(f"template: expected text with {{column}} placeholders, got {text!r}")
    try:
        parts = template_parts(text)
    except ValueError as e:
        raise where.error(f"template: {e} of {text!r} (write {{{{ and }}}} for literal braces)") from None
    for part in parts:
        if part[0] == "col":
            if not _COLUMN.match(part[1]):
                raise where.error(f"template: {{{part[1]}}} is not a column name")
            for f in part[2]:
                if f not in FILTERS:
                    raise where.error(f"template: unknown filter {f!r} in {{{part[1]}|...}}: expected one of "
                                      f"{', '.join(FILTERS)}")
    return {"template": text}, tuple(part[1] for part in parts if part[0] == "col")


def _expression(p, t, where):
    try:
        tree = expressions.parse(p["expression"])
    except expressions.ExpressionError as e:
        raise where.error(f"expression: {e}") from None
    reads, lookups = expressions.names(tree)
    maps = p.get("maps", {})
    if not isinstance(maps, dict) or not all(isinstance(m, dict) for m in maps.values()):
        raise where.error("maps: expected a mapping of map name to a mapping of value to number")
    for name, m in maps.items():
        for k, v in m.items():
            if not _is_number(v):
                raise where.error(f"maps: {name}: {k!r} maps to {v!r}: expected a number")
    for m, col in lookups:
        if m not in maps:
            raise where.error(f"expression: unknown map {m!r} in {m}[{col}]: expected one of the column's maps "
                              f"({', '.join(maps) or 'none defined'})")
    unused = set(maps) - {m for m, _ in lookups}
    if unused:
        raise where.error(f"maps: {sorted(unused)[0]!r} is not used by the expression")
    reads = {r for r in reads if r not in expressions.BUILTINS}
    return ({"expression": p["expression"], "maps": {k: dict(v) for k, v in maps.items()},
             "reads": tuple(sorted(reads)), "lookups": tuple(sorted(lookups))},
            tuple(sorted(reads | {c for _, c in lookups})))


def _reference(p, t, where):
    ds = p["dataset"]
    if not isinstance(ds, str) or not _NAME.match(ds):
        raise where.error(f"dataset: expected a dataset name, got {ds!r}")
    dist = p.get("distribution", "uniform")
    if dist not in ("uniform", "zipf"):
        raise where.error(f"distribution: expected uniform or zipf, got {dist!r}")
    out = {"dataset": ds, "distribution": dist, "exponent": _number(p, "exponent", where, 1.0, positive=True)}
    if "exponent" in p and dist != "zipf":
        raise where.error("exponent: only the zipf distribution has an exponent")
    if "column" in p:
        if not isinstance(p["column"], str):
            raise where.error(f"column: expected a column name of dataset {ds!r}, got {p['column']!r}")
        out["column"] = p["column"]
    return out, ()


def _permutation(p, t, where):
    return {}, ()


def _zipf(p, t, where):
    n = _fits(_number(p, "n", where, whole=True, positive=True), t, where, "n")
    return {"n": n, "exponent": _number(p, "exponent", where, 1.0, positive=True)}, ()


_PARAMS = {
    "sequence": _sequence, "constant": _constant, "uniform": _uniform, "normal": _normal, "lognormal": _lognormal,
    "categorical": _categorical, "items": _items, "date_range": _date_range, "timestamp_range": _timestamp_range,
    "template": _template, "expression": _expression, "reference": _reference, "zipf": _zipf,
    "permutation": _permutation,
}
