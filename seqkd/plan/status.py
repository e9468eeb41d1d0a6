"""Where each stage of a config stands, and what ``seqkd run`` would do with it: the one
judgement :mod:`seqkd.run` acts on (:func:`verdict`) and the read-only look
``seqkd run CONFIG --status`` prints (:func:`status`): no folder written, no lock taken.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

from seqkd.lineage import lineage_inputs
from seqkd.procs import lock_holders
from seqkd.stage import Stage
from seqkd.stages.base import Step

#: finished with these settings and inputs: skipped
DONE = "done"
#: never started: runs
NEW = "not started"
#: started with these settings and not finished: resumes
RESUMES = "unfinished, resumes"
#: started with other settings and not finished: starts over
OTHER = "unfinished with other settings, starts over"
#: finished with other settings: runs again
CHANGED = "settings changed, runs again"
#: a stage it reads runs (again): so does it, from the start
UPSTREAM = "runs again after"
#: the same for a stage never started (in :func:`status` only)
WAITS = "waits for"
#: finished, and what it reads of a stage that runs (again) may come out as it was
#: (:mod:`seqkd.lineage`): kept if it does, judged when its turn comes (:func:`status` only)
MAYBE = "kept unless what it reads changes in"

#: (a stage, a stage it reads, where that one stands in words): :func:`unmet_needs`
Need = Tuple[str, str, str]


def verdict(stage: Stage, upstream_runs: bool) -> str:
    """What ``seqkd run`` does with ``stage`` (one of the constants above), given whether a
    stage it depends on runs first."""
    if upstream_runs:
        return UPSTREAM
    done = stage.finished()
    if done is not None:
        return DONE if stage.is_current() else CHANGED
    started = stage.started()
    if started is None:
        return NEW
    return RESUMES if stage.same_settings(started) else OTHER


def reads_lineage_only(step: Step, upstream: Step) -> bool:
    """Whether ``step`` reads of ``upstream``'s folder only what a rerun of it may leave as
    it was (:mod:`seqkd.lineage`)."""
    return (getattr(upstream.config, "lineage_parts", None) is not None
            and any(Path(p).parent.resolve() == upstream.out_dir
                    for p in lineage_inputs(step.config)))


def missing_inputs(steps: List[Step], names: Iterable[str]) -> List[Tuple[str, Path]]:
    """(stage, path) for each path a stage of ``names`` reads that no stage of the config
    makes and that is not there: the user's own files, folders and other configs' outputs,
    looked for before anything runs rather than when the stage is reached."""
    chosen = set(names)
    return [(s.name, w) for s in steps if s.name in chosen
            for w in dict.fromkeys(Path(p).resolve() for p in s.config.consumes())
            if not any(t.holds(w) for t in steps) and not w.exists()]


def elsewhere_hint(missing: Iterable[Path], config_path) -> str:
    """A config's relative paths are read from the folder seqkd runs in. When a path that is
    not there would be there read from the config's folder or a folder above it (the config
    run from another folder than its own project's), the sentence that says so; else ''."""
    cwd = Path.cwd()
    here = Path(config_path).resolve().parent
    for path in missing:
        rel = os.path.relpath(path, cwd)
        for base in (here, *here.parents):
            if base != cwd and (base / rel).exists():
                return (f"relative paths in a config are read from the folder seqkd runs in "
                        f"({cwd}); from {base}, {rel} is there: run seqkd in that folder")
    return ""


