"""What every stage room shares, below the rooms: a planned :class:`Step`, the
:class:`StageKind` each room declares (its settings, its runner, the config sections it plans
from, its sub-commands), and the :class:`TeacherPlan` that the teacher section gives the
stages reading the teacher."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple


@dataclass
class Step:
    """One stage of a planned config: its name, folder, typed config, action and
    dependencies."""
    name: str
    out_dir: Path
    config: Any
    action: Callable[[], Any]
    #: the steps whose folders it reads (derived: see :func:`seqkd.plan.derive_edges`)
    deps: List[str] = field(default_factory=list)
    #: its stage kind's name
    kind: str = ""

    def holds(self, path: Path) -> bool:
        """Whether ``path`` (resolved) is this stage's folder or lies in it."""
        return path == self.out_dir or self.out_dir in path.parents


def lazy(module: str, name: str) -> Callable[[], Any]:
    """``module.name``, imported when asked for: a room's heavy modules load only when one
    of its stages is built or runs, not when the command line starts."""
    def get() -> Any:
        return getattr(importlib.import_module(module), name)
    get.target = f"{module}.{name}"  # type: ignore[attr-defined]
    return get


def runner(module: str, name: str, quiet: bool = False) -> Callable[[Any, bool], Any]:
    """A kind's ``run``: ``module.name(config)`` (with ``quiet=`` when it takes it)."""
    get = lazy(module, name)

    def run(config: Any, be_quiet: bool = False) -> Any:
        return get()(config, quiet=be_quiet) if quiet else get()(config)
    run.target = get.target  # type: ignore[attr-defined]
    return run


@dataclass(frozen=True)
class StageKind:
    """A kind of stage, as its room declares it; :mod:`seqkd.stages.registry` lists them.

    - ``settings()``: its settings class (a dataclass of :func:`seqkd.config.setting`
      fields, with ``consumes()``: the folders and files it reads);
    - ``run(config, quiet)``: runs one stage of it, returns its report;
    - ``sections``: the config sections it reads; ``plan(planner)`` turns them into steps
      (None: another kind plans its steps, such as a student's export);
    - ``commands``: its sub-command builders (``build(subparsers)``);
    - ``produces``: what its folder holds when it is finished (what later stages read);
    - ``alone``: a measurement: ``seqkd run --jobs`` starts it only when no other stage runs,
      and starts none beside it;
    - ``progress()``: (lazy) ``where(out_dir, config)``, how far an unfinished stage of it
      got, in words (``seqkd run --status``), or None when its folder does not say.
    """
    name: str
    settings: Callable[[], type]
    run: Callable[[Any, bool], Any]
    sections: Tuple[str, ...] = ()
    plan: Optional[Callable[[Any], None]] = None
    commands: Tuple[Callable[[Any], None], ...] = ()
    produces: str = ""
    alone: bool = False
    progress: Optional[Callable[[], Callable[[Path, Any], Optional[str]]]] = None


@dataclass
class TeacherPlan:
    """What a config's teacher section gives the stages that read the teacher."""
    #: fairseq checkpoints or train folders (several: an ensemble), or one CTranslate2 folder
    teachers: List[str] = field(default_factory=list)
    #: a program that translates stdin to stdout (distillation only)
    command: Optional[str] = None
    #: a CTranslate2 model folder with its own tokenizer (distillation in text space)
    ct2: Optional[str] = None
    #: that folder's tokenizer settings, for every distill entry and its bench rows
    ct2_tokenizer: Dict[str, Any] = field(default_factory=dict)
