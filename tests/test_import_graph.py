"""The import graph of hf_geommem, read from the source with ``ast`` (issue 18): no cycle among
the modules a plain ``import`` executes, and no arrow from a room up to a room above it
(docs/architecture: graph -> task -> model -> training -> studies -> reproduction -> faces),
counting the imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "hf_geommem"
NAME = "hf_geommem"

# rank of every room (first part of a module's name below hf_geommem); a room imports only
# rooms of its rank or below. metrics holds pure functions of (X, graph) (graphs, spectral and
# numpy only), so training's evaluation can use them: it sits with the graphs.
RANK = {
    "checks": 0, "lazy": 0, "machine": 0, "plotting": 0,
    "graphs": 1, "spectral": 1, "metrics": 1, "mamba_scan": 1,
    "tokenization": 2, "tasks": 2, "files": 2, "builder": 2,
    "presets": 3, "linear_memory": 3, "modeling": 3, "cards": 3,
    "training": 4,
    "evaluate_modules": 5, "evaluation": 5,
    "geometry": 6, "node2vec": 6, "studies": 6, "probing": 6, "interventions": 6,
    "calibration": 6,
    "reproduce": 7,
    "cli": 8,
}
# cards (card and report text: presets, metrics' constants, plotting) and plotting (matplotlib
# only) are rendering helpers that import nothing above them, so a training run can write its
# card and the reproduction its report and figures without an arrow up (as transformers'
# Trainer writes model cards through modelcard.py)
KNOWN_UP: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(tree: ast.Module, module_level: bool):
    """Import statements; with ``module_level`` only those run by importing the module (not in
    a function body nor under ``if TYPE_CHECKING``)."""
    if not module_level:
        yield from (n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)))
        return
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        for name in ("body", "orelse", "finalbody", "handlers"):
            stack.extend(getattr(node, name, None) or [])


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The hf_geommem modules an import statement loads (with their parent packages)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".")
            if MODULES[module].name != "__init__.py":
                base = base[:-1]
            base = base[:len(base) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        names = [source] + [f"{source}.{a.name}" for a in node.names]
    out = set()
    for name in names:
        parts = name.split(".")
        if parts[0] != NAME:
            continue
        for i in range(1, len(parts) + 1):
            target = ".".join(parts[:i])
            if target in MODULES and target != module and not module.startswith(target + "."):
                out.add(target)
    return out


def _graph(module_level: bool) -> dict[str, set[str]]:
    return {m: set().union(*(_targets(m, n) for n in
                             _imports(ast.parse(p.read_text()), module_level)))
            for m, p in MODULES.items()}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else NAME


def test_every_room_has_a_rank():
    rooms = {_room(m) for m in MODULES} - {NAME}
    assert rooms == set(RANK), f"rooms without a rank: {rooms - set(RANK)}"


def test_no_import_cycle_at_module_level():
    graph = _graph(module_level=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"module-level import cycles: {cycles}"


def test_no_arrow_back_up():
    up = set()
    for module, targets in _graph(module_level=False).items():
        room = _room(module)
        if room == NAME:
            continue
        for target in targets:
            other = _room(target)
            if other != NAME and RANK[other] > RANK[room] and (room, other) not in KNOWN_UP:
                up.add(f"{module} -> {target}")
    assert not up, f"imports from a room up to a room above it: {sorted(up)}"


def test_the_import_graph_is_read():
    graph = _graph(module_level=True)
    assert "hf_geommem.graphs.graph" in graph["hf_geommem.graphs.families"]
    assert "hf_geommem.checks" in graph["hf_geommem.metrics.recovery"]
    assert "hf_geommem.graphs" in graph["hf_geommem.metrics.inputs"]
