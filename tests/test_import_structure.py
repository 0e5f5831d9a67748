"""qatbench's imports are what ARCHITECTURE.md says they are: no cycles, no import a
unit is not allowed, no reaching into another module's private names.

The rules are read from ARCHITECTURE.md's ``import-rules`` table, so the document and
this test cannot drift apart. The graph is built from the source with ``ast`` (nothing
is imported): every ``import`` / ``from ... import`` of ``qatbench`` counts, at module
level or inside a function -- a deferred import hides a cycle from Python, not from a
reader -- except inside ``if TYPE_CHECKING:`` (never run). Names in strings (the target
registry's ``"module:factory"`` references, entry points) are not imports: they are how
plug-ins are found, and the registry is the one place that holds them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "qatbench"
# where another module's private names must not be imported (the timing side)
NO_PRIVATE_IMPORTS = ("qatbench.targets", "qatbench.bench")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # a module of the package
    names: tuple[str, ...]  # what ``from imported import ...`` took (empty for ``import``)
    line: int

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def modules_of(package_dir: Path, package: str) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _resolve(module: str, level: int, importer: str, is_package: bool) -> str:
    """A relative ``from .x import`` as an absolute module name."""
    if not level:
        return module
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imports_of(name: str, path: Path, modules: Mapping[str, Path], package: str
               ) -> Iterator[Import]:
    """The package's modules that ``name`` imports (``from a import b``: ``a.b`` when
    ``b`` is a module, else ``a``)."""
    is_package = path.name == "__init__.py"
    pending: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while pending:
        node = pending.pop()
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == package:
                        yield Import(name, alias.name, (), child.lineno)
            elif isinstance(child, ast.ImportFrom):
                module = _resolve(child.module or "", child.level, name, is_package)
                if module.split(".")[0] != package:
                    continue
                for alias in child.names:
                    submodule = f"{module}.{alias.name}"
                    if submodule in modules:
                        yield Import(name, submodule, (), child.lineno)
                    else:
                        yield Import(name, module, (alias.name,), child.lineno)
            pending.append(child)


def import_graph(package_dir: Path, package: str = PACKAGE) -> list[Import]:
    modules = modules_of(package_dir, package)
    return [found for name, path in modules.items()
            for found in imports_of(name, path, modules, package)]


def find_cycle(imports: list[Import]) -> list[str]:
    """One import cycle as ``[a, b, ..., a]``, or ``[]`` when there is none."""
    graph: dict[str, set[str]] = {}
    for edge in imports:
        if edge.imported != edge.importer:
            graph.setdefault(edge.importer, set()).add(edge.imported)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return []


def read_rules(document: str, package: str = PACKAGE, table: str = "import-rules"
               ) -> dict[str, set[str]]:
    """A rules table (``<!-- import-rules -->`` unless ``table`` names another): unit
    (dotted, under ``package``) -> units it may import."""
    start, end = f"<!-- {table}", f"<!-- /{table} -->"
    if start not in document or end not in document:
        raise ValueError(f"no {start} ... {end} table")
    block = document.split(start, 1)[1].split(end, 1)[0]
    rules: dict[str, set[str]] = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue  # the comment, the header, the separator
        unit = re.match(r"`([^`]+)`", cells[0]).group(1)  # type: ignore[union-attr]
        name = package if unit == package else f"{package}.{unit}"
        rules[name] = {f"{package}.{u}" for u in re.findall(r"`([^`]+)`", cells[1])}
    return rules


def unit_of(module: str, units: Mapping[str, object]) -> str | None:
    """The most specific unit ``module`` belongs to (``a.b.c`` is in ``a.b``)."""
    candidates = [u for u in units if module == u or module.startswith(u + ".")]
    return max(candidates, key=len, default=None)


def violations(imports: list[Import], rules: Mapping[str, set[str]]) -> list[str]:
    """Every import of a unit its importer's row does not allow."""
    found = []
    for edge in imports:
        source, target = unit_of(edge.importer, rules), unit_of(edge.imported, rules)
        if source is None:
            found.append(f"{edge.importer}: in no unit of the import rules")
        elif target != source and target not in rules[source]:
            found.append(f"{edge}: {source} may import only "
                         f"{', '.join(sorted(rules[source])) or 'nothing of the package'}")
    return found


def private_imports(imports: list[Import], within: tuple[str, ...]) -> list[str]:
    """``from other_module import _name`` inside ``within`` (a module's own privates are
    its own; another module's are not an interface)."""
    return [f"{edge}: {', '.join(n for n in edge.names if n.startswith('_'))}"
            for edge in imports
            if edge.importer.startswith(within) and edge.imported != edge.importer
            and any(n.startswith("_") and not n.startswith("__") for n in edge.names)]


