"""The module layering: stages use the common layer, never each other; the fairseq plugin is
imported only through --user-dir."""

import ast
from pathlib import Path

import seqkd

PKG = Path(seqkd.__file__).resolve().parent
STAGES = {"prepare", "train", "distill", "topk_cache", "export", "translate", "bench"}
# __init__ is the public face (seqkd.load), which reaches translate like the CLI does
ORCHESTRATORS = {"cli", "run", "__main__", "__init__"}


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name


def test_no_stage_module_imports_another_stage_module():
    bad = []
    for f in sorted(PKG.glob("*.py")):
        me = f.stem
        if me in ORCHESTRATORS:
            continue
        for mod in _imports(f):
            parts = mod.split(".")
            if parts[0] == "seqkd" and len(parts) > 1 and parts[1] in STAGES and parts[1] != me:
                bad.append(f"{f.name} imports {mod}")
    assert not bad, "stage modules must share code through the common layer: " + "; ".join(bad)


def test_common_modules_import_no_stage():
    common = [f for f in PKG.glob("*.py") if f.stem not in STAGES | ORCHESTRATORS]
    assert {f.stem for f in common} >= {"corpus", "checkpoints", "decoders", "stage", "textio",
                                         "config", "procs"}
    bad = [f"{f.name} imports {m}" for f in common for m in _imports(f)
           if m.split(".")[:1] == ["seqkd"] and len(m.split(".")) > 1
           and m.split(".")[1] in STAGES]
    assert not bad, bad


def test_the_plugin_is_never_imported_as_part_of_the_package():
    bad = [f"{f.relative_to(PKG)}" for f in PKG.rglob("*.py")
           if any("_plugins" in m for m in _imports(f))]
    assert not bad, bad
