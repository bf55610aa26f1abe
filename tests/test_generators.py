"""The generators' registry (datagen/generators/): every generator has an example in the spec reference whose rows
show what its sentence says; the reference's tables list what the registry says; and a generator is one class
and one registration, read by the spec's checks and made by the engine with no edit anywhere else."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from datagen import checks, spec
from datagen.columns import Col
from datagen.engine import compile_dataset, run_context
from datagen.generators import REGISTRY, Example, Generator, Parameters, register
from tests.helpers import ROOT

SPEC_DOC = (ROOT / "docs" / "spec.md").read_text()


def section(title: str) -> str:
    """The text of docs/spec.md under ``### title``, up to the next heading."""
    found = re.search(rf"^### {re.escape(title)}\n(.*?)(?=^#)", SPEC_DOC + "\n#", re.S | re.M)
    assert found, f"docs/spec.md has no section '### {title}'"
    return found.group(1)


def words(text: str) -> str:
    return " ".join(text.split())


def rows_of(example: Example) -> dict:
    made = spec.parse(example.spec, "example.yaml")
    parents = [spec.builtin(name) for name in example.parents]
    run = run_context(parents, example.parents) if parents else None
    return compile_dataset(made, run).batch(42, 0, example.rows).to_pydict()


def assert_documented_and_shown(generator: type[Generator]):
    """The generator's own example is in its section of docs/spec.md, with its sentence, and it holds."""
    example = vars(generator).get("example")
    assert isinstance(example, Example), f"{generator.name}: no example of its own (class attribute 'example')"
    text = section(generator.name)
    assert example.spec in re.findall(r"```yaml\n(.*?)```", text, re.S), (
        f"{generator.name}: its example is not a YAML block of its section in docs/spec.md")
    assert words(example.shows) in words(text), f"{generator.name}: its sentence is not in docs/spec.md"
    made = spec.parse(example.spec, "example.yaml")
    assert generator.name in {c.generator for c in made.columns}, f"{generator.name}: the example does not use it"
    example.check(rows_of(example))


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_generator_is_documented_by_an_example_whose_rows_show_what_it_says(name):
    assert_documented_and_shown(REGISTRY[name])


def test_the_reference_tables_list_what_the_registry_says():
    def listed(cell: str) -> set:
        return set(re.findall(r"[a-z_]+", cell.replace("`", "")))

    keys = dict(re.findall(r"^\| `(\w+)` \| [^|]* \| (.*) \|$", SPEC_DOC, re.M))
    assert listed(keys["generator"].split("One of", 1)[1]) == set(REGISTRY)
    per = re.search(r"Random generators only \((.*?)\)", keys["per"]).group(1)
    assert listed(per) == {name for name, g in REGISTRY.items() if g.random}
    table = SPEC_DOC.split("\n## Types\n\n", 1)[1].split("\n\n", 1)[0]
    types = {row[0]: listed(row[1]) for row in re.findall(r"^\| `(\w+)(?:\(p, s\))?` \|(?:[^|]*\|){3} (.*) \|$",
                                                           table, re.M)}
    assert set(types) == {"string", "int64", "float64", "bool", "date", "timestamp", "numeric"}
    for type_name, generators in types.items():
        assert generators == {n for n, g in REGISTRY.items() if g.types is None or type_name in g.types}, type_name
    sections = re.findall(r"^### (\w+)$", SPEC_DOC.split("## Generators", 1)[1].split("\n## ", 1)[0], re.M)
    assert sorted(sections) == sorted(REGISTRY)


# --- a generator of one's own -------------------------------------------------------------------------------

def _counts_down(rows):
    assert rows["left"] == list(range(10, 10 - len(rows["left"]), -1))


class Countdown(Generator):
    """``from - i`` for row ``i``: a generator written here, in the test, and nowhere else."""

    name = "countdown"
    keys = required = ("from",)
    types, default_type = ("int64",), "int64"
    example = Example(spec="dataset: launch\ncolumns:\n  - name: left\n    generator: countdown\n    from: 10\n",
                      shows="`left` is 10, 9, 8, ...", check=_counts_down, rows=5)

    @dataclass(frozen=True)
    class Params(Parameters):
        start: int

    @classmethod
    def check(cls, given, ctype, where):
        return cls.Params(checks.number(given, "from", where, whole=True)), ()

    def make(self, b, positions):
        return Col(self.params.start - np.arange(b.start, b.stop, dtype=np.int64))


@pytest.fixture
def registry():
    """:func:`register`, with the registry as it was once the test is over."""
    before = dict(REGISTRY)
    yield register
    REGISTRY.clear()
    REGISTRY.update(before)


def test_a_generator_is_one_class_and_one_registration(registry):
    with pytest.raises(spec.SpecError, match="unknown key 'from'"):  # unknown, with its key
        spec.parse(Countdown.example.spec, "launch.yaml")
    registry(Countdown)
    made = spec.parse(Countdown.example.spec, "launch.yaml")
    assert made.column("left").params == Countdown.Params(10) and made.column("left").params["start"] == 10
    assert compile_dataset(made).batch(7, 3, 6).to_pydict() == {"left": [7, 6, 5]}
    Countdown.example.check(rows_of(Countdown.example))
    # The document's checks ask it for its keys, types and parameters, and name it in their messages.
    for mistake, message in (
            ("    from: ten\n", "from: expected a whole number, got 'ten'"),
            ("    from: 10\n    step: 2\n", "unknown key 'step' for generator countdown: expected one of type, "
                                            "description, generator, nulls, hidden, per, clip, decimals, from"),
            ("    from: 10\n    type: string\n", "type string does not fit generator countdown: expected int64"),
            ("    from: 10\n    per: left\n", "per: only random generators (categorical, date_range, items, lognormal, "
                                             "normal, quantiles, timestamp_range, uniform, zipf) draw per entity")):
        with pytest.raises(spec.SpecError) as error:
            spec.parse(Countdown.example.spec.replace("    from: 10\n", mistake), "launch.yaml")
        assert str(error.value) == f"launch.yaml: column 'left': {message}"
    assert "countdown" in str(pytest.raises(spec.SpecError, spec.parse, "dataset: x\ncolumns:\n  - name: a\n",
                                            "x.yaml").value)
    # Not in docs/spec.md: the test that every registered generator is documented fails for it.
    with pytest.raises(AssertionError, match="docs/spec.md has no section '### countdown'"):
        assert_documented_and_shown(Countdown)


def test_a_name_is_registered_once(registry):
    class Other(Countdown):
        name = "sequence"

    with pytest.raises(ValueError, match="a generator named 'sequence' is registered already"):
        registry(Other)


def test_parameters_are_typed_and_read_as_the_keys_a_spec_set():
    films = spec.builtin("films")
    genre = films.column("genre").params
    assert genre.by == "author_genre" and "default" not in genre and genre.get("vocabulary") is None
    premiere = films.column("premiere").params
    assert premiere["growth"] == premiere.growth and "growth" in premiere
    with pytest.raises(KeyError):
        premiere["hourly"]  # a field left unset is a key the spec did not give
    with pytest.raises(Exception, match="cannot assign"):
        premiere.growth = 2


def test_reading_a_spec_imports_no_arrow():
    code = ("import sys\nfrom datagen import spec\nspec.builtin('films'); spec.builtin('clients')\n"
            "print(sorted({'pyarrow', 'apache_beam'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
