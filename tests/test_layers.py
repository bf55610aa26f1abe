"""The layers of the code, as its imports show them: every module of the project's packages is parsed (imports inside
functions count: a lazy import is still a dependency), and the test fails on an import cycle between modules, on
an import of a layer above, on Beam in a layer that runs without it, and on an image that lacks a package its jobs
import. docs/design.md describes the layers."""

from __future__ import annotations

import ast
import re
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.cli import JOBS
from tests.helpers import ROOT

# Each package and what of the project it may import, lowest first. A name stands for a module and everything
# below it ("pipelines.cli" is that module only).
LAYERS = {
    "functions": (),  # the Cloud Function: deployed from its folder alone
    "datagen": ("functions",),  # the engine: specs, generation, planning, statistics, reports; no Beam
    "transforms": ("datagen", "functions"),  # the Beam pieces
    "mldp": ("transforms", "datagen", "functions"),  # the library's API: mldp without Beam, mldp.beam with
    "pipelines": ("mldp", "transforms", "datagen", "functions"),  # the jobs
    # Commands beside the jobs: they read their command line with the jobs' (pipelines.cli), nothing else of them
    "sql": ("datagen", "functions", "pipelines.cli"),
    "deploy": ("datagen", "functions", "pipelines.cli"),
    "local_cloud": ("functions", "pipelines.cli"),
    "templates": ("pipelines", "mldp", "transforms", "datagen", "functions"),  # the Flex Templates' entry point
}
# Within a layer: the statistics are what reports are made of, never the other way round.
BELOW = {"datagen.stats": ("datagen.report",)}
# What runs without Beam (its import alone takes a second, and the function does not install it): packages, and
# modules on their own (the library's API; mldp.beam is its Beam side).
WITHOUT_BEAM = ("functions", "datagen")
WITHOUT_BEAM_MODULES = ("mldp",)
BEAM = "apache_beam"

# Known exceptions, each to go when the module named is changed; a test fails once one is no longer needed.
KNOWN: dict = {}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # a module of the project, or a top-level name of another distribution
    line: int

    def __str__(self):
        return f"{self.importer} -> {self.imported} (line {self.line})"


def modules(root: Path) -> dict[str, Path]:
    """Every module of the layers' packages under ``root``: dotted name -> file."""
    found = {}
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports(root: Path) -> list[Import]:
    """Every import of every module, wherever it stands (module level, a function, a TYPE_CHECKING block): the
    project's modules by name, other distributions by their top-level name."""
    known = modules(root)
    out = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            else:
                continue
            for target in targets:
                out.append(Import(name, _resolve(target, name, known), node.lineno))
    return list(dict.fromkeys(i for i in out if i.imported != i.importer))  # once per line: from m import a, b


def _resolve(target: str, importer: str, known: dict) -> str:
    top = importer.split(".")[0]
    if top == "functions" and f"functions.{target}" in known:  # deployed alone, its modules are top-level
        target = f"functions.{target}"
    name = target
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or target.split(".")[0]


def _within(module: str, names) -> bool:
    return any(module == n or module.startswith(n + ".") for n in names)


def violations(root: Path) -> list[tuple[Import, str]]:
    """(import, why it is refused) for every import against the layers."""
    known = modules(root)
    out = []
    for i in imports(root):
        mine, theirs = i.importer.split(".")[0], i.imported.split(".")[0]
        if i.imported in known and theirs != mine and not _within(i.imported, LAYERS[mine]):
            out.append((i, f"{mine} may import {', '.join(LAYERS[mine]) or 'nothing else of the project'}"))
        for lower, higher in BELOW.items():
            if _within(i.importer, [lower]) and _within(i.imported, higher):
                out.append((i, f"{lower} is below {', '.join(higher)}"))
        if i.imported == BEAM and (_within(i.importer, WITHOUT_BEAM) or i.importer in WITHOUT_BEAM_MODULES):
            out.append((i, f"{i.importer} runs without Beam"))
    return out