# -- qatbench itself ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph() -> list[Import]:
    return import_graph(REPO / PACKAGE)


@pytest.fixture(scope="module")
def rules() -> dict[str, set[str]]:
    return read_rules((REPO / "ARCHITECTURE.md").read_text(encoding="utf-8"))


def test_qatbench_has_no_import_cycle(graph: list[Import]) -> None:
    assert len(graph) > 200  # the graph was read, not silently empty
    assert find_cycle(graph) == []


def test_every_import_is_one_architecture_md_allows(graph: list[Import],
                                                    rules: dict[str, set[str]]) -> None:
    assert violations(graph, rules) == []


def test_the_documented_rules_are_a_one_way_order(rules: dict[str, set[str]]) -> None:
    """The table itself: every unit it names exists, and allowing is never mutual."""
    modules = modules_of(REPO / PACKAGE, PACKAGE)
    assert {"qatbench.targets", "qatbench.qat", "qatbench.bench.storage"} <= set(rules)
    named = set(rules) | {u for allowed in rules.values() for u in allowed}
    assert sorted(u for u in named if not any(m == u or m.startswith(u + ".")
                                              for m in modules)) == []
    edges = [Import(unit, allowed, (), 0) for unit, targets in rules.items()
             for allowed in targets]
    assert find_cycle(edges) == []


def test_target_families_import_only_what_architecture_md_allows(graph: list[Import]
                                                                  ) -> None:
    """Inside ``targets``: the top imports no family; a family the top, ``host`` and
    what its row adds -- so a new target's author knows where shared code must go."""
    rules = read_rules((REPO / "ARCHITECTURE.md").read_text(encoding="utf-8"),
                       table="target-family-rules")
    assert {"qatbench.targets", "qatbench.targets.host"} <= set(rules)
    inside = [edge for edge in graph if edge.importer.startswith("qatbench.targets")
              and edge.imported.startswith("qatbench.targets")]
    assert len(inside) > 50  # the targets' own graph was read
    assert violations(inside, rules) == []


MODULE_TABLES = {"qatbench.models": "models-module-rules", "qatbench.qat": "qat-module-rules"}


def module_row_violations(imports: list[Import], rules: Mapping[str, set[str]],
                          modules: Mapping[str, Path], package: str) -> list[str]:
    """Inside ``package``, module by module: every module has its own row (a new module
    is placed in the order, not waved through under its package's row), and every
    import of another module of ``package`` is one its row allows. Imports leaving
    ``package`` are the top-level table's."""
    inside = sorted(m for m in modules if m == package or m.startswith(package + "."))
    found = [f"{m}: has no row of its own" for m in inside if m not in rules]
    for edge in imports:
        if edge.importer in inside and edge.importer in rules and edge.imported in inside \
                and edge.imported != edge.importer \
                and edge.imported not in rules[edge.importer]:
            found.append(f"{edge}: {edge.importer} may import only "
                         f"{', '.join(sorted(rules[edge.importer])) or 'nothing of it'}")
    return found


@pytest.mark.parametrize("package", MODULE_TABLES)
def test_models_and_qat_import_their_own_modules_as_architecture_md_orders(
        graph: list[Import], package: str) -> None:
    """``models`` and ``qat`` module by module (``qat.pytorch`` included), from their
    tables in ARCHITECTURE.md: a one-way order, every module in it, no import outside it."""
    rules = read_rules((REPO / "ARCHITECTURE.md").read_text(encoding="utf-8"),
                       table=MODULE_TABLES[package])
    modules = modules_of(REPO / PACKAGE, PACKAGE)
    named = set(rules) | {u for allowed in rules.values() for u in allowed}
    assert sorted(u for u in named if u not in modules) == []  # no row names a ghost
    assert all(u == package or u.startswith(package + ".") for u in named)
    assert find_cycle([Import(u, a, (), 0) for u, allowed in rules.items()
                       for a in allowed]) == []
    inside = [e for e in graph if e.importer.startswith(package)
              and e.imported.startswith(package) and e.imported != e.importer]
    assert len(inside) > 5  # the package's own graph was read
    assert module_row_violations(graph, rules, modules, package) == []


# model_explorer (the ``explore`` extra) is optional: imported inside functions, only here
MODEL_EXPLORER_USERS = {"qatbench.bench.presentation.explorer",
                        "qatbench.bench.orchestration.explorer_graph",
                        "qatbench.bench.orchestration.explore_command"}


