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

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from seqkd.config import Problems
from seqkd.config_file import absolute_paths, entries, fields
from seqkd.errors import SeqkdError
from seqkd.text_teachers import is_ct2_folder
from seqkd.textio import SAFE_NAME

logger = logging.getLogger(__name__)


@dataclass
class Step:
    name: str
    out_dir: Path
    config: Any
    action: Callable[[], Any]
    #: the steps whose folders it reads (derived: see :func:`derive_edges`)
    deps: List[str] = field(default_factory=list)


@dataclass
class TeacherPlan:
    """What a config's teacher section gives the stages that read the teacher."""
    #: fairseq checkpoints or train folders (several: an ensemble), or one CTranslate2 folder
    teachers: List[str]
    #: a program that translates stdin to stdout (distillation only)
    command: Optional[str]
    #: a CTranslate2 model folder with its own tokenizer (distillation in text space)
    ct2: Optional[str]
    #: that folder's tokenizer settings, for every distill entry and its bench rows
    ct2_tokenizer: Dict[str, Any]


def _teacher(problems: Problems, teacher: Dict, prep: Any, work: Path, data_dir: Path,
             steps: List[Step]) -> TeacherPlan:
    """The teacher section read (a teacher trained here added to ``steps``)."""
    from seqkd.bench.systems import TOKENIZER_OPTIONS
    from seqkd.train import TrainConfig, train

    teachers: List[str] = []
    #: a program as the teacher: distillation only (no word-level KD, no teacher bench row)
    teacher_command = teacher.get("command")
    #: a CTranslate2 model folder with its own tokenizer: distillation only, in text space
    teacher_ct2 = teacher.get("ct2")
    #: its tokenizer settings: given to every distill entry and to its bench rows
    ct2_tokenizer: Dict[str, Any] = {}
    if teacher_ct2 is not None:
        if not isinstance(teacher_ct2, str) or not is_ct2_folder(teacher_ct2):
            problems.add(f"teacher.ct2: must be a CTranslate2 model folder (model.bin and its "
                         f"SentencePiece model inside), got {teacher_ct2!r}")
            teacher_ct2 = None
        else:
            teachers = [teacher_ct2]
        ct2_tokenizer = {k: teacher[k] for k in TOKENIZER_OPTIONS if k in teacher}
        if set(teacher) - {"ct2", *TOKENIZER_OPTIONS}:
            problems.add("teacher: give command, checkpoints, ct2 (with "
                         f"{', '.join(TOKENIZER_OPTIONS)}) or train, one of them")
    elif teacher_command is not None:
        if not isinstance(teacher_command, str) or not teacher_command.strip():
            problems.add(f"teacher.command: must be a command line, got {teacher_command!r}")
            teacher_command = None
        if set(teacher) - {"command"}:
            problems.add("teacher: give command, checkpoints or train, one of them")
    elif teacher.get("checkpoints") or "train" in teacher:
        if "checkpoints" in teacher:
            if not isinstance(teacher["checkpoints"], list) or not all(
                    isinstance(c, str) for c in teacher["checkpoints"]):
                problems.add("teacher.checkpoints: must be a list of checkpoint paths")
            else:
                teachers = list(teacher["checkpoints"])
            if prep is not None and not (prep.spm_model and prep.dictionary):
                problems.add("with teacher.checkpoints, set data.spm_model and data.dictionary "
                             "to the teacher's SentencePiece model and dictionary")
        if "train" in teacher:
            # trained here; beside checkpoints, a further member of an ensemble with them
            tdir = work / "teacher"
            tcfg = fields(problems, TrainConfig, teacher["train"], "teacher.train",
                           data=str(data_dir), out_dir=str(tdir), role="teacher")
            if tcfg is not None:
                steps.append(Step("teacher", tdir, tcfg, lambda: train(tcfg)))
            # the folder: its averaged checkpoint when trained with average_last, else its best
            teachers.append(str(tdir))
        if set(teacher) - {"checkpoints", "train"}:
            problems.add("teacher: give command, checkpoints, ct2 or train (checkpoints and "
                         "train together: an ensemble of the given checkpoints and the one "
                         "trained here)")
    else:
        problems.add("teacher: set teacher.checkpoints (existing teacher), teacher.train, "
                     "teacher.ct2 (a CTranslate2 model folder with its own tokenizer) or "
                     "teacher.command (a program that translates stdin to stdout)")
    return TeacherPlan(teachers, teacher_command, teacher_ct2, ct2_tokenizer)


