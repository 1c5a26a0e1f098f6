"""The package's import layers: no module imports a layer above it, and the
import graph has no cycle.

Layers, bottom up (docs/architecture.md): the base helpers; models and data;
report and surgery; the pruning engines (sparsity, ensemble, filters,
sensitivity); plots; the workflows that chain them; the CLI. A package
``__init__`` is a facade: it may name a higher-layer object, but only inside
its module-level ``__getattr__`` (resolved on first use), never at import.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "tfprune"

LAYERS = [
    ("base", ["tfprune._keras", "tfprune.errors", "tfprune._validate",
              "tfprune._io", "tfprune._runstate", "tfprune.utils",
              "tfprune._kgraph", "tfprune._tfmot", "tfprune._tflite"]),
    ("models/data", ["tfprune.models", "tfprune.data"]),
    ("report/surgery", ["tfprune.report", "tfprune.surgery"]),
    ("pruning", ["tfprune.sparsity", "tfprune.ensemble", "tfprune.filters",
                 "tfprune.sensitivity"]),
    ("plots", ["tfprune.plots"]),
    ("workflows", ["tfprune.filters.flow", "tfprune.filters.compare",
                   "tfprune.sparsity.strategies", "tfprune.ensemble.report",
                   "tfprune.export", "tfprune.demo", "tfprune.workflows"]),
    ("cli", ["tfprune.cli"]),
]


def _modules():
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        facade = parts[-1] == "__init__"
        if facade:
            parts = parts[:-1]
        out[".".join(parts)] = (path, facade)
    return out


MODULES = _modules()


def layer_of(module: str) -> int:
    best, level = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, level = len(p), i
    if level is None:
        raise AssertionError(f"{module} is in no layer; add it to LAYERS "
                             "(and docs/architecture.md)")
    return level


def _resolve(module, facade, node):
    """The tfprune modules an import statement names."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if facade else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            stem = ".".join(base + ([node.module] if node.module else []))
        else:
            stem = node.module or ""
        names = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES
                 else stem for a in node.names]
    return [n for n in names if n.startswith("tfprune")]


def _imports(module):
    """(target, lazy) for every import in ``module``; lazy = inside a
    facade's module-level ``__getattr__``."""
    path, facade = MODULES[module]
    tree = ast.parse(path.read_text())
    lazy_nodes = set()
    if facade:
        for fn in tree.body:
            if isinstance(fn, ast.FunctionDef) and fn.name == "__getattr__":
                lazy_nodes |= {id(n) for n in ast.walk(fn)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in _resolve(module, facade, node):
                yield target, id(node) in lazy_nodes


def _eager_graph():
    graph = {}
    for module in MODULES:
        edges = set()
        for target, lazy in _imports(module):
            if lazy or target == module:
                continue
            edges.add(target)
            # importing a.b.c from outside package a.b runs its facade first
            parts = target.split(".")
            edges |= {pkg for pkg in (".".join(parts[:i])
                                      for i in range(2, len(parts)))
                      if not (module == pkg or module.startswith(pkg + "."))}
        graph[module] = edges - {module, "tfprune"}
    return graph


@pytest.mark.parametrize("module", sorted(m for m in MODULES
                                          if m != "tfprune"))
def test_no_module_imports_a_higher_layer(module):
    own = layer_of(module)
    _, facade = MODULES[module]
    bad = sorted({t for t, lazy in _imports(module)
                  if t != "tfprune" and layer_of(t) > own
                  and not (facade and lazy)})
    assert not bad, (f"{module} (layer {LAYERS[own][0]!r}) imports "
                     f"{bad} from a higher layer")


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on, stack, out = {}, {}, set(), [], []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_import_graph_is_acyclic():
    cycles = _cycles(_eager_graph())
    assert not cycles, "import cycles among: " + "; ".join(
        ", ".join(c) for c in cycles)


def test_every_module_has_a_layer():
    for m in MODULES:
        if m != "tfprune":
            layer_of(m)
