"""How ``seqkd run`` reads a config: the YAML checked whole, then turned into the ordered
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

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from seqkd.config import Problems
from seqkd.errors import SeqkdError
from seqkd.text_teachers import is_ct2_folder
from seqkd.textio import SAFE_NAME, load_yaml

logger = logging.getLogger(__name__)


@dataclass
class Step:
    name: str
    out_dir: Path
    config: Any
    action: Callable[[], Any]
    #: the steps whose folders it reads (derived: see :func:`derive_edges`)
    deps: List[str] = field(default_factory=list)


def _fields(problems: Problems, cls, values: Any, where: str, **fixed) -> Any:
    """A typed stage config from one section of the YAML, or None (problems noted)."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        problems.add(f"{where}: must be a mapping of settings, got {values!r}")
        return None
    clash = sorted(set(values) & set(fixed))
    if clash:
        problems.add(f"{where}: {', '.join(clash)} {'is' if len(clash) == 1 else 'are'} set "
                     "by seqkd run itself; remove it from the config")
        values = {k: v for k, v in values.items() if k not in fixed}
    return problems.build(cls, {**values, **fixed}, where)


def _entries(problems: Problems, cfg: Dict, section: str) -> List[Dict]:
    entries = cfg.get(section) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.add(f"{section}: must be a list of mappings (one per {section} entry)")
        return []
    return [dict(e) for e in entries]