def status(steps: List[Step]) -> List[Dict]:
    """One row per step, in order: its name, kind, folder and state (:func:`verdict`), the
    pids that hold its folder now (``running``), whether a run of it finished there, current
    or not (``finished``), and as the state calls for it when it
    finished, the settings that changed, the stages it runs after, or how far it got
    (its kind's ``progress``); and the inputs it reads that are not there
    (``inputs_missing``), for which a run of it is refused."""
    from seqkd.stages.registry import kind

    runs: set = set()
    maybe: set = set()  # MAYBE: may run, as what it reads may change
    by_name = {s.name: s for s in steps}
    rows = []
    absent: Dict[str, List[str]] = {}
    for name, path in missing_inputs(steps, [s.name for s in steps]):
        absent.setdefault(name, []).append(str(path))
    for step in steps:
        stage = Stage(step.name, step.out_dir, step.config)
        after = [d for d in step.deps if d in runs]
        state = verdict(stage, bool(after))
        if (state == UPSTREAM and stage.holds_current_work() is not None
                and all(reads_lineage_only(step, by_name[d]) for d in after)) or (
                state in (DONE, RESUMES) and any(d in maybe for d in step.deps)):
            state, after = MAYBE, [d for d in step.deps if d in runs or d in maybe]
        elif state == NEW and any(d in maybe for d in step.deps):
            state, after = WAITS, [d for d in step.deps if d in runs or d in maybe]
        if state == MAYBE:
            maybe.add(step.name)
        elif state != DONE:
            runs.add(step.name)
        done = stage.finished()
        if state == UPSTREAM and done is None and stage.started() is None:
            state = WAITS
        row: Dict = {"stage": step.name, "kind": step.kind, "folder": str(step.out_dir),
                     "state": state, "finished": done is not None}
        holders = lock_holders(step.out_dir) if step.out_dir.is_dir() else []
        if holders:
            row["running"] = holders
        if state == DONE:
            row["finished_at"] = done.get("finished_at")
            row["seconds"] = done.get("seconds")
        elif state == CHANGED:
            row["changed"] = stage.changed(done.get("settings") or {})
        elif state in (UPSTREAM, WAITS, MAYBE):
            row["after"] = after
        if state != DONE and step.name in absent:
            row["inputs_missing"] = absent[step.name]
        if (state in (RESUMES, OTHER) or holders) and kind(step.kind).progress is not None:
            row["progress"] = kind(step.kind).progress()(step.out_dir, step.config)
        rows.append(row)
    return rows


def unmet_needs(steps: List[Step], only: List[str], emptied: Iterable[str] = ()
                ) -> Tuple[List[Need], List[Need]]:
    """For a run of chosen stages (``--only``), the stages they read that are not chosen,
    as (the reading stage, the stage it reads, where that stands in words):

    - first, those that are not there to read: never started, unfinished, running now, or
      among ``emptied`` (what ``--restart`` empties first); and what those read in turn
      that is not there either;
    - then those that are finished but stale (their settings or inputs changed since, or
      a stage before them did): there to read, as they are (a folder carried to a machine
      without the teacher it was distilled with looks so).
    """
    chosen, by_name = set(only), {s.name: s for s in steps}
    upstream: set = set()
    todo = [d for s in steps if s.name in chosen for d in s.deps]
    while todo:
        name = todo.pop()
        if name not in chosen and name not in upstream:
            upstream.add(name)
            todo.extend(by_name[name].deps)
    said = {r["stage"]: (describe(r), r["finished"] and not r.get("running"))
            for r in status([s for s in steps if s.name in upstream]) if r["state"] != DONE}
    said.update({name: ("emptied by --restart", False) for name in emptied if name in upstream})
    missing = {name for name, (_, finished) in said.items() if not finished}
    return ([(s.name, d, said[d][0]) for s in steps if s.name in chosen | missing
             for d in s.deps if d in missing],
            [(s.name, d, said[d][0]) for s in steps if s.name in chosen
             for d in s.deps if d in said and d not in missing])


def _duration(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return ""
    return time.strftime("%H:%M:%S", time.gmtime(seconds)) if seconds < 86400 else \
        f"{seconds / 86400:.1f} days"


def describe(row: Dict) -> str:
    """A row of :func:`status` in words."""
    said = row["state"]
    if row["state"] == DONE and row.get("finished_at"):
        said += f" at {row['finished_at']} (took {_duration(row.get('seconds'))})"
    elif row["state"] == CHANGED:
        said += f" (changed: {', '.join(row['changed']) or 'the seqkd version'})"
    elif row["state"] in (UPSTREAM, WAITS, MAYBE):
        said += " " + ", ".join(row["after"])
    if row.get("running"):
        said += f"; running now (pid {', '.join(map(str, row['running']))})"
    if row.get("progress"):
        said += f"; {row['progress']}"
    if row.get("inputs_missing"):
        said += (f"; reads {', '.join(row['inputs_missing'])}, not there: a run of it is "
                 "refused until it is")
    return said


def table(rows: List[Dict]) -> str:
    """:func:`status` as lines of text: each stage's name, then its state in words."""
    width = max((len(r["stage"]) for r in rows), default=0)
    return "".join(f"{r['stage']:<{width}}  {describe(r)}\n" for r in rows)
