"""How the ``teacher`` and ``students`` sections become stages: the teacher the other stages
read (checkpoints, an ensemble with a teacher trained here, a CTranslate2 folder or a
command) with its training stage when the config trains one; per student a training stage,
its top-k cache when it learns from one, and its export."""

from __future__ import annotations

from typing import Any, Dict, Optional

from seqkd.ct2_folder import TOKENIZER_OPTIONS
from seqkd.scores import scorer_problems
from seqkd.stages.base import TeacherPlan
from seqkd.teachers import teacher_kind


def plan_teacher(p) -> None:
    """The teacher section read into ``p.teacher`` (a teacher trained here planned)."""
    teacher, problems = p.section("teacher"), p.problems
    if not teacher:  # none: a config of baselines (the stages that need one say so)
        return
    teachers = []
    command, ct2 = teacher.get("command"), teacher.get("ct2")
    tokenizer: Dict[str, Any] = {}
    if ct2 is not None:
        if not isinstance(ct2, str) or not teacher_kind([ct2]).text_space:
            problems.add(f"teacher.ct2: must be a CTranslate2 model folder (model.bin and its "
                         f"SentencePiece model inside), got {ct2!r}")
            ct2 = None
        else:
            teachers = [ct2]
        tokenizer = {k: teacher[k] for k in TOKENIZER_OPTIONS if k in teacher}
        if set(teacher) - {"ct2", *TOKENIZER_OPTIONS}:
            problems.add("teacher: give command, checkpoints, ct2 (with "
                         f"{', '.join(TOKENIZER_OPTIONS)}) or train, one of them")
    elif command is not None:
        if not isinstance(command, str) or not command.strip():
            problems.add(f"teacher.command: must be a command line, got {command!r}")
            command = None
        if set(teacher) - {"command"}:
            problems.add("teacher: give command, checkpoints or train, one of them")
    elif teacher.get("checkpoints") or "train" in teacher:
        teachers = _checkpoint_teachers(p, teacher)
    else:  # a misspelt key (``checkpoint``) is named, or the fix is not seen
        unknown = sorted(set(teacher) - {"checkpoints", "train", "ct2", "command",
                                         *TOKENIZER_OPTIONS})
        problems.add("teacher: " + (f"unknown setting(s) {', '.join(unknown)}; " if unknown
                                    else "") +
                     "set teacher.checkpoints (existing teacher), teacher.train, "
                     "teacher.ct2 (a CTranslate2 model folder with its own tokenizer) or "
                     "teacher.command (a program that translates stdin to stdout)")
    p.teacher = TeacherPlan(teachers, command, ct2, tokenizer)


def _checkpoint_teachers(p, teacher: Dict) -> list:
    """fairseq teachers: the given checkpoints and one trained here (an ensemble of both)."""
    problems, teachers = p.problems, []
    if "checkpoints" in teacher:
        if not isinstance(teacher["checkpoints"], list) or not all(
                isinstance(c, str) for c in teacher["checkpoints"]):
            problems.add("teacher.checkpoints: must be a list of checkpoint paths")
        else:
            teachers = list(teacher["checkpoints"])
        if p.prep is not None and not (p.prep.spm_model and p.prep.dictionary):
            problems.add("with teacher.checkpoints, set data.spm_model and data.dictionary "
                         "to the teacher's SentencePiece model and dictionary")
    if "train" in teacher:
        # trained here; beside checkpoints, a further member of an ensemble with them
        tdir = p.work / "teacher"
        p.step("teacher", "teacher", tdir, teacher["train"], "teacher.train",
               data=str(p.data_dir), role="teacher")
        # the folder: its averaged checkpoint when trained with average_last, else its best
        teachers.append(str(tdir))
    if set(teacher) - {"checkpoints", "train"}:
        problems.add("teacher: give command, checkpoints, ct2 or train (checkpoints and "
                     "train together: an ensemble of the given checkpoints and the one "
                     "trained here)")
    return teachers


