"""Distillation as ``seqkd run`` and the command line see it: a stage per entry of the
``distill`` section (``distill-NAME/``), and ``seqkd distill``."""

from __future__ import annotations

import json
import os
from typing import Any, Dict

from seqkd.errors import SeqkdError
from seqkd.scores import scorer_problems
from seqkd.options import add_arguments, add_common, add_teachers, config_from
from seqkd.stages.base import StageKind, lazy, runner


_settings = lazy("seqkd.stages.distill.config", "DistillConfig")
_run = runner("seqkd.stages.distill.runner", "distill")
_where = lazy("seqkd.stages.distill.merge", "where")
_well_named = lazy("seqkd.stages.distill.config", "well_named")


def plan(p) -> None:
    """A distill stage per entry (``p.distilled``: name -> its folder); its sources must be
    prepared by the data section."""
    t = p.teacher
    prepared = ["train", *p.prep.mono_names()] if p.prep is not None else None
    for entry in p.entries("distill"):
        name = entry.pop("name", None)
        if name == "references":  # a student's data: references means the parallel data
            p.problems.add("distill: the name 'references' is reserved (a student's data: "
                           "references trains on the parallel references); give the entry "
                           "another name")
            continue
        if not p.entry_name("distill", name, set(p.distilled)):
            continue
        ddir = p.work / f"distill-{name}"
        fixed: Dict[str, Any] = {"teachers": t.teachers}
        teacherless = not (t.teachers or t.command)
        if teacherless and not p.cfg.get("teacher"):  # (a bad section says its own problem)
            p.problems.add(f"distill {name}: distillation needs a teacher: add a teacher "
                           "section (teacher.checkpoints, teacher.train, teacher.ct2 or "
                           "teacher.command), or leave the distill section out")
        if teacherless:  # the entry's other problems still said, in the config's words
            fixed["teachers"] = ["(the teacher section)"]
        if t.command:
            fixed.update(decoder="command", teacher_command=t.command)
        # the teacher section's tokenizer settings, under the distill config's names
        fixed.update({("teacher_" + k if k in ("spm", "target_spm") else k): v
                      for k, v in t.ct2_tokenizer.items()})
        # the sources as written, so that unprepared ones are said beside the entry's other
        # problems too (when it has some, there are no settings to read them from)
        written = entry.get("sources")
        dcfg = p.settings("distill", entry, f"distill {name}", data=str(p.data_dir),
                          out_dir=str(ddir), **fixed)
        missing = [s for s in _well_named()(dcfg.sources if dcfg is not None else written)
                   if prepared is not None and s not in prepared]
        if missing:
            p.problems.add(f"distill {name}: sources {', '.join(missing)} are not prepared: "
                           f"name them in data.mono (your files) or data.mono_datasets "
                           f"(registered), or use {', '.join(prepared)}")
        elif dcfg is not None and not teacherless:
            p.add("distill", f"distill-{name}", ddir, dcfg)
        if dcfg is not None and dcfg.selection_metric() and p.prep is not None:
            p.problems.items += scorer_problems(dcfg.selection_metric(), p.prep.tgt,
                                                f"distill {name}", dcfg.other_metric())
        p.distilled[name] = ddir


def build_distill(sub) -> None:
    p = sub.add_parser("distill", help="translate the training source and any monolingual "
                                       "source text with the teacher",
                       description="Sequence-level KD (Kim & Rush 2016): beam-search the whole "
                                   "training source with the teacher; seq-KD keeps the best "
                                   "hypothesis, seq-inter the n-best entry closest to the "
                                   "reference. Resumable, shardable; output line i always "
                                   "translates source line i.")
    p.add_argument("--data", required=True, help="output folder of `seqkd prepare`")
    p.add_argument("--out", required=True, help="output folder (e.g. WORK/distill)")
    add_teachers(p, required=False)
    p.add_argument("--num-shards", type=int, default=None,
                   help="split the work over N workers (default: the job array's size, from "
                        "SLURM_ARRAY_TASK_COUNT or WORLD_SIZE when set, else 1)")
    p.add_argument("--shard-id", type=int, default=None,
                   help="this worker's shard, 0-based (default: SLURM_ARRAY_TASK_ID minus "
                        "SLURM_ARRAY_TASK_MIN, or RANK, when set, else 0)")
    p.add_argument("--merge-only", action="store_true",
                   help="decode nothing; merge finished shards (fails if any is missing)")
    add_arguments(p, _settings())
    add_common(p)
    p.set_defaults(func=cmd_distill)


def cmd_distill(args) -> int:
    from seqkd.stages.distill.merge import scheduler_shard
    from seqkd.stages.distill.runner import distill

    if args.num_shards is None and args.shard_id is None:
        args.num_shards, args.shard_id = scheduler_shard(os.environ) or (1, 0)
    elif args.num_shards is None or args.shard_id is None:
        raise SeqkdError("give --num-shards and --shard-id together (or neither, to take them "
                         "from the job array's environment)")
    if args.teacher_command and args.decoder == "ctranslate2":  # the default: a program's
        args.decoder = "command"                                 # output is the teacher's
    cfg = config_from(_settings(), args, out_dir=args.out, teachers=args.teachers or [])
    print(json.dumps(distill(cfg, force=args.force, merge_only=args.merge_only), indent=2))
    return 0


KIND = StageKind("distill", _settings, _run, sections=("distill",), plan=plan,
                 commands=(build_distill,), progress=_where,
                 produces="hyp.TGT (line i translates source line i), nbest.jsonl, filter.tsv, "
                 "origin.tsv, text/, pieces/, bin/ (the student's data), report.json")
