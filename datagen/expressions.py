"""The expression language of ``generator: expression`` columns: parsed by this module's own grammar, never
``eval``-ed, and evaluated over whole numpy arrays.

    expression := comparison
    comparison := sum [('<' | '<=' | '>' | '>=' | '==' | '!=') sum]
    sum        := product (('+' | '-') product)*
    product    := unary (('*' | '/' | '%') unary)*
    unary      := '-' unary | power
    power      := atom ['**' unary]
    atom       := number | name | name '[' name ']' | name '(' [argument (',' argument)*] ')' | '(' expression ')'
    argument   := expression | '[' number (',' number)* ']'      (a list of numbers: interp's knots)

A ``name`` is a column of the dataset (numbers as they are, booleans as 0/1, dates and timestamps as (fractional)
days since 1970-01-01 UTC) or ``row`` (the row index); ``map[column]`` looks each row's value of ``column`` up in
the column's ``maps`` (values not listed give 0); the functions are in :data:`FUNCTIONS`. ``normal(mean, sd)``
and ``uniform(low, high)`` draw a fresh value per row from a stream of their own.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# name -> (minimum, maximum) number of arguments
FUNCTIONS = {
    "abs": (1, 1), "sqrt": (1, 1), "log": (1, 1), "exp": (1, 1), "floor": (1, 1), "ceil": (1, 1),
    "round": (1, 2), "min": (2, 8), "max": (2, 8), "clip": (3, 3), "if": (3, 3),
    "year": (1, 1), "month": (1, 1), "day_of_week": (1, 1), "hour": (1, 1),
    "normal": (2, 2), "uniform": (2, 2), "interp": (3, 3),
}
RANDOM_FUNCTIONS = ("normal", "uniform")
BUILTINS = ("row",)
# Parentheses, function calls, signs and '**' each nest one level. The parser and the evaluation recurse once per
# level (about 8 frames for a call), so the limit keeps them well inside Python's stack; a chain of operators
# at one level ('1 + 1 + 1 + ...') is not nesting and is walked without recursion.
MAX_DEPTH = 50

_TOKEN = re.compile(r"\s*(?:(?P<number>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
                    r"|(?P<op>\*\*|<=|>=|==|!=|[-+*/%<>()\[\],]))")


class ExpressionError(ValueError):
    pass


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Lookup:
    map: str
    column: str


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple
    draw: int = -1  # for normal/uniform: which of the expression's random streams


@dataclass(frozen=True)
class Numbers:
    values: tuple


@dataclass(frozen=True)
class BinOp:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Neg:
    operand: object


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            bad = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ExpressionError(f"unexpected {text[bad:][:10]!r} at character {bad + 1}")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0
        self.draws = 0
        self.depth = 0

    def enter(self, pos: int):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"nested more than {MAX_DEPTH} levels deep at character {pos + 1} (parentheses, "
                                  "function calls, signs and ** each nest one level)")

    def leave(self):
        self.depth -= 1

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", len(self.text))

    def take(self, value=None):
        tok = self.peek()
        if value is not None and tok[1] != value:
            where = "the end" if tok[0] == "end" else f"{tok[1]!r} at character {tok[2] + 1}"
            raise ExpressionError(f"expected {value!r}, found {where}")
        self.i += 1
        return tok

    def parse(self):
        if not self.tokens:
            raise ExpressionError("the expression is empty")
        node = self.comparison()
        if self.peek()[0] != "end":
            tok = self.peek()
            raise ExpressionError(f"unexpected {tok[1]!r} at character {tok[2] + 1}")
        return node

    def comparison(self):
        left = self.sum()
        if self.peek()[1] in ("<", "<=", ">", ">=", "==", "!="):
            op = self.take()[1]
            left = BinOp(op, left, self.sum())
        return left

    def sum(self):
        node = self.product()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            node = BinOp(op, node, self.product())
        return node

    def product(self):
        node = self.unary()
        while self.peek()[1] in ("*", "/", "%"):
            op = self.take()[1]
            node = BinOp(op, node, self.unary())
        return node

    def unary(self):
        sign = self.peek()
        if sign[1] in ("-", "+"):
            self.take()
            self.enter(sign[2])
            operand = self.unary()
            self.leave()
            return Neg(operand) if sign[1] == "-" else operand
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek()[1] == "**":
            self.enter(self.take()[2])
            exponent = self.unary()
            self.leave()
            return BinOp("**", base, exponent)
        return base

    def atom(self):
        kind, value, pos = self.peek()
        if kind == "number":
            self.take()
            return Num(float(value))
        if value == "(":
            self.take()
            self.enter(pos)
            node = self.comparison()
            self.take(")")
            self.leave()
            return node
        if kind == "name":
            self.take()
            if self.peek()[1] == "[":
                self.take()
                kind2, column, pos2 = self.take()
                if kind2 != "name":
                    raise ExpressionError(f"{value}[...]: expected a column name at character {pos2 + 1}")
                self.take("]")
                return Lookup(value, column)
            if self.peek()[1] == "(":
                self.enter(pos)
                node = self.call(value, pos)
                self.leave()
                return node
            return Name(value)
        where = "the end of the expression" if kind == "end" else f"{value!r} at character {pos + 1}"
        raise ExpressionError(f"expected a number, a column or a function, found {where}")

    def argument(self):
        if self.peek()[1] != "[":
            return self.comparison()
        self.take("[")
        values = []
        while True:
            sign = -1.0 if self.peek()[1] == "-" else 1.0
            if sign < 0:
                self.take()
            kind, value, pos = self.take()
            if kind != "number":
                raise ExpressionError(f"a list holds numbers only: found {value!r} at character {pos + 1}")
            values.append(sign * float(value))
            if self.peek()[1] != ",":
                break
            self.take()
        self.take("]")
        return Numbers(tuple(values))

    def call(self, function, pos):
        if function not in FUNCTIONS:
            raise ExpressionError(f"unknown function {function!r} at character {pos + 1}: expected one of "
                                  f"{', '.join(FUNCTIONS)}")
        self.take("(")
        args = []
        if self.peek()[1] != ")":
            args.append(self.argument())
            while self.peek()[1] == ",":
                self.take()
                args.append(self.argument())
        self.take(")")
        lo, hi = FUNCTIONS[function]
        if not lo <= len(args) <= hi:
            count = str(lo) if lo == hi else f"{lo} to {hi}"
            raise ExpressionError(f"{function}() takes {count} arguments, got {len(args)}")
        lists = [isinstance(a, Numbers) for a in args]
        if function == "interp":
            if lists != [False, True, True] or len(args[1].values) != len(args[2].values) or len(
                    args[1].values) < 2 or any(b <= a for a, b in zip(args[1].values, args[1].values[1:])):
                raise ExpressionError("interp(x, [x1, x2, ...], [y1, y2, ...]): two lists of numbers of the same "
                                      "length (2 or more), the first increasing")
        elif any(lists):
            raise ExpressionError(f"{function}(): a list of numbers is an argument of interp() only")
        if function == "round" and len(args) == 2 and not (isinstance(args[1], Num) and args[1].value == int(
                args[1].value) and 0 <= args[1].value <= 15):
            raise ExpressionError("round(x, n): n must be a whole number from 0 to 15 written in the expression")
        draw = -1
        if function in RANDOM_FUNCTIONS:
            draw = self.draws
            self.draws += 1
        return Call(function, tuple(args), draw)


def parse(text: str):
    """The syntax tree of ``text``, or an ExpressionError saying what is wrong and where."""
    if not isinstance(text, str):
        raise ExpressionError(f"expected the expression as text, got {text!r}")
    return _Parser(text).parse()


def names(node) -> tuple[set[str], set[tuple[str, str]]]:
    """(the column names ``node`` reads, the (map, column) pairs it looks up)."""
    columns, lookups = set(), set()

    def walk(n):
        if isinstance(n, Name):
            columns.add(n.name)
        elif isinstance(n, Lookup):
            lookups.add((n.map, n.column))
        elif isinstance(n, Call):
            for a in n.args:
                walk(a)
        elif isinstance(n, BinOp):
            first, steps = _chain(n)
            walk(first)
            for _, right in steps:
                walk(right)
        elif isinstance(n, Neg):
            walk(n.operand)

    walk(node)
    return columns, lookups


def may_be_non_finite(node, clipped: bool = False) -> bool:
    """Whether ``node`` can give a value that is not a finite number from finite inputs: a division (but by a
    number other than 0), a power, log, sqrt, or exp unless the result is ``clipped`` (exp only overflows to
    infinity, which a clip bounds)."""
    if isinstance(node, BinOp):
        first, steps = _chain(node)
        for op, right in steps:
            by_constant = op in ("/", "%") and isinstance(right, Num) and right.value != 0
            if (op in ("/", "%", "**") and not by_constant) or may_be_non_finite(right, clipped):
                return True
        return may_be_non_finite(first, clipped)
    if isinstance(node, Neg):
        return may_be_non_finite(node.operand, clipped)
    if isinstance(node, Call):
        unsafe = ("log", "sqrt") if clipped else ("log", "sqrt", "exp")
        return node.function in unsafe or any(may_be_non_finite(a, clipped) for a in node.args)
    return False


def _chain(node: BinOp):
    """A left-leaning chain of operators (``a + b - c`` is ((a + b) - c)) as (a, [('+', b), ('-', c)]): walked in
    a loop, since a long chain is as deep as it is long."""
    steps = []
    while isinstance(node, BinOp):
        steps.append((node.op, node.right))
        node = node.left
    steps.reverse()
    return node, steps


def evaluate(node, column, lookup, draw, memo: dict | None = None):
    """``node`` over whole arrays. ``column(name)`` and ``lookup(map, column)`` give float64 arrays (or scalars);
    ``draw(function, k, args)`` the k-th random function's values. ``memo`` keeps the values of functions of
    columns alone (``year(premiere)``) for other expressions of the same rows."""
    import numpy as np

    def ev(n):
        if memo is not None and isinstance(n, Call) and n.function not in RANDOM_FUNCTIONS and n.args and all(
                isinstance(a, (Name, Num)) for a in n.args):
            key = (n.function, n.args)
            if key not in memo:
                memo[key] = compute(n)
            return memo[key]
        return compute(n)

    def compute(n):
        if isinstance(n, Num):
            return n.value
        if isinstance(n, Numbers):
            return np.asarray(n.values)
        if isinstance(n, Name):
            return column(n.name)
        if isinstance(n, Lookup):
            return lookup(n.map, n.column)
        if isinstance(n, Neg):
            return -ev(n.operand)
        if isinstance(n, BinOp):  # a chain a + b + c ... folded from the left, as the tree reads
            first, steps = _chain(n)
            value = ev(first)
            for op, right in steps:
                value = _BINARY[op](value, ev(right))
            return value
        args = [ev(a) for a in n.args]
        f = n.function
        if f in RANDOM_FUNCTIONS:
            return draw(f, n.draw, args)
        if f == "if":
            return np.where(np.asarray(args[0]) != 0, args[1], args[2])
        if f == "round":
            return np.round(args[0], int(args[1]) if len(args) > 1 else 0)
        if f == "clip":
            return np.clip(args[0], args[1], args[2])
        if f == "interp":
            return np.interp(args[0], args[1], args[2])
        if f == "min":
            out = args[0]
            for a in args[1:]:
                out = np.minimum(out, a)
            return out
        if f == "max":
            out = args[0]
            for a in args[1:]:
                out = np.maximum(out, a)
            return out
        return _UNARY[f](args[0])

    with np.errstate(all="ignore"):
        return ev(node)


def _civil(days):
    """(year, month) of whole days since 1970-01-01, in integer arithmetic (H. Hinnant's civil_from_days)."""
    import numpy as np

    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month


@functools.lru_cache(maxsize=8)
def _calendar_table(first_block: int, last_block: int):
    """(first day, year of each day, month of each day) over whole blocks of 65,536 days, as float64."""
    import numpy as np

    start = first_block << 16
    year, month = _civil(np.arange(start, (last_block + 1) << 16, dtype=np.int64))
    return start, year.astype(np.float64), month.astype(np.float64)


def _calendar(part):
    import numpy as np

    def f(x):
        x = np.asarray(x, dtype=np.float64)
        if part == "hour":  # x: fractional days since 1970, rounded to the second first
            return np.floor(np.round(np.mod(x, 1.0) * 86400) / 3600) % 24
        days = np.atleast_1d(np.floor(x).astype(np.int64))
        if part == "day_of_week":
            return ((days + 3) % 7).astype(np.float64)  # Monday 0 (1970-01-01 was a Thursday)
        if not len(days):
            return days.astype(np.float64)
        lo, hi = int(days.min()), int(days.max())
        if hi - lo < 4 * len(days) + 65536:  # dates span fewer days than rows: each day once, then look up
            start, years, months = _calendar_table(lo >> 16, hi >> 16)
            out = (years if part == "year" else months)[days - start]
            return out if np.ndim(x) else out[0]
        year, month = _civil(days)
        return (year if part == "year" else month).astype(np.float64)
    return f


def _unary():
    import numpy as np

    return {"abs": np.abs, "sqrt": np.sqrt, "log": np.log, "exp": np.exp, "floor": np.floor, "ceil": np.ceil,
            "year": _calendar("year"), "month": _calendar("month"), "day_of_week": _calendar("day_of_week"),
            "hour": _calendar("hour")}


def _binary():
    import numpy as np

    return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "%": np.mod, "**": np.power,
            "<": lambda a, b: np.less(a, b) * 1.0, "<=": lambda a, b: np.less_equal(a, b) * 1.0,
            ">": lambda a, b: np.greater(a, b) * 1.0, ">=": lambda a, b: np.greater_equal(a, b) * 1.0,
            "==": lambda a, b: np.equal(a, b) * 1.0, "!=": lambda a, b: np.not_equal(a, b) * 1.0}


_UNARY = _unary()
_BINARY = _binary()
