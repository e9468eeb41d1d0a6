"""The package's import graph, built from the source (imports inside functions included: a
cycle hidden in a function is still a cycle), has no cycle."""

import ast
from pathlib import Path

import seqkd

PKG = Path(seqkd.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph():
    """module -> the seqkd modules it imports (a package's name stands for its __init__)."""
    modules = {module_name(f): f for f in PKG.rglob("*.py") if "_plugins" not in f.parts}
    edges = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package up
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            for t in targets:
                # the longest module name the import names (`from seqkd.x import f` is seqkd.x)
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and t != "seqkd":
                    edges[name].add(t)
    return edges


def cycles(edges):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read_whole():
    edges = graph()
    assert "seqkd.distill" in edges["seqkd.cli.stages"]  # an import inside a function
    assert "seqkd.serve.batcher" in edges["seqkd.serve.app"]


def test_the_package_has_no_import_cycle():
    found = cycles(graph())
    assert not found, "import cycles (each a set of modules that import each other): " + \
        "; ".join(" <-> ".join(c) for c in found)


def test_a_cycle_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