def word_kd(p, student: str, given: Any, source: str) -> Optional[Dict]:
    """The training settings of a student's ``word_kd`` ({} without one), or None
    (problems noted); a top-k cache stage planned when it asks for one."""
    t = p.teacher
    if given is None:
        return {}
    if not (t.teachers or t.command):  # no teacher section (its own problems are said)
        if not p.cfg.get("teacher"):
            p.problems.add(f"student {student}: word_kd needs a teacher: set teacher."
                           "checkpoints or teacher.train, or leave word_kd out")
        return None
    kind = teacher_kind(t.teachers, t.command)
    if not kind.distributions:
        p.problems.add(
            f"student {student}: word-level KD needs the teacher's token distributions over "
            f"the student's vocabulary; {kind.described} gives translations only (drop "
            "word_kd, or give the teacher as fairseq checkpoints with the data's dictionary)")
        return None
    if not isinstance(given, dict) or set(given) - {"alpha", "temperature", "topk"}:
        p.problems.add(f"student {student}: word_kd takes alpha, temperature and topk "
                       f"(a top-k cache of K tokens instead of the live teacher), "
                       f"got {given!r}")
        return None
    out: Dict[str, Any] = {"kd_alpha": given.get("alpha", 0.5),
                           "kd_temperature": given.get("temperature", 1.0)}
    if "topk" not in given:
        return {**out, "kd_teachers": t.teachers}
    k, temperature = given["topk"], given.get("temperature", 1.0)
    name = f"topk-{source}-k{k}" + ("" if temperature == 1.0 else f"-t{temperature:g}")
    if p.planned(name) is None:  # one cache per data, k and temperature, shared
        folder = p.work / name
        if p.step("topk-cache", name, folder, {"k": k, "temperature": temperature},
                  f"student {student} word_kd", data=str(p.data_of(source)),
                  teachers=t.teachers) is None:
            return None
    return {**out, "kd_cache": str(p.work / name)}


def student_export(p, student: str, own: Any) -> Dict:
    """A student's own export settings (over the export section); ``vmap_data`` names a
    data source as a student's ``data`` does."""
    if own is None:
        return {}
    if not isinstance(own, dict):
        p.problems.add(f"student {student}: export must be a mapping of export settings, "
                       f"got {own!r}")
        return {}
    own = dict(own)
    if "vmap_data" not in own:
        return own
    folder = p.data_of(own["vmap_data"])
    if folder is None:
        p.problems.add(f"student {student}: export vmap_data must be 'references' or a "
                       f"distill name ({', '.join(p.distilled) or 'none defined'}), got "
                       f"{own['vmap_data']!r}")
        return {}
    own["vmap_data"] = str(folder)
    return own


def continued(p, student: str, entry: Dict) -> bool:
    """A student entry's ``continue_from`` (a student listed before it, or a `seqkd train`
    folder's path) made a folder; False when it names neither (a problem noted)."""
    given = entry.get("continue_from")
    if given is None:
        return True
    if given in p.students:
        entry["continue_from"] = str(p.work / f"student-{given}")
        return True
    if isinstance(given, str) and "/" in given:
        return True
    p.problems.add(f"student {student}: continue_from must name a student listed before it "
                   f"({', '.join(p.students) or 'none'}) or a `seqkd train` folder's path, "
                   f"got {given!r}")
    return False


def plan_students(p) -> None:
    """A training and an export stage per student entry (``p.students``: name -> the
    export's config, and ``p.student_bench``: name -> the entry's own bench list)."""
    export_section = p.section("export")
    names: set = set()
    for entry in p.entries("students"):
        name, source = entry.pop("name", None), entry.pop("data", "references")
        given_kd, own_export = entry.pop("word_kd", None), entry.pop("export", None)
        own_bench = entry.pop("bench", None)
        if not p.entry_name("students", name, names):
            continue
        sdata = p.data_of(source)
        if sdata is None:
            p.problems.add(f"student {name}: data must be 'references' or a distill name "
                           f"({', '.join(p.distilled) or 'none defined'}), got {source!r}")
        kd = word_kd(p, name, given_kd, source) if sdata is not None else None
        sdir, edir = p.work / f"student-{name}", p.work / f"export-{name}"
        if kd is None or not continued(p, name, entry):
            # the entry's own settings are checked still, so that all is said at once
            p.settings("student", {k: v for k, v in entry.items() if k != "continue_from"},
                       f"student {name}", data=str(sdata or ""), out_dir=str(sdir),
                       role="student")
            continue
        scfg = p.settings("student", {**entry, **kd}, f"student {name}", data=str(sdata),
                          out_dir=str(sdir), role="student")
        over = student_export(p, name, own_export)
        ecfg = p.settings("export", {**export_section, **over},
                          f"student {name} export" if over else "export",
                          checkpoint=str(sdir), data=str(p.data_dir), out_dir=str(edir))
        if ecfg is not None:
            p.check_test_set(f"{'student ' + name + ' ' if over else ''}export "
                             "fidelity_test", ecfg.fidelity_test)
            if ecfg.fidelity_test and p.prep is not None:
                p.problems.items += scorer_problems("bleu", p.prep.tgt, "export fidelity_test",
                                                    "leave fidelity_test out")
        if scfg is None or ecfg is None:
            continue
        p.add("student", f"student-{name}", sdir, scfg)
        p.add("export", f"export-{name}", edir, ecfg)
        p.students[name] = ecfg
        p.student_bench[name] = own_bench