def load_config(path: str | Path) -> Dict:
    p = Path(path)
    if not p.is_file():
        raise SeqkdError(f"config not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SeqkdError(f"{p} is not UTF-8 text") from None
    cfg = load_yaml(text, str(p)) or {}
    if not isinstance(cfg, dict):
        raise SeqkdError(f"{p}: a config is a mapping of sections (work_dir, data, teacher, "
                         f"distill, students, export, bench), not a {type(cfg).__name__}")
    allowed = {"work_dir", "data", "teacher", "distill", "students", "export", "bench"}
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise SeqkdError(f"{p}: unknown section(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(allowed))}")
    if "work_dir" not in cfg:
        raise SeqkdError(f"{p}: set work_dir (the folder for every stage's outputs)")
    return cfg


#: data-section keys that name local files or file prefixes
DATA_PATH_KEYS = ("spm_model", "dictionary", "train_prefix", "valid_prefix")


def absolute_paths(cfg: Dict, base: Path) -> Dict:
    """A copy of ``cfg`` with its local paths (data files and prefixes, teacher checkpoints)
    resolved against ``base``, the folder seqkd runs in; values of a wrong type are left as
    they are for :func:`plan` to report."""
    out = copy.deepcopy(cfg)

    def rel(p):
        return str((base / p).resolve()) if isinstance(p, str) and p else p

    data = out.get("data")
    if isinstance(data, dict):
        for key in DATA_PATH_KEYS:
            if key in data:
                data[key] = rel(data[key])
        if isinstance(data.get("test_prefixes"), dict):
            data["test_prefixes"] = {k: rel(v) for k, v in data["test_prefixes"].items()}
    teacher = out.get("teacher")
    if isinstance(teacher, dict) and isinstance(teacher.get("checkpoints"), list):
        teacher["checkpoints"] = [rel(c) for c in teacher["checkpoints"]]
    if isinstance(teacher, dict):
        for key in ("ct2", "spm", "target_spm"):
            if isinstance(teacher.get(key), str):
                teacher[key] = rel(teacher[key])
    return out


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
            tcfg = _fields(problems, TrainConfig, teacher["train"], "teacher.train",
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


def plan(cfg: Dict, base: Path, source: str = "config", quiet: bool = False) -> List[Step]:
    """The ordered list of stages a config asks for; every problem in it raised at once."""
    from seqkd.bench import BenchConfig, SystemSpec, bench
    from seqkd.distill import DistillConfig, distill
    from seqkd.export import ExportConfig, export
    from seqkd.prepare import PrepareConfig, prepare
    from seqkd.topk_cache import TopkConfig, topk_cache
    from seqkd.train import TrainConfig, train

    problems = Problems(source)
    if not isinstance(cfg.get("work_dir"), str) or not cfg["work_dir"]:
        raise SeqkdError(f"{source}: work_dir must be a folder name")
    # relative paths in the config are relative to the folder seqkd runs in
    work = (base / cfg["work_dir"]).resolve()
    cfg = absolute_paths(cfg, base)
    steps: List[Step] = []

    def section(name: str) -> Dict:
        value = cfg.get(name) or {}
        if not isinstance(value, dict):
            problems.add(f"{name}: must be a mapping of settings, got {value!r}")
            return {}
        return dict(value)

    data_dir = work / "data"
    data_cfg = section("data")
    prep = _fields(problems, PrepareConfig, data_cfg, "data", out_dir=str(data_dir))
    if prep is not None:
        steps.append(Step("prepare", data_dir, prep, lambda: prepare(prep)))

    t = _teacher(problems, section("teacher"), prep, work, data_dir, steps)
    teachers, teacher_command, teacher_ct2, ct2_tokenizer = (t.teachers, t.command, t.ct2,
                                                             t.ct2_tokenizer)

    def entry_name(section: str, name: Any, seen: set) -> bool:
        """True when ``name`` can name a stage folder (problems noted otherwise)."""
        if not isinstance(name, str) or not name:
            problems.add(f"{section}: every entry needs a name")
        elif not SAFE_NAME.fullmatch(name):
            problems.add(f"{section}: name {name!r} is not allowed: use letters, digits, '_', "
                         "'-' and '.' only (it names a folder)")
        elif name in seen:
            problems.add(f"{section}: two entries are named {name!r}; give each its own name")
        else:
            seen.add(name)
            return True
        return False

    distilled: Dict[str, Path] = {}
    for entry in _entries(problems, cfg, "distill"):
        name = entry.pop("name", None)
        if not entry_name("distill", name, set(distilled)):
            continue
        ddir = work / f"distill-{name}"
        fixed: Dict[str, Any] = {"teachers": teachers}
        if teacher_command:
            fixed.update(decoder="command", teacher_command=teacher_command)
        # the teacher section's tokenizer settings, under the distill config's names
        fixed.update({("teacher_" + k if k in ("spm", "target_spm") else k): v
                      for k, v in ct2_tokenizer.items()})
        dcfg = _fields(problems, DistillConfig, entry, f"distill {name}", data=str(data_dir),
                       out_dir=str(ddir), **fixed)
        if dcfg is not None:
            steps.append(Step(f"distill-{name}", ddir, dcfg, (lambda c=dcfg: distill(c))))
        distilled[name] = ddir

    topk_steps: Dict[str, Any] = {}

    def topk_step(source: str, sdata: Path, word_kd: Dict,
                  student: str) -> Optional[str]:
        """The name of the topk-cache stage for ``source`` at ``word_kd``'s k and
        temperature (made once, shared by the students that use it), or None."""
        k, temperature = word_kd["topk"], word_kd.get("temperature", 1.0)
        tname = f"topk-{source}-k{k}" + ("" if temperature == 1.0 else f"-t{temperature:g}")
        if tname not in topk_steps:
            tdir = work / tname
            tcfg = _fields(problems, TopkConfig, {"k": k, "temperature": temperature},
                           f"student {student} word_kd", data=str(sdata), out_dir=str(tdir),
                           teachers=teachers)
            if tcfg is None:
                return None
            topk_steps[tname] = tcfg
            steps.append(Step(tname, tdir, tcfg, (lambda c=tcfg: topk_cache(c))))
        return tname

    def student_export(student: str, own: Any) -> Dict:
        """A student's own export settings (over the export section); ``vmap_data`` names a
        data source as a student's ``data`` does."""
        if own is None:
            return {}
        if not isinstance(own, dict):
            problems.add(f"student {student}: export must be a mapping of export settings, "
                         f"got {own!r}")
            return {}
        own = dict(own)
        source = own.get("vmap_data")
        if source is None:
            return own
        if source == "references":
            own["vmap_data"] = str(data_dir)
            return own
        if source in distilled:
            own["vmap_data"] = str(distilled[source])
            return own
        problems.add(f"student {student}: export vmap_data must be 'references' or a distill "
                     f"name ({', '.join(distilled) or 'none defined'}), got {source!r}")
        return {}

    def student_systems(student: str, own: Any, model: Path) -> Optional[List[Any]]:
        """The bench systems of one student's export: ``bench: [{beam: 1, compute_type:
        int8, vmap: true}, ...]`` in its entry, or None (problems noted); [] when the entry
        has none (the bench section's student_beams then apply)."""
        if own is None:
            return []
        if not isinstance(own, list) or not all(isinstance(o, dict) for o in own):
            problems.add(f"student {student}: bench must be a list of system settings "
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
                problems.add(f"student {student}: bench {opts!r}: "
                             f"{str(e).split(': ', 1)[-1]}")
                return None
            if out[-1].beam is None:
                problems.add(f"student {student}: bench {opts!r}: give each system a beam")
                return None
        return out

    systems_of: Dict[str, Optional[List[Any]]] = {}
    export_cfg = section("export")
    students: List[str] = []
    student_names: set = set()
    for entry in _entries(problems, cfg, "students"):
        name = entry.pop("name", None)
        source_name = entry.pop("data", "references")
        word_kd = entry.pop("word_kd", None)
        own_export = entry.pop("export", None)
        own_bench = entry.pop("bench", None)
        if not entry_name("students", name, student_names):
            continue
        if source_name == "references":
            sdata = data_dir
        elif source_name in distilled:
            sdata = distilled[source_name]
        else:
            problems.add(f"student {name}: data must be 'references' or a distill name "
                         f"({', '.join(distilled) or 'none defined'}), got {source_name!r}")
            continue
        if word_kd is not None and (teacher_command or teacher_ct2):
            problems.add(f"student {name}: word-level KD needs the teacher's token "
                         "distributions over the student's vocabulary; a teacher "
                         f"{'command' if teacher_command else 'given as a CTranslate2 folder'}"
                         " gives translations only (drop word_kd, or give the teacher as "
                         "fairseq checkpoints with the data's dictionary)")
            continue
        if word_kd is not None:
            if not isinstance(word_kd, dict) or set(word_kd) - {"alpha", "temperature", "topk"}:
                problems.add(f"student {name}: word_kd takes alpha, temperature and topk "
                             f"(a top-k cache of K tokens instead of the live teacher), "
                             f"got {word_kd!r}")
                continue
            entry.update(kd_alpha=word_kd.get("alpha", 0.5),
                         kd_temperature=word_kd.get("temperature", 1.0))
            if "topk" in word_kd:
                tname = topk_step(source_name, sdata, word_kd, name)
                if tname is None:
                    continue
                entry.update(kd_cache=str(work / tname))
            else:
                entry.update(kd_teachers=teachers)
        sdir = work / f"student-{name}"
        scfg = _fields(problems, TrainConfig, entry, f"student {name}", data=str(sdata),
                       out_dir=str(sdir), role="student")
        edir = work / f"export-{name}"
        over = student_export(name, own_export)
        ecfg = _fields(problems, ExportConfig, {**(export_cfg or {}), **over},
                       f"student {name} export" if over else "export", checkpoint=str(sdir),
                       data=str(data_dir), out_dir=str(edir))
        systems_of[name] = student_systems(name, own_bench, edir / "model")
        if scfg is None or ecfg is None or systems_of[name] is None:
            continue
        steps.append(Step(f"student-{name}", sdir, scfg, (lambda c=scfg: train(c))))
        steps.append(Step(f"export-{name}", edir, ecfg, (lambda c=ecfg: export(c))))
        students.append(name)

    bench_cfg = section("bench")
    if bench_cfg:
        beams = bench_cfg.pop("student_beams", [bench_cfg.get("beam", 5)])
        #: the teacher exported like the students (CTranslate2), benched at these beams
        teacher_ct2_beams = bench_cfg.pop("teacher_ct2_beams", [])
        with_teacher = bench_cfg.pop("teacher", True)
        for key, value in (("student_beams", beams), ("teacher_ct2_beams", teacher_ct2_beams)):
            if not isinstance(value, list) or not all(
                    isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in value):
                problems.add(f"bench: {key} must be a list of beam sizes, got {value!r}")
                beams, teacher_ct2_beams = [], []
        systems = []
        if teacher_ct2 and with_teacher:
            # measured with its own tokenizer, as it taught; at teacher_ct2_beams, else at
            # the bench's beam
            for b in teacher_ct2_beams or [bench_cfg.get("beam", 5)]:
                systems.append(SystemSpec(f"teacher-ct2-b{b}", "ct2", teacher_ct2, beam=b,
                                          **ct2_tokenizer))
        if teacher_ct2:
            teachers, teacher_ct2_beams = [], []  # no fairseq row, no export
        if with_teacher and teachers:
            systems.append(SystemSpec("teacher", "fairseq", teachers[0]))
            if len(teachers) > 1:
                # the ensemble that taught, decoded as it distilled (fairseq, every member)
                systems.append(SystemSpec("teacher-ensemble", "fairseq", teachers[0],
                                          members=teachers[1:]))
        if teacher_ct2_beams and teachers:
            edir = work / "export-teacher"
            ecfg = _fields(problems, ExportConfig, export_cfg, "export", checkpoint=teachers[0],
                           data=str(data_dir), out_dir=str(edir))
            if ecfg is not None:
                steps.append(Step("export-teacher", edir, ecfg, (lambda c=ecfg: export(c))))
                for b in teacher_ct2_beams:
                    systems.append(SystemSpec(f"teacher-{ecfg.quantization}-b{b}", "ct2",
                                              str(edir / "model"), beam=b))
        for name in students:
            systems += systems_of[name] or [
                SystemSpec(f"{name}-b{b}", "ct2", str(work / f"export-{name}" / "model"),
                           beam=b) for b in beams]
        bdir = work / "bench"
        bcfg = _fields(problems, BenchConfig, bench_cfg, "bench", data=str(data_dir),
                       out_dir=str(bdir), systems=systems)
        if bcfg is not None:
            steps.append(Step("bench", bdir, bcfg, lambda: bench(bcfg, quiet=quiet)))
    problems.raise_if_any()
    derive_edges(steps)
    return steps


def derive_edges(steps: List[Step]) -> None:
    """Each step depends on the earlier steps whose folders it reads: a path its config
    consumes (``consumes()``: what its settings name) is a step's folder or lies in it."""
    for i, step in enumerate(steps):
        wanted = [Path(p).resolve() for p in step.config.consumes()]
        step.deps = [s.name for s in steps[:i]
                     if any(w == s.out_dir or s.out_dir in w.parents for w in wanted)]
