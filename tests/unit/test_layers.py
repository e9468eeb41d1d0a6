"""The rooms: every stage kind of the registry lives in a folder of its own under
seqkd/stages/ (its settings, runner, planning and sub-commands); a new kind is one room and one
registry line, planned, checked and on the command line without editing any other module; the
fairseq plugin is imported only through --user-dir. (Which way imports may go is
test_import_graph's.)"""

import ast
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path

import pytest

import seqkd
from seqkd.config import setting
from seqkd.errors import SeqkdError
from seqkd.stages import registry
from seqkd.stages.base import StageKind

PKG = Path(seqkd.__file__).resolve().parent


def room_of(obj) -> str:
    """The room (folder under seqkd/stages) an object is defined in (for a lazy reference,
    the module it names)."""
    target = getattr(obj, "target", None)
    if target:
        obj = importlib.import_module(target.rsplit(".", 1)[0])
    parts = Path(inspect.getfile(obj)).resolve().relative_to(PKG).parts
    assert parts[0] == "stages" and len(parts) >= 3, f"{obj} is not in a stage room: {parts}"
    return parts[1]


def test_every_kind_lives_in_its_room():
    rooms = {}
    for k in registry.KINDS:
        parts = {room_of(k.settings()), room_of(k.run)}
        parts |= {room_of(k.plan)} if k.plan else set()
        parts |= {room_of(c) for c in k.commands}
        assert len(parts) == 1, f"{k.name} is spread over the rooms {sorted(parts)}"
        rooms[k.name] = parts.pop()
        assert k.produces, f"{k.name} does not say what its folder holds"
    assert rooms == {"prepare": "prepare", "teacher": "train", "distill": "distill",
                     "topk-cache": "topk_cache", "student": "train", "export": "export",
                     "bench": "bench", "choose": "choose"}
    folders = {p.name for p in (PKG / "stages").iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(rooms.values())


def test_sections_and_sub_commands_come_from_the_registry():
    assert registry.sections() == ("work_dir", "data", "teacher", "distill", "students",
                                   "export", "bench", "choose")
    from seqkd.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert list(commands)[:6] == ["prepare", "train", "distill", "topk-cache", "export",
                                  "bench"]
    with pytest.raises(SeqkdError, match="no stage kind 'nope'; known: prepare, teacher"):
        registry.kind("nope")


@dataclass
class EchoConfig:
    """A small stage for the test: writes its words into its folder."""
    out_dir: str
    data: str
    words: int = setting(3, "words to write", min=1, max=10)

    def consumes(self):
        return [self.data]


def _echo(cfg, quiet=False):
    Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
    (Path(cfg.out_dir) / "echo.txt").write_text("echo " * cfg.words)
    return {"words": cfg.words}


def _plan_echo(p):
    section = p.section("echo")
    if section:
        p.step("echo", "echo", p.work / "echo", section, "echo", data=str(p.data_dir))


def _build_echo(sub):
    sub.add_parser("echo", help="write words").set_defaults(func=lambda args: 0)


def test_a_new_kind_is_planned_checked_and_on_the_command_line(monkeypatch, tmp_path):
    """One registry line: its section is known, its problems are reported with every other
    problem of the config, its step is planned after the data it reads (derived), and its
    sub-command is on the command line."""
    from seqkd.cli import build_parser, main
    from seqkd.plan import plan

    echo = StageKind("echo", lambda: EchoConfig, _echo, sections=("echo",), plan=_plan_echo,
                     commands=(_build_echo,))
    monkeypatch.setattr(registry, "KINDS", registry.KINDS + [echo])
    cfg = {"work_dir": "w", "data": {"dataset": "multi30k"}, "teacher": {"command": "cat"},
           "echo": {"words": 5}}
    steps = {s.name: s for s in plan(cfg, tmp_path)}
    assert list(steps)[-1] == "echo" and steps["echo"].deps == ["prepare"]
    assert steps["echo"].config.words == 5
    steps["echo"].action()
    assert (tmp_path / "w" / "echo" / "echo.txt").read_text() == "echo " * 5
    with pytest.raises(SeqkdError) as e:
        plan({**cfg, "echo": {"words": 50}, "students": "x"}, tmp_path)
    assert "echo: words must be at most 10" in str(e.value) and "students:" in str(e.value)
    assert "echo" in build_parser()._subparsers._group_actions[0].choices
    assert main(["echo"]) == 0
    monkeypatch.setattr(registry, "KINDS", registry.KINDS[:-1])
    with pytest.raises(SeqkdError, match="unknown section"):
        plan(cfg, tmp_path)


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_the_plugin_is_never_imported_as_part_of_the_package():
    bad = [f"{f.relative_to(PKG)}" for f in PKG.rglob("*.py")
           if any("_plugins" in m for m in _imports(f))]
    assert not bad, bad
    importlib.import_module("seqkd.stages.registry")