def cycles(root: Path) -> list[list[str]]:
    """The groups of modules that import each other, directly or not (Tarjan's strongly connected components)."""
    known = modules(root)
    graph = {m: set() for m in known}
    for i in imports(root):
        if i.imported in known:
            graph[i.importer].add(i.imported)
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                found.append(sorted(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(known)))
    try:
        for v in sorted(graph):
            if v not in index:
                strong(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


# --- the project's code -----------------------------------------------------------------------------------------

def test_every_package_of_the_project_has_a_layer():
    """A new folder of code gets a place in LAYERS (and in docs/design.md) before it may import anything."""
    folders = {d.name for d in ROOT.iterdir() if d.is_dir() and not d.name.startswith(".")
               and d.name not in ("build", "out") and not d.name.endswith(".egg-info") and next(d.rglob("*.py"), None)}
    assert folders - {"tests", "benchmarks"} == set(LAYERS), "a package without a layer, or a layer without code"
    design = (ROOT / "docs" / "design.md").read_text()
    assert all(f"`{package}`" in design for package in LAYERS), "docs/design.md names every layer"


def test_no_module_imports_a_layer_above_it_or_beam_where_it_runs_without():
    found = [(i, why) for i, why in violations(ROOT) if (i.importer, i.imported) not in KNOWN]
    assert not found, "imports against the layers:\n" + "\n".join(f"  {i}: {why}" for i, why in found)


def test_the_known_exceptions_are_still_needed():
    left = {(i.importer, i.imported) for i, _ in violations(ROOT)}
    gone = [f"{a} -> {b}" for a, b in KNOWN if (a, b) not in left]
    assert not gone, f"no longer imported: take them out of KNOWN: {', '.join(gone)}"


def test_no_modules_import_each_other():
    found = cycles(ROOT)
    assert not found, "import cycles:\n" + "\n".join("  " + " <-> ".join(group) for group in found)


# --- the walk itself, on a tree made here -----------------------------------------------------------------------

def write(root: Path, files: dict[str, str]):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_lazy_upward_import_a_cycle_and_beam_in_the_engine_are_found(tmp_path):
    write(tmp_path, {
        "datagen/__init__.py": "",
        "datagen/engine.py": "def make():\n    from transforms.text import compose\n    return compose\n",
        "datagen/spec.py": "import datagen.plan\n",
        "datagen/plan.py": "from datagen import spec\n\n\ndef read():\n    import apache_beam\n",
        "datagen/stats/__init__.py": "",
        "datagen/stats/table.py": "from ..report import page\n",
        "datagen/report/__init__.py": "",
        "datagen/report/page.py": "from datagen.stats import table\n",
        "transforms/__init__.py": "",
        "transforms/text.py": "import numpy\n",
        "functions/file_layout.py": "import re\n",
        "functions/ingest.py": "from file_layout import re\n",
    })
    found = {(i.importer, i.imported, i.line) for i, _ in violations(tmp_path)}
    assert found == {("datagen.engine", "transforms.text", 2), ("datagen.plan", BEAM, 5),
                     ("datagen.stats.table", "datagen.report.page", 1)}
    assert cycles(tmp_path) == [["datagen.plan", "datagen.spec"], ["datagen.report.page", "datagen.stats.table"]]
    assert Import("functions.ingest", "functions.file_layout", 1) in imports(tmp_path)


# --- the image carries what its jobs import ---------------------------------------------------------------------

def setup_lists() -> dict[str, list[str]]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
            if isinstance(node, ast.Assign) and node.targets[0].id.endswith("_PACKAGES")}


def copied_folders() -> list[str]:
    return re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)


def test_the_image_copies_setup_pys_image_packages_and_the_entry_point():
    lists = setup_lists()
    assert sorted(copied_folders()) == sorted(lists["IMAGE_PACKAGES"] + ["templates"])
    # deploy/ works on a checkout (its workflows/ and functions/), templates/ runs as a file: neither is installed
    assert set(lists["IMAGE_PACKAGES"]) | set(lists["LOCAL_PACKAGES"]) == set(LAYERS) - {"templates", "deploy"}


def test_setup_py_installs_its_lists_packages(monkeypatch):
    import setuptools

    given = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: given.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"))
    lists = setup_lists()
    assert {p.split(".")[0] for p in given["packages"]} == set(lists["IMAGE_PACKAGES"] + lists["LOCAL_PACKAGES"])


@pytest.mark.parametrize("job", [name for name, job in JOBS.items() if job.template])
def test_every_module_a_template_job_imports_is_in_the_image(job):
    known = modules(ROOT)
    graph = {}
    for i in imports(ROOT):
        if i.imported in known:
            graph.setdefault(i.importer, set()).add(i.imported)
    reached, todo = set(), ["templates.launch", JOBS[job].module]
    while todo:
        m = todo.pop()
        if m not in reached:
            reached.add(m)
            todo.extend(graph.get(m, ()))
    missing = sorted(m for m in reached if m.split(".")[0] not in copied_folders())
    assert not missing, f"the {job} image lacks {', '.join(missing)}"
