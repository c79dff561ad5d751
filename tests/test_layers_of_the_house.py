"""The house's import rules: no import cycle between reportgen's modules, and no import that
points up the layer order (design.md, "Layout"). Function-level imports count too.

Layers, top to bottom; a module may import from its own layer or any lower one. Modules that
share a layer but are listed as separate rooms (report and outputs) may not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS: list[set[str]] = [
    {"reportgen.__main__"},  # `python -m reportgen`: the command line and nothing else
    {"reportgen.cli"},
    {"reportgen.runner", "reportgen.variants", "reportgen.collect"},  # what commands set going
    {"reportgen.report", "reportgen.outputs"},
    {"reportgen.findings"},
    {"reportgen.demo"},
    {"reportgen.inputs"},
    {"reportgen.config"},
    {
        "reportgen.errors",
        "reportgen.caveats",
        "reportgen.resources",
        "reportgen.files",
        "reportgen",
    },
    {"analyses"},
]
#: The bottom of reportgen: small modules every room uses, which may use each other.
FOUNDATION = 8


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for folder in ("reportgen", "analyses")
        for p in (ROOT / folder).rglob("*.py")
    }


def _imports(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports (at any depth of the file)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}  # `from pkg import module`
    return {m for m in out if m in known}


def _room(module: str) -> tuple[int, str]:
    """(layer index, room) of a module: the longest listed prefix."""
    best = None
    for depth, rooms in enumerate(LAYERS):
        for room in rooms:
            if module == room or module.startswith(room + "."):
                if best is None or len(room) > len(best[1]):
                    best = (depth, room)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {m: _imports(p, known) - {m} for m, p in modules.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        depth, room = _room(module)
        for target in sorted(targets):
            t_depth, t_room = _room(target)
            if t_depth < depth or (t_depth == depth and t_room != room and depth != FOUNDATION):
                bad.append(f"{module} -> {target}")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_points_up_the_layers() -> None:
    assert upward_imports(_graph()) == []


def test_no_import_cycle_between_modules() -> None:
    # A package's __init__ importing its own modules is the package, not a cycle.
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in _graph().items()}
    assert cycles(graph) == []


def test_the_checks_find_what_they_look_for() -> None:
    # The arrangement before the rooms: narrative and history imported each other, and the
    # history store (outputs) read the narrative (report).
    before = {
        "reportgen.report.narrative": {"reportgen.outputs.history"},
        "reportgen.outputs.history": {"reportgen.report.narrative"},
        "reportgen.findings.build": {"reportgen.report.narrative"},
    }
    assert cycles(before) == [["reportgen.outputs.history", "reportgen.report.narrative"]]
    assert upward_imports(before) == [
        "reportgen.findings.build -> reportgen.report.narrative",
        "reportgen.outputs.history -> reportgen.report.narrative",
        "reportgen.report.narrative -> reportgen.outputs.history",
    ]
    assert "analyses.info" in _graph()  # the analyses package is scanned too
