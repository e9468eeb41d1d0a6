"""The package's import graph, built from the source (imports inside functions included: a
cycle hidden in a function is still a cycle), has no cycle and no import that runs up the
layers: the common layer (``seqkd/*.py``) < ``seqkd.stages.base`` < the stage rooms
(``seqkd/stages/<room>/``, which never import each other) < the registry < what drives the
stages (plan, cli, run, scale, serve, the package's face, which nothing below imports: the
version lives in the leaf ``seqkd.version``)."""

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
                targets = [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                # the longest module name the import names (`from seqkd.x import f` is
                # seqkd.x, `from seqkd import datasets` seqkd.datasets, `from seqkd import
                # load` the package's face, seqkd)
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name:
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
    # an import inside a function
    assert "seqkd.stages.distill.runner" in edges["seqkd.stages.distill.kind"]
    assert "seqkd.serve.batcher" in edges["seqkd.serve.app"]
    # a submodule named from its package, and the package's face
    assert "seqkd.manifests" in edges["seqkd.stages.prepare.runner"]
    assert "seqkd" not in edges["seqkd.stages.prepare.runner"]
    assert {"seqkd.version", "seqkd.errors"} <= edges["seqkd"]


def test_the_package_has_no_import_cycle():
    found = cycles(graph())
    assert not found, "import cycles (each a set of modules that import each other): " + \
        "; ".join(" <-> ".join(c) for c in found)


def test_a_cycle_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


#: the modules (and packages) above the registry: what drives the stages
TOP = ("seqkd", "seqkd.__main__", "seqkd.plan", "seqkd.cli", "seqkd.run", "seqkd.scale",
       "seqkd.serve")


def layer(module: str):
    """(rank, room): 0 common, 1 stages.base, 2 a stage room (its name), 3 the registry,
    4 the top."""
    parts = module.split(".")
    if module in TOP or ".".join(parts[:2]) in TOP:
        return 4, None
    if parts[:2] != ["seqkd", "stages"]:
        return 0, None
    if len(parts) == 2 or parts[2] == "registry":
        return 3, None
    if parts[2] == "base":
        return 1, None
    return 2, parts[2]


def upward(edges):
    """Every import that runs up the layers or from one room into another."""
    bad = []
    for a, targets in edges.items():
        (ra, room_a) = layer(a)
        for b in targets:
            (rb, room_b) = layer(b)
            if rb > ra or (ra == rb == 2 and room_a != room_b):
                bad.append(f"{a} -> {b}")
    return sorted(bad)


def test_no_import_runs_up_the_layers_or_across_rooms():
    edges = graph()
    rooms = {layer(m)[1] for m in edges if layer(m)[0] == 2}
    assert rooms >= {"prepare", "train", "distill", "topk_cache", "export", "bench"}
    assert layer("seqkd.textio") == (0, None) and layer("seqkd.serve.app") == (4, None)
    found = upward(edges)
    assert not found, "imports against the layers: " + "; ".join(found)


def test_an_upward_import_and_a_room_to_room_import_are_found():
    edges = {"seqkd.textio": {"seqkd.stages.base"},
             "seqkd.stages.distill.kind": {"seqkd.stages.export.runner", "seqkd.textio",
                                           "seqkd.stages.distill.runner"},
             "seqkd.stages.base": {"seqkd.plan"}, "seqkd.cli": {"seqkd.stages.registry"},
             "seqkd.stage": {"seqkd"}, "seqkd": {"seqkd.version"}}
    assert upward(edges) == ["seqkd.stage -> seqkd",
                             "seqkd.stages.base -> seqkd.plan",
                             "seqkd.stages.distill.kind -> seqkd.stages.export.runner",
                             "seqkd.textio -> seqkd.stages.base"]
