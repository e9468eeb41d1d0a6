"""How the ``bench`` section becomes one bench stage over the teacher (and, when it asks,
the teacher exported as CTranslate2) and every student's export; a student's own bench
systems (its entry's ``bench`` list) checked against its export's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from seqkd.config import repeat_problems
from seqkd.scores import scorer_problems
from seqkd.errors import SeqkdError
from seqkd.stages.bench.blind import problems as blind_problems
from seqkd.stages.bench.compare import pair_problems
from seqkd.stages.bench.systems import SystemSpec
from seqkd.teachers import teacher_kind


def student_systems(p, student: str, own: Any, model: Path) -> Optional[List[Any]]:
    """The bench systems of one student's export: ``bench: [{beam: 1, compute_type:
    int8, vmap: true}, ...]`` in its entry, or None (problems noted); [] when the entry
    has none (the bench section's student_beams then apply)."""
    if own is None:
        return []
    if not isinstance(own, list) or not all(isinstance(o, dict) for o in own):
        p.problems.add(f"student {student}: bench must be a list of system settings "
                       f"(beam, compute_type, vmap, inter, threads, batch), got {own!r}")
        return None
    out = []
    for opts in own:
        parts = [f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in opts.items()]
        name = "-".join([student]
                        + (["vmap"] if opts.get("vmap") else [])
                        + ([str(opts["compute_type"])] if "compute_type" in opts else [])
                        + [f"b{opts.get('beam', 'x')}"]
                        + ([f"t{opts['threads']}"] if "threads" in opts else [])
                        + ([f"nr{opts['norepeat']}"] if opts.get("norepeat") else []))
        try:
            out.append(SystemSpec.parse(f"{name}=ct2:{model}," + ",".join(parts)))
        except SeqkdError as e:
            p.problems.add(f"student {student}: bench {opts!r}: {str(e).split(': ', 1)[-1]}")
            return None
        if out[-1].beam is None:
            p.problems.add(f"student {student}: bench {opts!r}: give each system a beam")
            return None
    return out


def students_systems(p, beams: List[int], norepeats: List[int]) -> List[Any]:
    """Every student's systems: its own (checked against its export: a vocabulary-map
    system needs an export that makes the map), else one per bench beam and no-repeat
    n-gram size (``NAME-bB``, ``NAME-bB-nrN`` when N is not 0)."""
    systems = []
    for name, ecfg in p.students.items():
        model = Path(ecfg.out_dir) / "model"
        own = student_systems(p, name, p.student_bench.get(name), model)
        if own is None:  # its problems are noted
            continue
        for system in own:
            if system.vmap and not ecfg.vmap:
                p.problems.add(f"student {name}: bench system {system.name} runs with the "
                               "vocabulary map, and its export makes none: set vmap: true in "
                               "the student's export")
        systems += own or [SystemSpec(f"{name}-b{b}" + (f"-nr{n}" if n else ""), "ct2",
                                      str(model), beam=b, no_repeat_ngram=n)
                           for b in beams for n in norepeats]
    return systems


def teacher_systems(p, beam: int, ct2_beams: List[int], with_teacher: bool) -> List[Any]:
    """The teacher's bench rows as it taught (``with_teacher``; a text-space teacher at
    ``ct2_beams``, else the bench's beam), and an export-teacher stage with its rows when
    ``ct2_beams`` asks to measure an exportable teacher as CTranslate2 too."""
    t = p.teacher
    kind = teacher_kind(t.teachers, t.command)
    systems = []
    if with_teacher and t.teachers:
        beams = (ct2_beams or [beam]) if kind.text_space else []
        systems += [SystemSpec(**row) for row in kind.bench_rows(t.teachers, beams,
                                                                 t.ct2_tokenizer)]
    if ct2_beams and t.teachers and kind.exportable:
        edir = p.work / "export-teacher"
        ecfg = p.step("export", "export-teacher", edir, p.section("export"), "export",
                      checkpoint=t.teachers[0], data=str(p.data_dir))
        if ecfg is not None:
            systems += [SystemSpec(f"teacher-{ecfg.quantization}-b{b}", "ct2",
                                   str(edir / "model"), beam=b) for b in ct2_beams]
    return systems


def further_systems(p, given: Any) -> List[Any]:
    """Systems the config names besides the teacher and the students, as `seqkd bench
    --system` takes them (``NAME=KIND:PATH,...``: another teacher, an ensemble, a system
    from another run); their models are looked for when the bench starts, not before."""
    if not isinstance(given, list) or not all(isinstance(g, str) for g in given):
        p.problems.add("bench: systems must be a list of NAME=KIND:PATH[,option=value...] "
                       f"strings, got {given!r}")
        return []
    out = []
    for text in given:
        try:
            out.append(SystemSpec.parse(text))
        except SeqkdError as e:
            p.problems.add(f"bench: systems: {e}")
    return out


def _ints_from(value: Any, low: int, high: Optional[int] = None) -> bool:
    """Whether ``value`` is a list of whole numbers from ``low`` (to ``high``)."""
    return isinstance(value, list) and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= low
        and (high is None or n <= high) for n in value)


