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
from seqkd.plan.step import Step
from seqkd.plan.teacher import TeacherPlan, read_teacher

__all__ = ["Step", "TeacherPlan", "plan", "derive_edges"]


def plan(cfg: Dict, base: Path, source: str = "config", quiet: bool = False) -> List[Step]:
    """The ordered list of stages a config asks for; every problem in it raised at once."""
    problems = Problems(source)
    if not isinstance(cfg.get("work_dir"), str) or not cfg["work_dir"]:
        raise SeqkdError(f"{source}: work_dir must be a folder name")
    # relative paths in the config are relative to the folder seqkd runs in
    work = (base / cfg["work_dir"]).resolve()
    section_problems(cfg, problems)
    p = Planner(absolute_paths(cfg, base), work, problems, quiet)
    prep = p.add_data()
    p.teacher = read_teacher(problems, p.section("teacher"), prep, work, p.data_dir, p.steps)
    p.add_distills(prep)
    p.add_students()
    p.add_bench()
    problems.raise_if_any()
    derive_edges(p.steps)
    return p.steps


def derive_edges(steps: List[Step]) -> None:
    """Each step depends on the earlier steps whose folders it reads: a path its config
    consumes (``consumes()``: what its settings name) is a step's folder or lies in it."""
    for i, step in enumerate(steps):
        wanted = [Path(p).resolve() for p in step.config.consumes()]
        step.deps = [s.name for s in steps[:i]
                     if any(w == s.out_dir or s.out_dir in w.parents for w in wanted)]
