"""The stages of one config, planned section by section (data, distill, students with their
top-k caches and exports, the teacher's bench rows, the bench)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from seqkd.config import Problems
from seqkd.config_file import entries, fields
from seqkd.errors import SeqkdError
from seqkd.plan.step import Step
from seqkd.plan.systems import student_systems
from seqkd.plan.teacher import TeacherPlan
from seqkd.textio import SAFE_NAME


def planned_test_sets(data: Dict) -> Optional[List[str]]:
    """The test sets a data section makes (read from its keys, so that they are known even
    when other data settings have problems), or None when that is only known once prepare
    runs (a value of the wrong type, or a manifest that cannot be read: their own
    problems)."""
    from seqkd import datasets
    from seqkd.prepare import PrepareConfig

    if data.get("train_prefix"):
        tests = data.get("test_prefixes", {})
        return list(tests) if isinstance(tests, dict) else None
    tests = data.get("test_sets")
    if tests is not None:
        return list(tests) if isinstance(tests, list) else None
    name = data.get("dataset", PrepareConfig.__dataclass_fields__["dataset"].default)
    try:
        manifest = datasets.load_manifest(name)
    except (SeqkdError, TypeError):
        return None
    return [s for s in manifest.splits if s not in ("train", "valid")]


class Planner:
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
        #: the test sets prepare makes (None: not known before it runs)
        self.test_sets: Optional[List[str]] = None

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

        data = self.section("data")
        prep = fields(self.problems, PrepareConfig, data, "data", out_dir=str(self.data_dir))
        if prep is not None:
            self.steps.append(Step("prepare", self.data_dir, prep, lambda: prepare(prep)))
        self.test_sets = planned_test_sets(data)
        return prep

    def check_test_set(self, where: str, name: Optional[str]) -> None:
        """A test set a later stage names must be one prepare makes (known at planning for
        a registered dataset and for your own files)."""
        if name and self.test_sets is not None and name not in self.test_sets:
            self.problems.add(f"{where}: no test set {name!r} is prepared; the data section "
                              f"makes {', '.join(self.test_sets) or 'none'}")

    def add_distills(self, prep: Any) -> None:
        """A distill stage per entry; its sources must be prepared by the data section."""
        from seqkd.distill import DistillConfig, distill

        t = self.teacher
        prepared = ["train", *prep.mono_names()] if prep is not None else None
        for entry in entries(self.problems, self.cfg, "distill"):
            name = entry.pop("name", None)
            if name == "references":  # a student's data: references means the parallel data
                self.problems.add("distill: the name 'references' is reserved (a student's "
                                  "data: references trains on the parallel references); give "
                                  "the entry another name")
                continue
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
            missing = [s for s in (dcfg.sources if dcfg else []) if prepared is not None
                       and s not in prepared]
            if missing:
                self.problems.add(f"distill {name}: sources {', '.join(missing)} are not "
                                  f"prepared: name them in data.mono (your files) or "
                                  f"data.mono_datasets (registered), or use "
                                  f"{', '.join(prepared)}")
            elif dcfg is not None:
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
            systems = student_systems(self.problems, name, own_bench, edir / "model")
            if ecfg is not None:
                self.check_test_set(f"{'student ' + name + ' ' if over else ''}export "
                                    "fidelity_test", ecfg.fidelity_test)
            if scfg is None or ecfg is None or systems is None:
                continue
            for system in systems:
                if system.vmap and not ecfg.vmap:
                    self.problems.add(f"student {name}: bench system {system.name} runs with "
                                      "the vocabulary map, and its export makes none: set "
                                      "vmap: true in the student's export")
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
        for test in bench_cfg.get("test_sets") or []:
            self.check_test_set("bench test_sets", test if isinstance(test, str) else None)
        bdir = self.work / "bench"
        bcfg = fields(self.problems, BenchConfig, bench_cfg, "bench", data=str(self.data_dir),
                      out_dir=str(bdir), systems=systems)
        if bcfg is not None:
            quiet = self.quiet
            self.steps.append(Step("bench", bdir, bcfg, lambda: bench(bcfg, quiet=quiet)))
