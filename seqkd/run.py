"""``seqkd run CONFIG``: the whole pipeline from one YAML file into one work folder, as the
stages :func:`seqkd.plan.plan` reads from it (their folders: see :mod:`seqkd.plan`).

A stage whose folder holds a finished run with the same settings is skipped; an
unfinished one resumes. When a stage must run again (its settings changed, or
a stage it depends on ran again), the folders of every stage that depends on it
(reads its folder, directly or through another stage) are emptied first, so no
stage can keep outputs built from old inputs; stages that do not depend on it
are kept. The exception is a stage that reads only the part of the other's folder that a
rerun may leave as it was (:mod:`seqkd.lineage`: a teacher reads no monolingual corpus of
the data): it is judged when its turn comes, by the digests of what it read, and kept when
they are the same.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from seqkd import lineage
from seqkd.errors import SeqkdError
from seqkd.config import did_you_mean
from seqkd.config_file import load_config
from seqkd.plan import Step, plan
from seqkd.plan.device import on_device
from seqkd.plan.status import (CHANGED, DONE, OTHER, UPSTREAM, elsewhere_hint,
                                missing_inputs, reads_lineage_only, unmet_needs, verdict)
from seqkd.procs import folder_lock, python_module
from seqkd.stage import Stage, clear_dir

logger = logging.getLogger(__name__)


def _clear(steps: List[Step], why: str) -> None:
    """Empty the folders of ``steps`` (those that exist), saying why in the log."""
    for s in steps:
        if s.out_dir.exists():
            logger.info("%s: clearing %s (%s)", s.name, s.out_dir, why)
            clear_dir(s.out_dir, why)


def dependents(steps: List[Step], name: str, spare: bool = False) -> List[Step]:
    """Every step that depends on ``name``, directly or not, in order; with ``spare``, not
    those that read only the lineage part of ``name``'s folder (and of the others among
    them), judged at their turn instead (:func:`reads_lineage_only`)."""
    found: List[str] = [name]
    by_name = {s.name: s for s in steps}
    out = []
    for s in steps:
        edges = [by_name[d] for d in s.deps if d in found]
        if edges and not (spare and all(reads_lineage_only(s, d) for d in edges)):
            found.append(s.name)
            out.append(s)
    return out


def run(config_path: str | Path, only: Optional[List[str]] = None,
        restart: Optional[List[str]] = None, quiet: bool = False,
        jobs: int = 1, device: Optional[str] = None) -> Dict[str, str]:
    """Run every stage that is not finished with its current settings; return what happened.
    ``restart`` names stages to start over (their folders and their dependants' emptied);
    ``quiet``: no reports echoed on stderr; ``jobs``: stages that do not depend on each
    other run side by side, up to this many at once, each in a ``seqkd run --only`` child;
    ``device``: every stage on this device (:func:`seqkd.plan.device.on_device`)."""
    cfg = load_config(config_path)
    if device is not None:
        cfg = on_device(cfg, device)
    steps = plan(cfg, Path.cwd(), str(config_path), quiet=quiet)
    check_choices(steps, only, restart, jobs, config_path)
    # one whole run per work folder at a time; runs of chosen stages (--only) may share it,
    # each stage folder being locked by the process that writes it; the children of a
    # --jobs run work under their parent's lock
    work = (Path.cwd() / cfg["work_dir"]).resolve()
    if os.environ.get(PARENT_ENV) == str(os.getppid()) and only:
        return _run_steps(steps, only, restart)
    if only:
        check_needs(steps, only, restart, config_path)
    _check_inputs(steps, only, config_path)
    with folder_lock(work, f"seqkd run {config_path}", shared=bool(only)):
        if jobs > 1:
            return _run_side_by_side(steps, only, restart, str(config_path), jobs, device)
        return _run_steps(steps, only, restart)


def check_choices(steps: List[Step], only: Optional[List[str]], restart: Optional[List[str]],
                  jobs: int, config_path) -> None:
    """--only, --restart and --jobs against the plan, as a run and --check both say them."""
    if jobs < 1:
        raise SeqkdError(f"--jobs must be 1 or more, got {jobs}")
    names = [s.name for s in steps]
    unknown = sorted((set(only or []) | set(restart or [])) - set(names))
    if unknown:
        raise SeqkdError(f"no stage named {', '.join(unknown)} in {config_path}"
                         f"{did_you_mean(unknown, names)}; its stages: {', '.join(names)}")


def check_needs(steps: List[Step], only: List[str], restart: Optional[List[str]],
                 config_path) -> None:
    """Before anything is cleared or run: the chosen stages must have what they read, and
    keep it (a stage that ``--restart`` empties, or empties as a dependant, is not kept); a
    stale one is read as it is, with a warning."""
    missing, stale = unmet_needs(steps, only, emptied={
        n for r in restart or [] for n in [r, *(s.name for s in dependents(steps, r))]})
    if missing:
        chosen = set(only) | {need for _, need, _ in missing}
        raise SeqkdError(
            "--only leaves out stages that the chosen ones read and that are not done; "
            "nothing was run or cleared:\n" + "".join(
                f"  {stage} reads {need}: {state}\n" for stage, need, state in missing)
            + f"choose them too (seqkd run {config_path} --only "
            f"{' '.join(s.name for s in steps if s.name in chosen)}), or run the whole config "
            "(without --only)")
    for stage, need, state in stale:
        logger.warning("%s reads %s as it is, though a whole run would run it again (%s); "
                       "choose it too to bring it up to date", stage, need, state)


def _check_inputs(steps: List[Step], only: Optional[List[str]], config_path) -> None:
    """Before anything is cleared or run: every file or folder that the stages to run read
    and that no stage makes is there (a teacher checkpoint misspelt is said now, not after
    hours of prepare)."""
    missing = missing_inputs(steps, only or [s.name for s in steps])
    if missing:
        raise SeqkdError(
            f"{config_path} names files or folders that are not there; nothing was run:\n"
            + "".join(f"  {stage} reads {path}: not found\n" for stage, path in missing)
            + (elsewhere_hint([path for _, path in missing], config_path) or
               "correct the paths, or make them first (another config's outputs), or leave "
               "the stages that read them out with --only"))


#: set in the children of a ``--jobs`` run to their parent's pid
PARENT_ENV = "SEQKD_RUN_PARENT"


def _restart(steps: List[Step], restart: Optional[List[str]]) -> None:
    for step in steps:
        if step.name in (restart or []):
            _clear([step, *dependents(steps, step.name)], f"{step.name} starts over")


def _must_run(step: Step, steps: List[Step], ran: set) -> bool:
    """Whether ``step`` runs (False: finished with its settings and inputs,
    :func:`seqkd.plan.status.verdict`); when it does, its folder and every dependent's are
    cleared as needed first."""
    stage = Stage(step.name, step.out_dir, step.config)
    kept = stage.kept_through()
    state = verdict(stage, any(d in ran and _step(steps, d).out_dir not in kept
                               for d in step.deps))
    if state == DONE:
        logger.info("%s: up to date%s", step.name, "".join(
            f" (what it reads of {k} is as it was)" for k in kept))
        return False
    _clear(dependents(steps, step.name, spare=True),
           f"it depends on {step.name}, which runs again")
    if state in (UPSTREAM, CHANGED):
        previous = lineage.previous_run(step.out_dir, step.config)
        clear_dir(step.out_dir, "its settings or inputs changed")
        lineage.keep(step.out_dir, previous)  # for the process that runs it (a --jobs child)
    elif state == OTHER:
        # nothing finished is lost: an interrupted run whose settings changed starts over
        logger.info("%s: %s holds an unfinished run with other settings; starting it over",
                    step.name, step.out_dir)
        clear_dir(step.out_dir, "an unfinished run with other settings")
    return True


def _run_steps(steps: List[Step], only: Optional[List[str]],
               restart: Optional[List[str]]) -> Dict[str, str]:
    _restart(steps, restart)
    ran: set = set()
    status: Dict[str, str] = {}
    for step in steps:
        if only and step.name not in only:
            status[step.name] = "not selected"
            continue
        if not _must_run(step, steps, ran):
            status[step.name] = "up to date"
            continue
        logger.info("=== %s", step.name)
        step.action()
        ran.add(step.name)
        status[step.name] = "ran"
    return status


class _SideBySide:
    """A ``--jobs`` run: each step starts, as ``seqkd run CONFIG --only NAME -q`` in a child
    that dies with this process, once every step it depends on is done, up to ``jobs`` at
    once; a measurement (a kind that runs ``alone``) waits for the others to end and has
    none beside it. Each child is told how many stages share the machine with it, so that
    an automatic thread count is its share of the cores."""

    def __init__(self, steps: List[Step], only: Optional[List[str]], config_path: str,
                 jobs: int, device: Optional[str]):
        self.steps, self.only, self.jobs = steps, only, jobs
        self.args = [config_path, *(["--device", device] if device else [])]
        self.pending = list(steps)  # their dependencies are not done yet
        self.queued: List[Step] = []  # they must run, and wait for room
        self.running: Dict[str, Any] = {}
        self.done: set = set()
        self.ran: set = set()
        self.status: Dict[str, str] = {}

    @staticmethod
    def alone(step: Step) -> bool:
        from seqkd.stages.registry import kind

        return kind(step.kind).alone

    def settle(self) -> None:
        """Move each step whose dependencies are done: done at once when it is not selected
        or up to date, else queued."""
        for step in list(self.pending):
            if not all(d in self.done for d in step.deps):
                continue
            self.pending.remove(step)
            if self.only and step.name not in self.only:
                self.status[step.name] = "not selected"
            elif not _must_run(step, self.steps, self.ran):
                self.status[step.name] = "up to date"
            else:
                self.queued.append(step)
                continue
            self.done.add(step.name)

    def start(self) -> None:
        """Start queued steps, in order, while there is room."""
        import subprocess

        from seqkd.machine import SHARE_ENV
        from seqkd.procs import child_preexec

        self.settle()  # in plan order: a step done at once frees the steps after it
        launch: List[Step] = []
        for step in self.queued:
            beside = [*self.running, *(s.name for s in launch)]
            if len(beside) >= self.jobs or (beside and self.alone(step)) or any(
                    self.alone(_step(self.steps, n)) for n in beside):
                break
            launch.append(step)
        share = len(self.running) + len(launch)
        for step in launch:
            self.queued.remove(step)
            logger.info("=== %s (side by side with %s)", step.name,
                        ", ".join(self.running) or "nothing")
            env = dict(os.environ, **{PARENT_ENV: str(os.getpid()), SHARE_ENV: str(share)})
            self.running[step.name] = subprocess.Popen(
                [*python_module("seqkd", "run"), self.args[0], "--only", step.name, "-q",
                 *self.args[1:]], env=env, preexec_fn=child_preexec())
        if not self.running and (self.pending or self.queued):
            raise SeqkdError("no stage can start: "  # cannot happen with derived edges
                             + ", ".join(s.name for s in self.pending + self.queued))

    def collect(self) -> None:
        """Note the children that ended; a failed one stops the run."""
        for name, proc in list(self.running.items()):
            if proc.poll() is None:
                continue
            del self.running[name]
            if proc.returncode != 0:
                raise SeqkdError(f"stage {name} failed (exit {proc.returncode}; its error is "
                                 f"above, its log in {_step(self.steps, name).out_dir}/"
                                 "log.txt); the stages beside it were stopped; run again to "
                                 "resume")
            logger.info("%s: finished", name)
            self.done.add(name)
            self.ran.add(name)
            self.status[name] = "ran"

    def stop(self) -> None:
        """A failure or an interrupt: stop the children still running."""
        for proc in self.running.values():
            proc.terminate()
        for proc in self.running.values():
            proc.wait()


def _run_side_by_side(steps: List[Step], only: Optional[List[str]],
                      restart: Optional[List[str]], config_path: str,
                      jobs: int, device: Optional[str] = None) -> Dict[str, str]:
    """Run the steps side by side, up to ``jobs`` at once (:class:`_SideBySide`)."""
    import time

    _restart(steps, restart)
    side = _SideBySide(steps, only, config_path, jobs, device)
    try:
        while side.pending or side.queued or side.running:
            side.start()
            time.sleep(0.2)
            side.collect()
    finally:
        side.stop()
    return {s.name: side.status[s.name] for s in steps}


def _step(steps: List[Step], name: str) -> Step:
    return next(s for s in steps if s.name == name)