def third_party_imports(path: Path, top: str) -> list[tuple[int, bool]]:
    """Each import of the third-party package ``top`` in ``path``: (line, at module level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    at_top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                 else [])
        if any(n.split(".")[0] == top for n in names):
            found.append((node.lineno, id(node) in at_top))
    return found


def test_model_explorer_is_imported_where_architecture_md_says_and_only_on_use() -> None:
    modules = modules_of(REPO / PACKAGE, PACKAGE)
    users = {name: found for name, path in modules.items()
             if (found := third_party_imports(path, "model_explorer"))}
    assert set(users) == MODEL_EXPLORER_USERS
    assert [(name, line) for name, found in users.items() for line, top in found
            if top] == []
    document = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for name in MODEL_EXPLORER_USERS:
        assert name.removeprefix("qatbench.bench.").replace(".", "/") + ".py" in document


def test_no_module_of_the_timing_side_imports_another_modules_private_names(
        graph: list[Import]) -> None:
    assert private_imports(graph, NO_PRIVATE_IMPORTS) == []


# -- the checks can fail: a synthetic package with each fault -----------------------------
RULES = """<!-- import-rules -->
| unit | may import (of qatbench) |
|---|---|
| `low` | – |
| `high` | `low` |
<!-- /import-rules -->"""


def _package(root: Path, files: Mapping[str, str]) -> Path:
    package_dir = root / PACKAGE
    for name, text in {"__init__.py": "", "low/__init__.py": "", "high/__init__.py": "",
                       **files}.items():
        (package_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (package_dir / name).write_text(text)
    return package_dir


FAULTS = {
    "a cycle through a function-level import": (
        {"low/a.py": "def f():\n    from qatbench.high import b\n",
         "high/b.py": "from qatbench.low.a import f\n"},
        ["qatbench.high.b", "qatbench.low.a", "qatbench.high.b"], True, []),
    "a cycle through a relative import": (
        {"high/a.py": "from . import b\n", "high/b.py": "from .a import thing\n"},
        ["qatbench.high.a", "qatbench.high.b", "qatbench.high.a"], False, []),
    "a lower unit importing a higher one": (
        {"low/a.py": "import qatbench.high.b\n", "high/b.py": ""}, [], True, []),
    "a private name of another module": (
        {"low/a.py": "def _helper():\n    pass\n",
         "high/b.py": "from qatbench.low.a import _helper\n"},
        [], False, ["qatbench.high.b:1 imports qatbench.low.a: _helper"]),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_found(tmp_path: Path, fault: str) -> None:
    files, cycle, against_rules, private = FAULTS[fault]
    graph = import_graph(_package(tmp_path, files))
    assert find_cycle(graph) == cycle
    assert bool(violations(graph, read_rules(RULES))) is against_rules
    assert private_imports(graph, ("qatbench",)) == private


def test_type_checking_imports_and_names_in_strings_do_not_count(tmp_path: Path) -> None:
    graph = import_graph(_package(tmp_path, {
        "low/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                    "    from qatbench.high import b\nFACTORY = 'qatbench.high.b:make'\n",
        "high/b.py": "from qatbench.low import a\n"}))
    assert [str(edge) for edge in graph] == ["qatbench.high.b:1 imports qatbench.low.a"]
    assert find_cycle(graph) == []
    assert violations(graph, read_rules(RULES)) == []


def test_a_module_without_its_row_and_an_import_out_of_order_are_found(
        tmp_path: Path) -> None:
    package_dir = _package(tmp_path, {"low/a.py": "", "low/b.py": "from qatbench.low import a\n",
                                      "low/c.py": "from qatbench.low import b\n"})
    rules = read_rules("""<!-- m -->
| unit | may import (of qatbench) |
|---|---|
| `low` | – |
| `low.a` | `low.b` |
| `low.b` | – |
<!-- /m -->""", table="m")
    found = module_row_violations(import_graph(package_dir), rules,
                                  modules_of(package_dir, PACKAGE), "qatbench.low")
    assert found == ["qatbench.low.c: has no row of its own",
                     "qatbench.low.b:1 imports qatbench.low.a: qatbench.low.b may import "
                     "only nothing of it"]


def test_a_module_in_no_unit_is_a_violation(tmp_path: Path) -> None:
    graph = import_graph(_package(tmp_path, {"loose.py": "import qatbench.low\n"}))
    assert violations(graph, read_rules(RULES)) == ["qatbench.loose: in no unit of the "
                                                    "import rules"]
