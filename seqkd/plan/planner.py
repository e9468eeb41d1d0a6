"""The planning state of one config, shared by the stage kinds as each plans its sections
(:mod:`seqkd.stages.registry`, in order), and the helpers they plan with."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from seqkd.config import Problems
from seqkd.config_file import entries, stage_config
from seqkd.stages.base import Step, TeacherPlan
from seqkd.stages.registry import kind
from seqkd.textio import SAFE_NAME


class Planner:
    """The steps of one config, built section by section; every problem is noted in
    ``problems`` (raised at once by :func:`seqkd.plan.plan`). What a kind plans that later
    kinds read is kept here: the data section's config and test sets, the teacher, the
    distilled folders, the students with their exports."""

    def __init__(self, cfg: Dict, work: Path, problems: Problems, quiet: bool):
        self.cfg, self.work, self.problems, self.quiet = cfg, work, problems, quiet
        self.steps: List[Step] = []
        self.data_dir = work / "data"
        #: the prepare stage's config (None: it has problems)
        self.prep: Any = None
        #: the test sets prepare makes (None: not known before it runs)
        self.test_sets: Optional[List[str]] = None
        self.teacher = TeacherPlan()
        #: distill entry name -> its folder
        self.distilled: Dict[str, Path] = {}
        #: student name -> its export's config, in order; and its entry's own bench list
        self.students: Dict[str, Any] = {}
        self.student_bench: Dict[str, Any] = {}

    # ------------------------------------------------------------ reading the config

    def section(self, name: str) -> Dict:
        """A mapping section (a copy), {} when absent (a problem when not a mapping)."""
        value = self.cfg.get(name) or {}
        if not isinstance(value, dict):
            self.problems.add(f"{name}: must be a mapping of settings, got {value!r}")
            return {}
        return dict(value)

    def entries(self, name: str) -> List[Dict]:
        """The entries of a list section (copies), [] when absent (problems noted)."""
        return entries(self.problems, self.cfg, name)

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

    # ------------------------------------------------------------ making steps

    def settings(self, kind_name: str, values: Any, where: str, **fixed) -> Any:
        """A stage kind's typed settings from config ``values`` and the settings seqkd run
        sets itself (``fixed``), or None (problems noted)."""
        return stage_config(self.problems, kind(kind_name).settings(), values, where, **fixed)

    def add(self, kind_name: str, name: str, folder: Path, config: Any) -> None:
        """A step of ``kind_name`` with these settings, writing into ``folder``."""
        k, quiet = kind(kind_name), self.quiet
        self.steps.append(Step(name, folder, config, lambda: k.run(config, quiet),
                               kind=kind_name))

    def step(self, kind_name: str, name: str, folder: Path, values: Any, where: str,
             **fixed) -> Any:
        """:meth:`settings` (its out_dir: ``folder``) and :meth:`add` in one: the step's
        config, or None."""
        config = self.settings(kind_name, values, where, out_dir=str(folder), **fixed)
        if config is not None:
            self.add(kind_name, name, folder, config)
        return config

    def planned(self, name: str) -> Optional[Step]:
        return next((s for s in self.steps if s.name == name), None)

    # ------------------------------------------------------------ rules across sections

    def data_of(self, source: Any) -> Optional[Path]:
        """The folder a student (or its vocabulary map) reads for ``source``: 'references'
        (the prepared data) or a distill name; None for anything else."""
        if source == "references":
            return self.data_dir
        return self.distilled.get(source) if isinstance(source, str) else None

    def check_test_set(self, where: str, name: Optional[str], also: Sequence[str] = ()) -> None:
        """A test set a later stage names must be one prepare makes (known at planning for
        a registered dataset and for your own files), or one of ``also`` (the stage's other
        sets, such as valid)."""
        if name and self.test_sets is not None and name not in [*self.test_sets, *also]:
            made = ", ".join(self.test_sets) or "none"
            self.problems.add(f"{where}: no test set {name!r} is prepared; the data section "
                              f"makes {made}" + (f" (and {', '.join(also)})" if also else ""))
