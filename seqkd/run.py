"""``seqkd run CONFIG``: the whole pipeline from one YAML file into one work folder.

Stages and their folders under ``work_dir``:

    data/                 prepare
    teacher/              train --role teacher (unless teacher.checkpoints are given)
    distill-NAME/         one per entry of ``distill``
    student-NAME/         one per entry of ``students``
    export-NAME/          CTranslate2 export of each student (and of the teacher)
    bench/                one bench run over the teacher and every exported student

A stage whose folder holds a finished run with the same settings is skipped; an
unfinished one resumes. When a stage must run again (its settings changed, or
a stage it depends on ran again), the folders of every stage after it are
removed first, so no later stage can keep outputs built from old inputs.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import yaml

from seqkd.errors import SeqkdError
from seqkd.stage import Stage, clear_dir

logger = logging.getLogger(__name__)


@dataclass
class Step:
    name: str
    out_dir: Path
    config: Any
    action: Callable[[], Any]
    deps: List[str]

    def current(self) -> bool:
        return Stage(self.name, self.out_dir, self.config).is_current()


def _fields(cls, values: Dict, where: str, **fixed) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise SeqkdError(f"config {where}: unknown setting(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(names - set(fixed)))}")
    return cls(**{**values, **fixed})


def load_config(path: str | Path) -> Dict:
    p = Path(path)
    if not p.is_file():
        raise SeqkdError(f"config not found: {p}")
    try:
        cfg = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise SeqkdError(f"{p} is not valid YAML: {e}") from None
    allowed = {"work_dir", "data", "teacher", "distill", "students", "export", "bench"}
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise SeqkdError(f"{p}: unknown section(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(allowed))}")
    if "work_dir" not in cfg:
        raise SeqkdError(f"{p}: set work_dir (the folder for every stage's outputs)")
    return cfg


def plan(cfg: Dict, base: Path) -> List[Step]:
    """The ordered list of stages a config asks for."""
    from seqkd.bench import BenchConfig, SystemSpec, bench
    from seqkd.distill import DistillConfig, distill
    from seqkd.export import ExportConfig, export
    from seqkd.prepare import PrepareConfig, prepare
    from seqkd.train import TrainConfig, train

    # relative paths in the config are relative to the folder seqkd runs in
    work = (base / cfg["work_dir"]).resolve()
    steps: List[Step] = []

    def rel(p: str) -> str:
        return str((base / p).resolve())

    data_dir = work / "data"
    data_cfg = dict(cfg.get("data") or {})
    for key in ("spm_model", "dictionary", "train_prefix", "valid_prefix"):
        if data_cfg.get(key):
            data_cfg[key] = rel(data_cfg[key])
    prep = _fields(PrepareConfig, data_cfg, "data", out_dir=str(data_dir))
    steps.append(Step("prepare", data_dir, prep, lambda: prepare(prep), []))

    teacher = cfg.get("teacher") or {}
    if teacher.get("checkpoints"):
        teachers = [rel(c) for c in teacher["checkpoints"]]
        teacher_deps: List[str] = []
        if not (prep.spm_model and prep.dictionary):
            raise SeqkdError("with teacher.checkpoints, set data.spm_model and data.dictionary "
                             "to the teacher's SentencePiece model and dictionary")
    elif "train" in teacher:
        tdir = work / "teacher"
        tcfg = _fields(TrainConfig, teacher["train"], "teacher.train", data=str(data_dir),
                       out_dir=str(tdir), role="teacher")
        steps.append(Step("teacher", tdir, tcfg, lambda: train(tcfg), ["prepare"]))
        teachers = [str(tdir / "checkpoints" / "checkpoint_best.pt")]
        teacher_deps = ["teacher"]
    else:
        raise SeqkdError("config: set teacher.checkpoints (existing teacher) or teacher.train")

    distilled: Dict[str, Path] = {}
    for entry in cfg.get("distill") or []:
        entry = dict(entry)
        name = entry.pop("name", None)
        if not name:
            raise SeqkdError("config distill: every entry needs a name")
        ddir = work / f"distill-{name}"
        dcfg = _fields(DistillConfig, entry, f"distill {name}", data=str(data_dir),
                       out_dir=str(ddir), teachers=teachers)
        steps.append(Step(f"distill-{name}", ddir, dcfg, (lambda c=dcfg: distill(c)),
                          ["prepare", *teacher_deps]))
        distilled[name] = ddir

    export_cfg = dict(cfg.get("export") or {})
    students: List[str] = []
    for entry in cfg.get("students") or []:
        entry = dict(entry)
        name = entry.pop("name", None)
        source = entry.pop("data", "references")
        word_kd = entry.pop("word_kd", None)
        if not name:
            raise SeqkdError("config students: every entry needs a name")
        if source == "references":
            sdata, sdeps = data_dir, ["prepare"]
        elif source in distilled:
            sdata, sdeps = distilled[source], [f"distill-{source}"]
        else:
            raise SeqkdError(f"config student {name}: data must be 'references' or a distill "
                             f"name ({', '.join(distilled) or 'none defined'})")
        if word_kd:
            entry.update(kd_teachers=teachers, kd_alpha=word_kd.get("alpha", 0.5),
                         kd_temperature=word_kd.get("temperature", 1.0))
            sdeps = sdeps + teacher_deps
        sdir = work / f"student-{name}"
        scfg = _fields(TrainConfig, entry, f"student {name}", data=str(sdata),
                       out_dir=str(sdir), role="student")
        steps.append(Step(f"student-{name}", sdir, scfg, (lambda c=scfg: train(c)), sdeps))
        edir = work / f"export-{name}"
        ecfg = _fields(ExportConfig, export_cfg, "export", checkpoint=str(sdir),
                       data=str(data_dir), out_dir=str(edir))
        steps.append(Step(f"export-{name}", edir, ecfg, (lambda c=ecfg: export(c)),
                          [f"student-{name}"]))
        students.append(name)

    bench_cfg = dict(cfg.get("bench") or {})
    if bench_cfg:
        beams = bench_cfg.pop("student_beams", [bench_cfg.get("beam", 5)])
        #: the teacher exported like the students (CTranslate2), benched at these beams
        teacher_ct2_beams = bench_cfg.pop("teacher_ct2_beams", [])
        systems = []
        deps = []
        if bench_cfg.pop("teacher", True):
            systems.append(SystemSpec("teacher", "fairseq", teachers[0]))
            deps += teacher_deps
        if teacher_ct2_beams:
            edir = work / "export-teacher"
            ecfg = _fields(ExportConfig, export_cfg, "export", checkpoint=teachers[0],
                           data=str(data_dir), out_dir=str(edir))
            steps.append(Step("export-teacher", edir, ecfg, (lambda c=ecfg: export(c)),
                              ["prepare", *teacher_deps]))
            for b in teacher_ct2_beams:
                systems.append(SystemSpec(f"teacher-{ecfg.quantization}-b{b}", "ct2",
                                          str(edir / "model"), beam=b))
            deps.append("export-teacher")
        for name in students:
            for b in beams:
                systems.append(SystemSpec(f"{name}-b{b}", "ct2",
                                          str(work / f"export-{name}" / "model"), beam=b))
            deps.append(f"export-{name}")
        bdir = work / "bench"
        bcfg = _fields(BenchConfig, bench_cfg, "bench", data=str(data_dir), out_dir=str(bdir),
                       systems=systems)
        steps.append(Step("bench", bdir, bcfg, lambda: bench(bcfg), deps))
    return steps


def dependents(steps: List[Step], name: str) -> List[Step]:
    """Every step that depends on ``name``, directly or not, in order."""
    found: List[str] = [name]
    out = []
    for s in steps:
        if any(d in found for d in s.deps):
            found.append(s.name)
            out.append(s)
    return out


def run(config_path: str | Path, only: Optional[List[str]] = None) -> Dict[str, str]:
    """Run every stage that is not finished with its current settings; return what happened."""
    cfg = load_config(config_path)
    steps = plan(cfg, Path.cwd())
    ran: set = set()
    status: Dict[str, str] = {}
    for step in steps:
        if only and step.name not in only:
            status[step.name] = "not selected"
            continue
        upstream_ran = any(d in ran for d in step.deps)
        if step.current() and not upstream_ran:
            status[step.name] = "up to date"
            logger.info("%s: up to date", step.name)
            continue
        for later in dependents(steps, step.name):
            if later.out_dir.exists():
                logger.info("%s: removing %s (it depends on %s, which runs again)",
                            later.name, later.out_dir, step.name)
                clear_dir(later.out_dir)
        stage = Stage(step.name, step.out_dir, step.config)
        if upstream_ran or (stage.finished() is not None and not stage.is_current()):
            clear_dir(step.out_dir)
        logger.info("=== %s", step.name)
        step.action()
        ran.add(step.name)
        status[step.name] = "ran"
    return status
