"""The stage subcommands: prepare, train, distill, topk-cache, export; each a parser builder
and a thin command over the stage function."""

from __future__ import annotations

import json
import os
import shlex

from seqkd.cli.common import add_common, add_teachers, config_from, parse_key_value
from seqkd.config import add_arguments
from seqkd.errors import SeqkdError


def build_prepare(sub) -> None:
    from seqkd.prepare import PrepareConfig

    p = sub.add_parser("prepare", help="fetch, clean, SentencePiece and binarize a corpus",
                       description="Fetch a registered dataset (or read local files), clean it, "
                                   "train a joint SentencePiece model and binarize for fairseq.")
    p.add_argument("--out", required=True, help="output folder (e.g. WORK/data)")
    p.add_argument("--test", action="append", metavar="NAME=PREFIX",
                   help="your own test set (repeatable); NAME: letters, digits, _ - . only, "
                        "not train or valid")
    p.add_argument("--mono", action="append", metavar="NAME=PREFIX", dest="mono_args",
                   help="your own monolingual source text for distillation (repeatable): the "
                        "file PREFIX.SRC, one sentence per line; NAME names it in distill's "
                        "--sources")
    p.add_argument("--mono-dataset", action="append", metavar="NAME=DATASET",
                   dest="mono_dataset_args",
                   help="a registered monolingual corpus (repeatable), e.g. "
                        "captions=multi30k-captions")
    add_arguments(p, PrepareConfig)
    add_common(p)
    p.set_defaults(func=cmd_prepare)


def cmd_prepare(args) -> int:
    from seqkd.prepare import PrepareConfig, prepare

    cfg = config_from(PrepareConfig, args, out_dir=args.out,
                      test_prefixes=parse_key_value(args.test, "--test"),
                      mono=parse_key_value(args.mono_args, "--mono"),
                      mono_datasets=parse_key_value(args.mono_dataset_args, "--mono-dataset"))
    report = prepare(cfg, force=args.force)
    print(json.dumps(report, indent=2))
    return 0


def build_train(sub) -> None:
    from seqkd.train_config import PRESETS, TrainConfig

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
    add_arguments(p, TrainConfig)
    add_common(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from seqkd.train import TrainConfig, train

    cfg = config_from(TrainConfig, args, out_dir=args.out, kd_teachers=args.teachers or [],
                      extra_args=shlex.split(args.fairseq_args))
    print(json.dumps(train(cfg, force=args.force), indent=2))
    return 0


def build_distill(sub) -> None:
    from seqkd.distill import DistillConfig

    p = sub.add_parser("distill", help="translate the training source with the teacher",
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
    add_arguments(p, DistillConfig)
    add_common(p)
    p.set_defaults(func=cmd_distill)


def cmd_distill(args) -> int:
    from seqkd.distill import DistillConfig, distill
    from seqkd.distill_merge import scheduler_shard

    if args.num_shards is None and args.shard_id is None:
        args.num_shards, args.shard_id = scheduler_shard(os.environ) or (1, 0)
    elif args.num_shards is None or args.shard_id is None:
        raise SeqkdError("give --num-shards and --shard-id together (or neither, to take them "
                         "from the job array's environment)")
    if args.teacher_command and args.decoder == "ctranslate2":  # the default: a program's
        args.decoder = "command"                                 # output is the teacher's
    cfg = config_from(DistillConfig, args, out_dir=args.out, teachers=args.teachers or [])
    print(json.dumps(distill(cfg, force=args.force, merge_only=args.merge_only), indent=2))
    return 0


def build_topk_cache(sub) -> None:
    from seqkd.topk_cache import TopkConfig

    p = sub.add_parser("topk-cache", help="store the teacher's top-k token distributions "
                                          "for word-level KD without the teacher in training",
                       description="Run the teacher(s) once, forced on every target sentence "
                                   "of a data folder (train and valid), and store the k most "
                                   "probable tokens at each position with their probabilities "
                                   "(renormalized over the k; an ensemble's mean). `seqkd "
                                   "train --kd-cache OUT` then reads them instead of running "
                                   "the teacher on every batch. Resumes after a kill.")
    p.add_argument("--data", required=True,
                   help="the data folder the student trains on (`seqkd distill` or `seqkd "
                        "prepare` output)")
    p.add_argument("--out", required=True, help="output folder (e.g. WORK/topk-seqkd)")
    add_teachers(p)
    add_arguments(p, TopkConfig)
    add_common(p)
    p.set_defaults(func=cmd_topk_cache)


def cmd_topk_cache(args) -> int:
    from seqkd.topk_cache import TopkConfig, topk_cache

    cfg = config_from(TopkConfig, args, out_dir=args.out)
    print(json.dumps(topk_cache(cfg, force=args.force), indent=2))
    return 0


def build_export(sub) -> None:
    from seqkd.export import ExportConfig

    p = sub.add_parser("export", help="convert a checkpoint to CTranslate2 (int8 by default)",
                       description="Convert a fairseq checkpoint (or a `seqkd train` folder) with "
                                   "CTranslate2's converter into a self-contained folder with "
                                   "the SentencePiece model and a model card.")
    p.add_argument("checkpoint", help="checkpoint file, or a `seqkd train` output folder")
    p.add_argument("--data", required=True,
                   help="the data folder the model was trained on (prepare/distill output)")
    p.add_argument("--out", required=True, help="output folder")
    add_arguments(p, ExportConfig, skip=("checkpoint",))
    add_common(p)
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from seqkd.export import ExportConfig, export

    cfg = config_from(ExportConfig, args, out_dir=args.out)
    print(json.dumps(export(cfg, force=args.force), indent=2))
    return 0