class _Planner:
    """The steps of one config, built section by section; every problem is noted in
    ``problems`` (raised at once by :func:`plan`)."""

    def __init__(self, cfg: Dict, work: Path, problems: Problems, quiet: bool):
        self.cfg, self.work, self.problems, self.quiet = cfg, work, problems, quiet
        self.steps: List[Step] = []
        self.data_dir = work / "data"
        self.teacher = TeacherPlan([], None, None, {})
        #: distill entry name -> its folder
        self.distilled: Dict[str, Path] = {}
        #: topk-cache stage name -> its config (one per data, k and temperature)
        self.topk: Dict[str, Any] = {}
        #: the students planned whole, in order, and each one's own bench systems ([]: the
        #: bench section's student_beams)
        self.students: List[str] = []
        self.systems_of: Dict[str, List[Any]] = {}
        #: the export section (every export's settings, a student's own over them)
        self.export_cfg: Dict = {}

    def section(self, name: str) -> Dict:
        value = self.cfg.get(name) or {}
        if not isinstance(value, dict):
            self.problems.add(f"{name}: must be a mapping of settings, got {value!r}")
            return {}
        return dict(value)

    def entry_name(self, section: str, name: Any, seen: set) -> bool:
        """True when ``name`` can name a stage folder (problems noted otherwise)."""
        if not isinstance(name, str) or not name:
            self.problems.add(f"{section}: every entry needs a name")
        elif not SAFE_NAME.fullmatch(name):
            self.problems.add(f"{section}: name {name!r} is not allowed: use letters, digits, "
                              "'_', '-' and '.' only (it names a folder)")
        elif name in seen:
            self.problems.add(f"{section}: two entries are named {name!r}; give each its own "
                              "name")
        else:
            seen.add(name)
            return True
        return False

    def add_data(self) -> Any:
        """The prepare stage; its config (None when it has problems)."""
        from seqkd.prepare import PrepareConfig, prepare

        prep = fields(self.problems, PrepareConfig, self.section("data"), "data",
                      out_dir=str(self.data_dir))
        if prep is not None:
            self.steps.append(Step("prepare", self.data_dir, prep, lambda: prepare(prep)))
        return prep

    def add_distills(self) -> None:
        from seqkd.distill import DistillConfig, distill

        t = self.teacher
        for entry in entries(self.problems, self.cfg, "distill"):
            name = entry.pop("name", None)
            if not self.entry_name("distill", name, set(self.distilled)):
                continue
            ddir = self.work / f"distill-{name}"
            fixed: Dict[str, Any] = {"teachers": t.teachers}
            if t.command:
                fixed.update(decoder="command", teacher_command=t.command)
            # the teacher section's tokenizer settings, under the distill config's names
            fixed.update({("teacher_" + k if k in ("spm", "target_spm") else k): v
                          for k, v in t.ct2_tokenizer.items()})
            dcfg = fields(self.problems, DistillConfig, entry, f"distill {name}",
                          data=str(self.data_dir), out_dir=str(ddir), **fixed)
            if dcfg is not None:
                self.steps.append(Step(f"distill-{name}", ddir, dcfg,
                                       (lambda c=dcfg: distill(c))))
            self.distilled[name] = ddir

    def student_data(self, student: str, source: Any) -> Optional[Path]:
        """The folder a student (or its vocabulary map) reads for ``source``, 'references'
        or a distill name; None (problem noted) for anything else."""
        if source == "references":
            return self.data_dir
        if source in self.distilled:
            return self.distilled[source]
        return None

    def topk_step(self, source: str, sdata: Path, word_kd: Dict,
                  student: str) -> Optional[str]:
        """The name of the topk-cache stage for ``source`` at ``word_kd``'s k and
        temperature (made once, shared by the students that use it), or None."""
        from seqkd.topk_cache import TopkConfig, topk_cache

        k, temperature = word_kd["topk"], word_kd.get("temperature", 1.0)
        tname = f"topk-{source}-k{k}" + ("" if temperature == 1.0 else f"-t{temperature:g}")
        if tname not in self.topk:
            tdir = self.work / tname
            tcfg = fields(self.problems, TopkConfig, {"k": k, "temperature": temperature},
                          f"student {student} word_kd", data=str(sdata), out_dir=str(tdir),
                          teachers=self.teacher.teachers)
            if tcfg is None:
                return None
            self.topk[tname] = tcfg
            self.steps.append(Step(tname, tdir, tcfg, (lambda c=tcfg: topk_cache(c))))
        return tname

    def word_kd(self, student: str, word_kd: Any, source: str, sdata: Path) -> Optional[Dict]:
        """The training settings of a student's ``word_kd`` ({} without one), or None
        (problems noted)."""
        t = self.teacher
        if word_kd is None:
            return {}
        if t.command or t.ct2:
            self.problems.add(
                f"student {student}: word-level KD needs the teacher's token distributions over "
                "the student's vocabulary; a teacher "
                f"{'command' if t.command else 'given as a CTranslate2 folder'} gives "
                "translations only (drop word_kd, or give the teacher as fairseq checkpoints "
                "with the data's dictionary)")
            return None
        if not isinstance(word_kd, dict) or set(word_kd) - {"alpha", "temperature", "topk"}:
            self.problems.add(f"student {student}: word_kd takes alpha, temperature and topk "
                              f"(a top-k cache of K tokens instead of the live teacher), "
                              f"got {word_kd!r}")
            return None
        out: Dict[str, Any] = {"kd_alpha": word_kd.get("alpha", 0.5),
                               "kd_temperature": word_kd.get("temperature", 1.0)}
        if "topk" not in word_kd:
            return {**out, "kd_teachers": t.teachers}
        tname = self.topk_step(source, sdata, word_kd, student)
        return None if tname is None else {**out, "kd_cache": str(self.work / tname)}

    def student_export(self, student: str, own: Any) -> Dict:
        """A student's own export settings (over the export section); ``vmap_data`` names a
        data source as a student's ``data`` does."""
        if own is None:
            return {}
        if not isinstance(own, dict):
            self.problems.add(f"student {student}: export must be a mapping of export "
                              f"settings, got {own!r}")
            return {}
        own = dict(own)
        if "vmap_data" not in own:
            return own
        folder = self.student_data(student, own["vmap_data"])
        if folder is None:
            self.problems.add(f"student {student}: export vmap_data must be 'references' or a "
                              f"distill name ({', '.join(self.distilled) or 'none defined'}), "
                              f"got {own['vmap_data']!r}")
            return {}
        own["vmap_data"] = str(folder)
        return own

    def student_systems(self, student: str, own: Any, model: Path) -> Optional[List[Any]]:
        """The bench systems of one student's export: ``bench: [{beam: 1, compute_type:
        int8, vmap: true}, ...]`` in its entry, or None (problems noted); [] when the entry
        has none (the bench section's student_beams then apply)."""
        from seqkd.bench import SystemSpec

        if own is None:
            return []
        if not isinstance(own, list) or not all(isinstance(o, dict) for o in own):
            self.problems.add(f"student {student}: bench must be a list of system settings "
                              f"(beam, compute_type, vmap, inter, threads, batch), got {own!r}")
            return None
        out = []
        for opts in own:
            parts = [f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in opts.items()]
            name = "-".join([student]
                            + (["vmap"] if opts.get("vmap") else [])
                            + ([str(opts["compute_type"])] if "compute_type" in opts else [])
                            + [f"b{opts.get('beam', 'x')}"]
                            + ([f"t{opts['threads']}"] if "threads" in opts else []))
            try:
                out.append(SystemSpec.parse(f"{name}=ct2:{model}," + ",".join(parts)))
            except SeqkdError as e:
                self.problems.add(f"student {student}: bench {opts!r}: "
                                  f"{str(e).split(': ', 1)[-1]}")
                return None
            if out[-1].beam is None:
                self.problems.add(f"student {student}: bench {opts!r}: give each system a "
                                  "beam")
                return None
        return out

    def add_students(self) -> None:
        """A training and an export stage per student entry."""
        from seqkd.export import ExportConfig, export
        from seqkd.train import TrainConfig, train

        self.export_cfg = self.section("export")
        names: set = set()
        for entry in entries(self.problems, self.cfg, "students"):
            name = entry.pop("name", None)
            source = entry.pop("data", "references")
            word_kd = entry.pop("word_kd", None)
            own_export = entry.pop("export", None)
            own_bench = entry.pop("bench", None)
            if not self.entry_name("students", name, names):
                continue
            sdata = self.student_data(name, source)
            if sdata is None:
                self.problems.add(f"student {name}: data must be 'references' or a distill "
                                  f"name ({', '.join(self.distilled) or 'none defined'}), got "
                                  f"{source!r}")
                continue
            kd = self.word_kd(name, word_kd, source, sdata)
            if kd is None:
                continue
            sdir, edir = self.work / f"student-{name}", self.work / f"export-{name}"
            scfg = fields(self.problems, TrainConfig, {**entry, **kd}, f"student {name}",
                          data=str(sdata), out_dir=str(sdir), role="student")
            over = self.student_export(name, own_export)
            ecfg = fields(self.problems, ExportConfig, {**self.export_cfg, **over},
                          f"student {name} export" if over else "export",
                          checkpoint=str(sdir), data=str(self.data_dir), out_dir=str(edir))
            systems = self.student_systems(name, own_bench, edir / "model")
            if scfg is None or ecfg is None or systems is None:
                continue
            self.steps.append(Step(f"student-{name}", sdir, scfg, (lambda c=scfg: train(c))))
            self.steps.append(Step(f"export-{name}", edir, ecfg, (lambda c=ecfg: export(c))))
            self.students.append(name)
            self.systems_of[name] = systems

    def teacher_systems(self, bench_cfg: Dict, teacher_ct2_beams: List[int],
                        with_teacher: bool) -> List[Any]:
        """The teacher's bench rows (``with_teacher``), and an export-teacher stage with its
        rows when ``teacher_ct2_beams`` asks to measure it as CTranslate2 too."""
        from seqkd.bench import SystemSpec
        from seqkd.export import ExportConfig, export

        t, systems = self.teacher, []
        if t.ct2:  # no fairseq row, no export
            if with_teacher:
                # measured with its own tokenizer, as it taught; at teacher_ct2_beams, else
                # at the bench's beam
                for b in teacher_ct2_beams or [bench_cfg.get("beam", 5)]:
                    systems.append(SystemSpec(f"teacher-ct2-b{b}", "ct2", t.ct2, beam=b,
                                              **t.ct2_tokenizer))
            return systems
        teachers = t.teachers
        if with_teacher and teachers:
            systems.append(SystemSpec("teacher", "fairseq", teachers[0]))
            if len(teachers) > 1:
                # the ensemble that taught, decoded as it distilled (fairseq, every member)
                systems.append(SystemSpec("teacher-ensemble", "fairseq", teachers[0],
                                          members=teachers[1:]))
        if teacher_ct2_beams and teachers:
            edir = self.work / "export-teacher"
            ecfg = fields(self.problems, ExportConfig, self.export_cfg, "export",
                          checkpoint=teachers[0], data=str(self.data_dir), out_dir=str(edir))
            if ecfg is not None:
                self.steps.append(Step("export-teacher", edir, ecfg,
                                       (lambda c=ecfg: export(c))))
                for b in teacher_ct2_beams:
                    systems.append(SystemSpec(f"teacher-{ecfg.quantization}-b{b}", "ct2",
                                              str(edir / "model"), beam=b))
        return systems

    def add_bench(self) -> None:
        """One bench over the teacher (when ``bench.teacher`` is not false) and every student."""
        from seqkd.bench import BenchConfig, SystemSpec, bench

        bench_cfg = self.section("bench")
        if not bench_cfg:
            return
        beams = bench_cfg.pop("student_beams", [bench_cfg.get("beam", 5)])
        #: the teacher exported like the students (CTranslate2), benched at these beams
        teacher_ct2_beams = bench_cfg.pop("teacher_ct2_beams", [])
        with_teacher = bench_cfg.pop("teacher", True)
        for key, value in (("student_beams", beams), ("teacher_ct2_beams", teacher_ct2_beams)):
            if not isinstance(value, list) or not all(
                    isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in value):
                self.problems.add(f"bench: {key} must be a list of beam sizes, got {value!r}")
                beams, teacher_ct2_beams = [], []
        systems = self.teacher_systems(bench_cfg, teacher_ct2_beams, with_teacher)
        for name in self.students:
            systems += self.systems_of[name] or [
                SystemSpec(f"{name}-b{b}", "ct2", str(self.work / f"export-{name}" / "model"),
                           beam=b) for b in beams]
        bdir = self.work / "bench"
        bcfg = fields(self.problems, BenchConfig, bench_cfg, "bench", data=str(self.data_dir),
                      out_dir=str(bdir), systems=systems)
        if bcfg is not None:
            quiet = self.quiet
            self.steps.append(Step("bench", bdir, bcfg, lambda: bench(bcfg, quiet=quiet)))


def plan(cfg: Dict, base: Path, source: str = "config", quiet: bool = False) -> List[Step]:
    """The ordered list of stages a config asks for; every problem in it raised at once."""
    problems = Problems(source)
    if not isinstance(cfg.get("work_dir"), str) or not cfg["work_dir"]:
        raise SeqkdError(f"{source}: work_dir must be a folder name")
    # relative paths in the config are relative to the folder seqkd runs in
    work = (base / cfg["work_dir"]).resolve()
    p = _Planner(absolute_paths(cfg, base), work, problems, quiet)
    prep = p.add_data()
    p.teacher = _teacher(problems, p.section("teacher"), prep, work, p.data_dir, p.steps)
    p.add_distills()
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
