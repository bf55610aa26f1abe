"""The generator of text: template, composed from literal parts and the values of other columns."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

from datagen import checks
from datagen.arrow import pa, pc
from datagen.columns import Col, to_arrow
from datagen.generators import filters
from datagen.generators.base import Example, Generator, Parameters
from datagen.text import SMALL_RANGE, compose, merge_small_slots, split_integer_slots


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
            name, *applied = [s.strip() for s in text[i + 1:close].split("|")]
            parts.append(("col", name, tuple(applied)))
            i = close + 1
        elif ch == "}":
            raise ValueError(f"unbalanced brace at character {i + 1}")
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append(("lit", "".join(literal)))
    return parts


def _names_in_lower_case_with_a_year_or_none(rows):
    no_year = 0
    for mail, as_json in zip(rows["mail"], rows["as_json"]):
        first, last = json.loads(as_json)["name"].split(" ")
        address = re.fullmatch(re.escape(f"{first.lower()}.{last.lower()}") + r"(\d*)@example\.com", mail)
        assert address, mail
        year = address.group(1)
        assert year == "" or 1950 <= int(year) <= 2007
        no_year += year == ""
    assert abs(no_year / len(rows["mail"]) - 0.6) < 0.02


class Template(Generator):
    """Text composed from literal parts and other columns, with filters; one gather per batch."""

    name = "template"
    keys = required = ("template",)
    types, default_type = ("string",), "string"
    composes_reads = True
    example = Example(
        spec="""\
dataset: accounts
columns:
  - name: first
    hidden: true
    generator: categorical
    vocabulary: first_names
  - name: last
    hidden: true
    generator: categorical
    vocabulary: last_names
  - name: year
    hidden: true
    type: int64
    generator: uniform
    min: 1950
    max: 2007
    nulls: 0.6                   # 60% of addresses have no number
  - name: mail
    generator: template
    template: "{first|lower}.{last|lower}{year}@example.com"
  - name: as_json
    generator: template
    template: '{{"name": "{first} {last}"}}'   # {"name": "Ann Smith"}
""",
        shows="`mail` is the first and last name in lower case, then the year (left out in about 60% of the rows), "
              "then @example.com; `as_json` writes literal braces around the name.",
        check=_names_in_lower_case_with_a_year_or_none)

    @dataclass(frozen=True)
    class Params(Parameters):
        template: str

    @classmethod
    def check(cls, given, ctype, where):
        text = given["template"]
        if not isinstance(text, str) or not text:
            raise where.error(f"template: expected text with {{column}} placeholders, got {text!r}")
        try:
            parts = template_parts(text)
        except ValueError as e:
            raise where.error(f"template: {e} of {text!r} (write {{{{ and }}}} for literal braces)") from None
        for part in parts:
            if part[0] == "col":
                if not checks.COLUMN_NAME.match(part[1]):
                    raise where.error(f"template: {{{part[1]}}} is not a column name")
                for f in part[2]:
                    if f not in filters.FILTERS:
                        raise where.error(f"template: unknown filter {f!r} in {{{part[1]}|...}}: expected one of "
                                          f"{', '.join(filters.FILTERS)}")
        return cls.Params(text), tuple(part[1] for part in parts if part[0] == "col")

    def __init__(self, column, dataset):
        super().__init__(column, dataset)
        self.parts = template_parts(self.params.template)

    def make(self, b, positions):
        slots = []  # (pieces: pa.Array of strings, piece number of each row: np.ndarray)
        for part in self.parts:
            if part[0] == "lit":
                slots.append((pa.array([part[1]], pa.string()), np.zeros(b.n, dtype=np.int64)))
                continue
            col = b.cols[part[1]]
            if col.dictionary is not None:
                pieces = col.dictionary
                for f in part[2]:
                    pieces = filters.on_text(pieces, f)
                index = np.asarray(col.data, dtype=np.int64)
                if col.valid is not None:  # a null value writes nothing
                    pieces = pa.concat_arrays([pieces, pa.array([""], pa.string())])
                    index = np.where(col.valid, index, len(pieces) - 1)
                slots.append((pieces, index))
            elif b.gen.column_types[part[1]].name == "int64" and _is_small_int(col):  # a year: each value once
                data = np.asarray(col.data)
                lo, hi = int(data.min()), int(data.max())
                pieces = pa.array([str(v) for v in range(lo, hi + 1)] + [""], pa.string())
                index = data - lo
                if col.valid is not None:
                    index = np.where(col.valid, index, hi - lo + 1)
                slots.append((pieces, index))
            elif (split := _split_int(col, b.gen.column_types[part[1]])) is not None:
                slots.extend(split)
            else:
                text = _as_text(col, b.gen.column_types[part[1]])
                for f in part[2]:
                    text = filters.on_text(text, f)
                slots.append((text, np.arange(b.n, dtype=np.int64)))
        slots = merge_small_slots(slots)  # literals and small choices joined ahead: fewer pieces a row
        vocabulary = pa.concat_arrays([s[0] for s in slots])
        index = np.empty((b.n, len(slots)), dtype=np.int64)
        base = 0
        for j, (pieces, rows) in enumerate(slots):
            index[:, j] = rows + base
            base += len(pieces)
        return Col(compose(vocabulary, index))


def _split_int(col: Col, ctype) -> list | None:
    """Wide non-negative int64 values without nulls (a permutation's numbers) as two small slots, the digits
    above the last four and those four, as the CSV encoder writes them: cheaper than rendering each value."""
    data = col.data
    if ctype.name != "int64" or col.valid is not None or not isinstance(data, np.ndarray) or not len(data):
        return None
    return split_integer_slots(data, "")


def _is_small_int(col: Col) -> bool:
    data = col.data
    if not isinstance(data, np.ndarray) or data.dtype != np.int64 or not len(data):
        return False
    return int(data.max()) - int(data.min()) < min(SMALL_RANGE, len(data))


def _as_text(col: Col, ctype) -> pa.Array:
    arr = to_arrow(col, ctype)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_floating(arr.type):
        text = arr.cast(pa.string())
    elif pa.types.is_boolean(arr.type):
        text = pc.if_else(arr, "true", "false")
    else:
        text = arr.cast(pa.string())
    return pc.fill_null(text, "")
