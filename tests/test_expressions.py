"""The expression grammar of ``generator: expression`` columns (datagen/expressions.py): what it parses, into
which tree, what it refuses and why, and that nothing in it ever reaches Python's own evaluator."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from datagen import expressions
from datagen.expressions import BinOp, Call, ExpressionError, Lookup, Name, Neg, Num, names, parse


def value(text: str, **columns):
    """``text`` evaluated over the given columns (numbers or arrays); no random functions, no maps."""

    def column(name):
        return columns[name]

    def lookup(map_name, name):
        raise AssertionError(f"unexpected lookup {map_name}[{name}]")

    def draw(function, k, args):
        raise AssertionError(f"unexpected draw {function}")

    return expressions.evaluate(parse(text), column, lookup, draw)


# --- precedence and associativity --------------------------------------------------------------------------

def test_product_binds_tighter_than_sum():
    assert parse("1 + 2 * 3") == BinOp("+", Num(1.0), BinOp("*", Num(2.0), Num(3.0)))
    assert value("1 + 2 * 3") == 7
    assert value("(1 + 2) * 3") == 9
    assert value("10 - 6 / 2") == 7
    assert value("7 - 5 % 3") == 5


def test_sums_and_products_are_left_associative():
    assert parse("10 - 4 - 3") == BinOp("-", BinOp("-", Num(10.0), Num(4.0)), Num(3.0))
    assert value("10 - 4 - 3") == 3
    assert value("100 / 10 / 5") == 2
    assert value("7 % 4 * 2") == 6
    assert value("2 * 9 / 3 % 4") == 2


def test_power_binds_tighter_than_product_and_is_right_associative():
    assert value("2 * 3 ** 2") == 18
    assert parse("2 ** 3 ** 2") == BinOp("**", Num(2.0), BinOp("**", Num(3.0), Num(2.0)))
    assert value("2 ** 3 ** 2") == 512
    assert value("(2 ** 3) ** 2") == 64


def test_unary_minus():
    # As in Python: the power is taken first, then negated; a minus may follow '**'.
    assert parse("-2 ** 2") == Neg(BinOp("**", Num(2.0), Num(2.0)))
    assert value("-2 ** 2") == -4
    assert value("(-2) ** 2") == 4
    assert value("2 ** -1") == 0.5
    assert value("--3") == 3
    assert value("-(2 + 3)") == -5
    assert value("4 - -2") == 6
    assert value("3 * -2") == -6
    assert value("+3") == 3
    assert parse("-x") == Neg(Name("x"))
    assert np.array_equal(value("-x", x=np.array([1.0, -2.0])), [-1.0, 2.0])


def test_comparisons_bind_loosest_and_give_one_or_zero():
    assert parse("1 + 2 < 4") == BinOp("<", BinOp("+", Num(1.0), Num(2.0)), Num(4.0))
    assert value("1 + 2 < 4") == 1.0
    assert value("1 + 3 < 4") == 0.0
    x = np.array([1.0, 2.0, 3.0])
    expected = {"<": [1, 0, 0], "<=": [1, 1, 0], ">": [0, 0, 1], ">=": [0, 1, 1], "==": [0, 1, 0],
                "!=": [1, 0, 1]}
    for op, want in expected.items():
        got = value(f"x {op} 2", x=x)
        assert got.dtype == np.float64, op
        assert got.tolist() == want, op
    assert value("(1 < 2) + (3 > 4) + (2 == 2)") == 2.0


def test_comparisons_do_not_chain():
    with pytest.raises(ExpressionError, match="unexpected '<'"):
        parse("1 < 2 < 3")
    with pytest.raises(ExpressionError):
        parse("a == b == c")


def test_numbers():
    assert value("1.5e2") == 150
    assert value("2E-1") == 0.2
    assert value(".5") == 0.5
    assert value("3.") == 3
    assert value("0.25 * 4") == 1
    assert parse("  7  ") == Num(7.0)


def test_names_lookups_and_calls():
    tree = parse("a + m[b] * normal(c, 1) - row")
    assert names(tree) == ({"a", "c", "row"}, {("m", "b")})
    assert parse("m[b]") == Lookup("m", "b")
    assert parse("abs(x)") == Call("abs", (Name("x"),))


def test_random_functions_get_their_own_draw_numbers():
    tree = parse("normal(0, 1) + uniform(0, 1) * normal(2, 3)")
    draws = []

    def walk(n):
        if isinstance(n, Call):
            draws.append((n.function, n.draw))
            for a in n.args:
                walk(a)
        elif isinstance(n, BinOp):
            walk(n.left)
            walk(n.right)

    walk(tree)
    assert sorted(draws, key=lambda d: d[1]) == [("normal", 0), ("uniform", 1), ("normal", 2)]
    assert parse("abs(1)").draw == -1


def test_functions_evaluate():
    x = np.array([-1.5, 0.25, 2.0, 9.0])
    assert value("abs(x)", x=x).tolist() == [1.5, 0.25, 2.0, 9.0]
    assert value("floor(x)", x=x).tolist() == [-2, 0, 2, 9]
    assert value("ceil(x)", x=x).tolist() == [-1, 1, 2, 9]
    assert value("clip(x, 0, 5)", x=x).tolist() == [0, 0.25, 2, 5]
    assert value("if(x > 1, 10, 20)", x=x).tolist() == [20, 20, 10, 10]
    assert value("min(x, 1, 0.5)", x=x).tolist() == [-1.5, 0.25, 0.5, 0.5]
    assert value("max(x, 0, 1, 2, 3)", x=x).tolist() == [3, 3, 3, 9]
    assert value("round(x)", x=np.array([1.4, 2.6])).tolist() == [1, 3]
    assert value("round(x, 1)", x=np.array([1.44, 2.66])).tolist() == pytest.approx([1.4, 2.7])
    assert value("sqrt(9)") == 3
    assert value("exp(0)") == 1
    assert value("log(exp(2))") == pytest.approx(2)
    # Dates are days since 1970-01-01: day 0 was Thursday 1 January 1970; 18690 is Thursday 2021-03-04.
    assert value("year(18690)") == 2021
    assert value("month(18690)") == 3
    assert value("day_of_week(18690)") == 3
    assert value("day_of_week(0)") == 3
    assert value("year(-1)") == 1969
    assert value("month(-1)") == 12
    assert value("hour(0.25 + 0.01)") == 6


def test_division_by_zero_and_domain_errors_give_non_finite_values_without_raising():
    with np.errstate(all="raise"):
        out = value("1 / x + log(x) + sqrt(x - 1)", x=np.array([0.0, 2.0]))
    assert not np.isfinite(out[0])
    assert np.isfinite(out[1])


# --- errors ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, arguments", [
    ("abs()", "takes 1 arguments, got 0"),
    ("abs(1, 2)", "takes 1 arguments, got 2"),
    ("clip(1, 2)", "takes 3 arguments, got 2"),
    ("if(1, 2)", "takes 3 arguments, got 2"),
    ("min(1)", "takes 2 to 8 arguments, got 1"),
    ("max(1, 2, 3, 4, 5, 6, 7, 8, 9)", "takes 2 to 8 arguments, got 9"),
    ("round(1, 2, 3)", "takes 1 to 2 arguments, got 3"),
    ("normal(1)", "takes 2 arguments, got 1"),
    ("uniform()", "takes 2 arguments, got 0"),
    ("year(1, 2)", "takes 1 arguments, got 2"),
])
def test_function_arity_errors(text, arguments):
    function = text.split("(")[0]
    with pytest.raises(ExpressionError, match=rf"^{function}\(\) {arguments}$"):
        parse(text)


def test_every_function_accepts_its_arity():
    for function, (lo, hi) in expressions.FUNCTIONS.items():
        if function == "interp":  # its knots are lists
            parse("interp(1, [0, 1], [2, 3])")
            continue
        for n in (lo, hi):
            parse(f"{function}({', '.join(['1'] * n)})")


@pytest.mark.parametrize("text", ["foo(1)", "Abs(1)", "sin(x)", "len(x)", "print(1)"])
def test_unknown_function(text):
    with pytest.raises(ExpressionError, match=rf"unknown function '{text.split('(')[0]}' at character 1"):
        parse(text)


def test_unknown_function_names_the_known_ones():
    with pytest.raises(ExpressionError) as e:
        parse("x + tan(x)")
    assert "unknown function 'tan' at character 5" in str(e.value)
    assert "clip" in str(e.value) and "normal" in str(e.value)


@pytest.mark.parametrize("text, message", [
    ("(1 + 2", r"expected '\)', found the end"),
    ("((1 + 2)", r"expected '\)', found the end"),
    ("abs(1", r"expected '\)', found the end"),
    ("clip(x, 1 2)", r"expected '\)', found '2' at character 11"),
    ("1 + 2)", r"unexpected '\)' at character 6"),
    (")", r"found '\)' at character 1"),
    ("()", r"found '\)' at character 2"),
    ("m[x", r"expected '\]', found the end"),
    ("m[1]", r"expected a column name"),
    ("1 +", r"expected a number, a column or a function, found the end of the expression"),
    ("* 2", r"found '\*' at character 1"),
    ("1 2", r"unexpected '2' at character 3"),
    ("x y", r"unexpected 'y' at character 3"),
    ("2x", r"unexpected 'x' at character 2"),
    ("abs(1,)", r"expected a number, a column or a function, found '\)'"),
    ("1 // 2", r"found '/' at character 4"),
])
def test_syntax_errors(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse(text)


@pytest.mark.parametrize("text, position", [
    ("!a", 1), ("~a", 1), ("'text'", 1), ('"text"', 1), ("`x`", 1), ("x.y", 2), ("π*2", 1), ("{1}", 1),
    ("a:b", 2), ("a;b", 2), ("1+$", 3), ("a=1", 2), ("a&b", 2), ("a|b", 2), ("a^b", 2), ("a#comment", 2),
    ("a@b", 2), ("1?2", 2),
])
def test_bad_characters_are_refused_with_their_position(text, position):
    with pytest.raises(ExpressionError, match=rf"^unexpected .* at character {position}$") as e:
        parse(text)
    assert str(e.value).startswith(f"unexpected {text[position - 1:].strip()[:10]!r}")


@pytest.mark.parametrize("text, position", [
    ("1 + $", 5), ("a = 1", 3), ("x +   $y", 7), ("  $", 3),
])
def test_bad_character_after_a_space_is_reported_at_its_own_position(text, position):
    # The parser's own errors count positions of tokens, not of the spaces before them; so should the lexer's.
    with pytest.raises(ExpressionError, match=rf"^unexpected .* at character {position}$") as e:
        parse(text)
    assert str(e.value).startswith(f"unexpected {text[position - 1:].strip()[:10]!r}")


LIMIT = expressions.MAX_DEPTH


@pytest.mark.parametrize("text, expected", [
    ("(" * LIMIT + "x" + ")" * LIMIT, -1.5),
    ("abs(" * LIMIT + "x" + ")" * LIMIT, 1.5),
    ("-" * LIMIT + "x", -1.5),
    ("- (" * 25 + "x" + ")" * 25, 1.5),  # 25 signs and 25 parentheses: 50 levels
    ("1 ** " * LIMIT + "x", 1.0),
])
def test_nesting_up_to_the_limit_parses_and_evaluates_with_stack_to_spare(text, expected):
    # Deep nesting costs about 9 frames a level in the parser: at the limit it must fit in a stack already
    # half used (a Beam worker's), with Python's default limit of 1,000 frames.
    import sys

    depth, frame = 0, sys._getframe()
    while frame:
        depth, frame = depth + 1, frame.f_back
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 500)
    try:
        tree = parse(text)
        out = expressions.evaluate(tree, lambda n: np.array([-1.5]), None, None)
        assert names(tree) == ({"x"}, set())
        expressions.may_be_non_finite(tree)
    finally:
        sys.setrecursionlimit(old)
    assert out.tolist() == [expected]


@pytest.mark.parametrize("text", [
    "(" * (LIMIT + 1) + "1" + ")" * (LIMIT + 1),
    "(" * 3000 + "1" + ")" * 3000,
    "abs(" * (LIMIT + 1) + "1" + ")" * (LIMIT + 1),
    "-(" * 3000 + "1" + ")" * 3000,
    "-" * 3000 + "1",
    "2 ** " * 3000 + "2",
])
def test_nesting_beyond_the_limit_is_an_expression_error(text):
    with pytest.raises(ExpressionError, match=rf"^nested more than {LIMIT} levels deep at character \d+ "):
        parse(text)


def test_a_long_chain_of_operators_is_not_nesting():
    n = 100_000
    tree = parse(" + ".join(["x"] * n))
    assert expressions.evaluate(tree, lambda name: np.array([1.0, 2.0]), None, None).tolist() == [n, 2 * n]
    assert names(tree) == ({"x"}, set()) and not expressions.may_be_non_finite(tree)
    assert value(" - ".join(["1"] * 5000)) == 2 - 5000  # from the left: ((1 - 1) - 1) ...
    assert value(" / ".join(["2"] * 3)) == 0.5
    assert expressions.may_be_non_finite(parse("1 + " * 5000 + "1 / x")) and not expressions.may_be_non_finite(
        parse("x * " * 5000 + "1 / 2"))
    assert value("2 * 3 + 4 * 5 - 6 / 3 < 25") == 1  # the precedence of a mixed chain is kept


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_expression(text):
    with pytest.raises(ExpressionError, match="empty"):
        parse(text)


@pytest.mark.parametrize("text", [None, 3, 1.5, ["x"], {"x": 1}])
def test_expression_must_be_text(text):
    with pytest.raises(ExpressionError, match="expected the expression as text"):
        parse(text)


def test_errors_are_value_errors():
    assert issubclass(ExpressionError, ValueError)


# --- no Python is ever evaluated ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "__import__('os')",
    "__import__('os').system('echo hacked')",
    "open('/etc/passwd')",
    "exec('import os')",
    "eval('1')",
    "().__class__.__bases__[0].__subclasses__()",
    "x.__class__",
    "lambda: 1",
    "[x for x in y]",
    "x if y else z",
    "globals()",
    "getattr(x, 'y')",
    "__import__(1)",
    "eval(1)",
    "exec(1)",
    "compile(1, 2, 3)",
    "os.system(1)",
    "1; import os",
])
def test_python_is_refused(text):
    with pytest.raises(ExpressionError):
        parse(text)


def test_python_builtins_are_unknown_functions():
    for function in ("__import__", "eval", "exec", "open", "getattr", "globals", "compile", "print"):
        with pytest.raises(ExpressionError, match=f"unknown function '{function}'"):
            parse(f"{function}(1)")


def test_dunder_names_are_only_column_names(monkeypatch):
    """A name is only ever looked up through the column callback: '__builtins__' is a column like any other."""
    seen = []

    def column(name):
        seen.append(name)
        return 2.0

    def refuse(*args, **kwargs):
        raise AssertionError("Python's evaluator was called")

    with monkeypatch.context() as patch:
        for name in ("eval", "exec", "compile"):
            patch.setattr(builtins, name, refuse)
        tree = parse("__builtins__ + __class__ * 2")
        out = expressions.evaluate(tree, column, None, None)
    assert out == 6.0
    assert seen == ["__builtins__", "__class__"]


def test_evaluation_never_calls_eval(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("Python's evaluator was called")

    x = np.array([-2.0, 3.0])
    with monkeypatch.context() as patch:
        for name in ("eval", "exec", "compile"):
            patch.setattr(builtins, name, refuse)
        tree = parse("clip(abs(x) ** 2 + m[g], 0, 100) * if(x > 0, 1, -1) + normal(0, 1) + round(x, 1) + year(x)")
        out = expressions.evaluate(tree, lambda n: x, lambda m, c: np.array([1.0, 2.0]),
                                   lambda f, k, args: np.zeros(2))
    assert out.tolist() == pytest.approx([-5.0 - 2.0 + 1969.0, 11.0 + 3.0 + 1970.0])


def test_spec_refuses_python_in_an_expression_column():
    from datagen.spec import SpecError
    from datagen.spec import parse as parse_spec

    for expression in ("__import__('os')", "__import__(1)", "x.y", "__builtins__[x]"):
        text = ("dataset: t\ncolumns:\n  - {name: x, generator: sequence}\n"
                f"  - {{name: y, generator: expression, expression: \"{expression}\"}}\n")
        with pytest.raises(SpecError, match=r"^t\.yaml: column 'y': expression: "):
            parse_spec(text, "t.yaml")
    text = ("dataset: t\ncolumns:\n  - {name: x, generator: sequence}\n"
            "  - {name: y, generator: expression, expression: \"__builtins__ + 1\"}\n")
    with pytest.raises(SpecError, match=r"^t\.yaml: column 'y': unknown column '__builtins__'"):
        parse_spec(text, "t.yaml")


def test_of_several_unknown_maps_the_first_in_order_is_named_at_every_run():
    # The maps an expression uses are a set: the one named was the first in an order that changed with the
    # process's string hashing.
    import subprocess
    import sys

    from tests.helpers import ROOT

    code = ("from datagen.spec import SpecError, parse\ntry:\n    parse('dataset: t\\ncolumns:\\n  - {name: c, "
            "generator: sequence}\\n  - {name: y, generator: expression, expression: \"zeta[c] + beta[c] + "
            "alpha[c]\"}\\n', 't.yaml')\nexcept SpecError as e:\n    print(e)\n")
    said = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                           env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout for seed in range(4)}
    assert said == {"t.yaml: column 'y': expression: unknown map 'alpha' in alpha[c]: expected one of the "
                    "column's maps (none defined)\n"}
