"""Training as ``seqkd run`` and the command line see it: a teacher trained here (the
``teacher`` section) and the students (the ``students`` section), both fairseq trainings of
this room's runner; ``seqkd train``."""

from __future__ import annotations

import json
import shlex

from seqkd.options import add_arguments, add_common, add_teachers, config_from
from seqkd.stages.base import StageKind, lazy, runner
from seqkd.stages.train.plan import plan_students, plan_teacher


_settings = lazy("seqkd.stages.train.config", "TrainConfig")
_run = runner("seqkd.stages.train.runner", "train")
_where = lazy("seqkd.stages.train.progress", "where")


def build_train(sub) -> None:
    from seqkd.stages.train.config import PRESETS

    p = sub.add_parser("train", help="train a teacher or a student with fairseq",
                       description="Train a fairseq transformer teacher, or a student (on "
                                   "references or distilled data, optionally with word-level "
                                   "KD). Resumes from the last checkpoint after an interruption.")
    p.add_argument("--role", choices=sorted(PRESETS), required=True,
                   help="what to train (sets the preset table)")
    p.add_argument("--data", required=True,
                   help="output folder of `seqkd prepare` or `seqkd distill`")
    p.add_argument("--out", required=True, help="output folder for checkpoints and logs")
    add_teachers(p, flag="--kd-teacher", required=False)
    p.add_argument("--fairseq-args", default="",
                   help="extra arguments passed to fairseq-train as they are (quoted string)")
    add_arguments(p, _settings())
    add_common(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from seqkd.stages.train.runner import train

    cfg = config_from(_settings(), args, out_dir=args.out, kd_teachers=args.teachers or [],
                      extra_args=shlex.split(args.fairseq_args))
    print(json.dumps(train(cfg, force=args.force), indent=2))
    return 0


#: what a training folder holds
TRAINED = ("checkpoints/checkpoint_{best,last}.pt (and checkpoint_avg.pt with average_last), "
           "dict.txt, spm.model, train_command.txt, fairseq-train.log")
TEACHER = StageKind("teacher", _settings, _run, sections=("teacher",), plan=plan_teacher,
                    commands=(build_train,), produces=TRAINED, progress=_where)
STUDENT = StageKind("student", _settings, _run, sections=("students",), plan=plan_students,
                    produces=TRAINED, progress=_where)
