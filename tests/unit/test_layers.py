"""The module layering: stages use the common layer, never each other; the fairseq plugin is
imported only through --user-dir."""

import ast
from pathlib import Path

import seqkd

PKG = Path(seqkd.__file__).resolve().parent
STAGES = {"prepare", "train", "distill", "topk_cache", "export", "translate", "bench"}
# __init__ is the public face (seqkd.load), which reaches translate like the CLI does
ORCHESTRATORS = {"cli", "plan", "run", "scale", "__main__", "__init__"}


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name


def _modules():
    """(the top-level name a file belongs to, the file): a module, or each file of a package
    (a stage split into a package, like bench/, is one stage)."""
    for f in sorted(PKG.glob("*.py")):
        yield f.stem, f
    for d in sorted(p for p in PKG.iterdir() if (p / "__init__.py").is_file()
                    and not p.name.startswith("_")):
        for f in sorted(d.rglob("*.py")):
            yield d.name, f


def test_stage_packages_are_seen():
    assert {me for me, f in _modules() if f.parent.name == "bench"} == {"bench"}
    assert len([f for me, f in _modules() if me == "bench"]) >= 6


def test_no_stage_module_imports_another_stage_module():
    bad = []
    for me, f in _modules():
        if me in ORCHESTRATORS:
            continue
        for mod in _imports(f):
            parts = mod.split(".")
            if parts[0] == "seqkd" and len(parts) > 1 and parts[1] in STAGES and parts[1] != me:
                bad.append(f"{f.relative_to(PKG)} imports {mod}")
    assert not bad, "stage modules must share code through the common layer: " + "; ".join(bad)


def test_common_modules_import_no_stage():
    common = [f for me, f in _modules() if me not in STAGES | ORCHESTRATORS]
    assert {f.stem for f in common} >= {"corpus", "checkpoints", "decoders", "stage", "machine",
                                         "textio", "config", "procs", "config_file"}
    bad = [f"{f.name} imports {m}" for f in common for m in _imports(f)
           if m.split(".")[:1] == ["seqkd"] and len(m.split(".")) > 1
           and m.split(".")[1] in STAGES]
    assert not bad, bad


def test_the_plugin_is_never_imported_as_part_of_the_package():
    bad = [f"{f.relative_to(PKG)}" for f in PKG.rglob("*.py")
           if any("_plugins" in m for m in _imports(f))]
    assert not bad, bad
