"""How ``seqkd run`` plans a config (read and checked by :mod:`seqkd.config_file`): the ordered
stages it asks for, each with its typed stage config, its folder under ``work_dir`` and the
stages it depends on (derived from the paths its settings name).

Stages and their folders under ``work_dir``:

    data/                 prepare
    teacher/              train --role teacher (teacher.train; beside teacher.checkpoints, a
                          further member of an ensemble with them)
    distill-NAME/         one per entry of ``distill``
    topk-DATA-kK/         the teacher's top-k cache on a student's data, for students with
                          ``word_kd: {topk: K}`` (one per data, k and temperature)
    student-NAME/         one per entry of ``students``
    export-NAME/          CTranslate2 export of each student (and of the teacher)
    bench/                one bench run over the teacher and every exported student
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from seqkd.config import Problems
from seqkd.config_file import absolute_paths, section_problems
from seqkd.errors import SeqkdError
from seqkd.plan.planner import Planner
from seqkd.stages import registry
from seqkd.stages.base import Step

__all__ = ["Step", "plan", "derive_edges"]


def plan(cfg: Dict, base: Path, source: str = "config", quiet: bool = False) -> List[Step]:
    """The ordered list of stages a config asks for; every problem in it raised at once."""
    problems = Problems(source)
    if not isinstance(cfg.get("work_dir"), str) or not cfg["work_dir"]:
        raise SeqkdError(f"{source}: work_dir must be a folder name")
    # relative paths in the config are relative to the folder seqkd runs in
    work = (base / cfg["work_dir"]).resolve()
    if work.exists() and not work.is_dir():
        problems.add(f"work_dir {cfg['work_dir']} is a file, not a folder: name a folder (new "
                     "or one seqkd wrote) for every stage's outputs")
    section_problems(cfg, problems, registry.sections())
    p = Planner(absolute_paths(cfg, base), work, problems, quiet)
    for k in registry.KINDS:  # each reads what the kinds before it planned
        if k.plan is not None:
            k.plan(p)
    problems.raise_if_any()
    derive_edges(p.steps)
    return p.steps


def derive_edges(steps: List[Step]) -> None:
    """Each step depends on the steps whose folders it reads: a path its config consumes
    (``consumes()``: what its settings name) is a step's folder or lies in it. A step that
    reads the folder of a step planned after it is a planning error (a kind placed before the
    kind it reads, in :mod:`seqkd.stages.registry`), never a dependency dropped."""
    for i, step in enumerate(steps):
        wanted = [Path(p).resolve() for p in step.config.consumes()]
        reads = [(j, s) for j, s in enumerate(steps) if j != i and any(map(s.holds, wanted))]
        later = [s.name for j, s in reads if j > i]
        if later:
            raise SeqkdError(f"stage {step.name} reads {', '.join(later)}, planned after it: "
                             "the stage kinds' order in seqkd/stages/registry.py must plan a "
                             "stage after the stages it reads")
        step.deps = [s.name for _, s in reads]