def plan(p) -> None:
    """One bench over the teacher (when ``bench.teacher`` is not false) and every student."""
    section = p.section("bench")
    wanted = bool(section)
    beams = section.pop("student_beams", [section.get("beam", 5)])
    #: the teacher exported like the students (CTranslate2), benched at these beams
    ct2_beams = section.pop("teacher_ct2_beams", [])
    #: each student also decoded with these no-repeat n-gram sizes (0: off)
    norepeats = section.pop("student_no_repeat_ngram", [0])
    with_teacher = section.pop("teacher", True)
    if ct2_beams and not p.cfg.get("teacher"):
        p.problems.add("bench: teacher_ct2_beams measures the teacher exported, and the config "
                       "has no teacher section: set one, or leave teacher_ct2_beams out")
    for key, value in (("student_beams", beams), ("teacher_ct2_beams", ct2_beams)):
        if not _ints_from(value, 1):
            p.problems.add(f"bench: {key} must be a list of beam sizes, got {value!r}")
            beams, ct2_beams = [], []
    if not norepeats or not _ints_from(norepeats, 0, 64):
        p.problems.add("bench: student_no_repeat_ngram must be a list of n-gram sizes from 0 "
                       f"(off) to 64, got {norepeats!r}")
        norepeats = [0]
    for key, value in (("student_beams", beams), ("teacher_ct2_beams", ct2_beams),
                       ("student_no_repeat_ngram", norepeats)):
        for problem in repeat_problems(f"bench: {key}", value):
            p.problems.add(problem)
    # (once each from here, so that a repeat is not said again as two systems of one name)
    beams, ct2_beams, norepeats = (list(dict.fromkeys(v)) for v in (beams, ct2_beams, norepeats))
    students = students_systems(p, beams, norepeats)  # checked with or without a bench section
    if not wanted:
        return
    if p.prep is not None:  # BLEU's tokenizer for the target language is there
        p.problems.items += scorer_problems("bleu", p.prep.tgt, "bench")
    systems = (teacher_systems(p, section.get("beam", 5), ct2_beams, with_teacher)
               + further_systems(p, section.pop("systems", [])) + students)
    names = [s.name for s in systems]
    for name in sorted({n for n in names if names.count(n) > 1}):
        p.problems.add(f"bench: two systems are named {name!r} (a system of bench.systems "
                       "and a student's, or two of bench.systems): rename one")
    for test in section.get("test_sets") or []:  # valid too: a development set to choose on
        p.check_test_set("bench test_sets", test if isinstance(test, str) else None,
                         also=("valid",))
    blind = section.get("blind") or []
    if isinstance(blind, list):  # its type is the setting's to check
        # (a file not there yet is for the run to say: it may come before the bench runs)
        for problem in blind_problems(blind, files_there=False):
            p.problems.add(f"bench: {problem}")
    declared = section.get("compare") or []
    if isinstance(declared, list):  # its type is the setting's to check
        for problem in pair_problems(declared, [s.name for s in systems]):
            p.problems.add(f"bench: {problem}")
    bdir = p.work / "bench"
    p.step("bench", "bench", bdir, section, "bench", data=str(p.data_dir),
           systems=systems)
