"""The ``seqkd`` command line: one subcommand per stage, thin wrappers over the stage functions."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

from seqkd import __version__
from seqkd.config import Problems, add_arguments
from seqkd.errors import SeqkdError, machine_error_message

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- argument builders


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="overwrite a finished run in the output folder")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")


def add_teachers(p: argparse.ArgumentParser, flag: str = "--teacher", required: bool = True) -> None:
    p.add_argument(flag, dest="teachers", nargs="+", required=required, metavar="CHECKPOINT",
                   help="fairseq teacher checkpoint(s); several form an ensemble. Their "
                        "checkpoints are unpickled in full (trusted, named by you). seqkd "
                        "distill also takes one CTranslate2 model folder with its own "
                        "SentencePiece model(s), whatever its vocabulary")


def parse_key_value(items: Optional[List[str]], what: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise SeqkdError(f"{what} takes NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        if not k or not v:
            raise SeqkdError(f"{what} takes NAME=VALUE, got {item!r}")
        if k in out:
            raise SeqkdError(f"{what}: {k!r} given twice")
        out[k] = v
    return out


def config_from(cls, args: argparse.Namespace, **given):
    """A stage's dataclass config from parsed arguments: every field whose name is an
    argument's dest is taken from it; ``given`` sets the rest (renamed or derived values).
    The values are checked like a YAML config's (bounds too), all problems at once."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values.update(given)
    problems = Problems("")
    cfg = problems.build(cls, values, "")
    problems.raise_if_any()
    return cfg


# ---------------------------------------------------------------- subcommands


def build_prepare(sub) -> None:
    from seqkd.prepare import PrepareConfig

    p = sub.add_parser("prepare", help="fetch, clean, SentencePiece and binarize a corpus",
                       description="Fetch a registered dataset (or read local files), clean it, "
                                   "train a joint SentencePiece model and binarize for fairseq.")
    p.add_argument("--out", required=True, help="output folder (e.g. WORK/data)")
    p.add_argument("--test", action="append", metavar="NAME=PREFIX",
                   help="your own test set (repeatable); NAME: letters, digits, _ - . only, "
                        "not train or valid")
    add_arguments(p, PrepareConfig)
    add_common(p)
    p.set_defaults(func=cmd_prepare)


def cmd_prepare(args) -> int:
    from seqkd.prepare import PrepareConfig, prepare

    cfg = config_from(PrepareConfig, args, out_dir=args.out,
                      test_prefixes=parse_key_value(args.test, "--test"))
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


def build_translate(sub) -> None:
    from seqkd.translate import TranslateConfig

    p = sub.add_parser("translate", help="translate stdin to stdout with an exported model "
                                         "(or fairseq checkpoints)",
                       description="Read raw text on standard input, write detokenized "
                                   "translations on standard output, one line per line. "
                                   "MODEL is an `seqkd export` folder (CTranslate2), or a "
                                   "fairseq checkpoint or `seqkd train` folder with --data "
                                   "(and --ensemble for more members): a teacher as the "
                                   "pipeline decodes it.")
    p.add_argument("model", help="an `seqkd export` output folder, or a fairseq checkpoint "
                                 "(file or `seqkd train` folder) with --data")
    add_arguments(p, TranslateConfig)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_translate)


def cmd_translate(args) -> int:
    from seqkd.translate import TranslateConfig, translate_stream

    cfg = config_from(TranslateConfig, args)
    model = cfg.load()
    n = translate_stream(model, sys.stdin.buffer, sys.stdout, batch_lines=cfg.batch_lines)
    logger.info("translated %d lines", n)
    return 0


def build_bench(sub) -> None:
    from seqkd.bench import BenchConfig

    p = sub.add_parser("bench", help="speed, latency, memory, size and BLEU/chrF side by side",
                       description="Measure systems on test sets in one run: words/sec "
                                   "(1 thread pinned, and more), latency at batch 1, peak "
                                   "memory, size, sacrebleu BLEU and chrF. Writes report.json, "
                                   "report.md and plot.png.")
    p.add_argument("--data", required=True, help="prepare output folder (test sets, SPM)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--system", action="append", required=True,
                   metavar="NAME=KIND:PATH[,beam=N][,compute_type=T][,vmap=1][,inter=N]"
                           "[,threads=N][,batch=N][,with=PATH]",
                   help="a system: KIND fairseq (checkpoint or train folder) or ct2 (export "
                        "folder; vmap=1 uses its vocabulary map; inter=N translates N batches "
                        "at once, each on --threads threads). threads=N and batch=N measure "
                        "this system at that thread count and batch size (source tokens) "
                        "instead of the bench's; with=PATH (repeatable) adds a further member "
                        "to a fairseq system: an ensemble; repeatable")
    add_arguments(p, BenchConfig, skip=("systems",))
    add_common(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from seqkd.bench import BenchConfig, SystemSpec, bench

    cfg = config_from(BenchConfig, args, out_dir=args.out,
                      systems=[SystemSpec.parse(s) for s in args.system],
                      test_sets=args.test_sets or [])
    bench(cfg, force=args.force, quiet=args.quiet)
    return 0


def build_run(sub) -> None:
    p = sub.add_parser("run", help="run the whole pipeline from one YAML config",
                       description="Run every stage of a config (see pipelines/*.yaml) into its "
                                   "work_dir. Finished stages are skipped, interrupted ones "
                                   "resume; a stage whose settings changed runs again with "
                                   "every stage after it.")
    p.add_argument("config", help="YAML config, e.g. pipelines/tiny.yaml")
    p.add_argument("--only", nargs="+", metavar="STAGE",
                   help="run only these stages (names as printed, e.g. prepare teacher)")
    p.add_argument("--restart", nargs="+", metavar="STAGE", default=[],
                   help="start these stages over: their folders and those of every stage "
                        "after them are emptied first (the one way to start over)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="run up to N stages side by side when neither depends on the other "
                        "(e.g. two students on a machine with cores for both; each then logs "
                        "to its folder's log.txt only) (default: 1)")
    p.add_argument("--check", action="store_true",
                   help="judge the config whole (every setting and every rule that combines "
                        "settings), print the stages and what each depends on, run nothing")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from seqkd.config_file import load_config
    from seqkd.plan import plan
    from seqkd.run import run

    if args.check:
        steps = plan(load_config(args.config), Path.cwd(), str(args.config))
        print(json.dumps({s.name: {"folder": str(s.out_dir), "after": s.deps} for s in steps},
                         indent=2))
        return 0
    status = run(args.config, only=args.only, restart=args.restart, quiet=args.quiet,
                 jobs=args.jobs)
    print(json.dumps(status, indent=2))
    return 0


def build_kd_gain(sub) -> None:
    p = sub.add_parser("kd-gain", help="the KD gain over same-shape baselines against speed, "
                                       "from a bench report",
                       description="Pair each KD student of a bench report with the baseline "
                                   "of the same name suffix (seqkd-X with baseline-X) and "
                                   "write the BLEU gain against the student's words/s: "
                                   "kd-gain.md, kd-gain.json, kd-gain.png.")
    p.add_argument("report", help="a bench report.json")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--beam", type=int, default=1, help="the beam the plot shows (default: 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    p.set_defaults(func=cmd_kd_gain)


def cmd_kd_gain(args) -> int:
    from seqkd.kd_gain import markdown, write

    print(markdown(write(args.report, args.out, args.beam)), end="")
    return 0


def build_scale_bench(sub) -> None:
    from seqkd.scale import ScaleConfig

    p = sub.add_parser("scale-bench", help="how prepare, distill and translate scale: a "
                                           "generated corpus of the size asked, measured",
                       description="Generate a corpus of --pairs lines (two Multi30k pairs a "
                                   "line; the mirror or the registry supplies Multi30k), run "
                                   "the --stages on it as whole seqkd processes, one after "
                                   "another, and write their wall time and peak memory to "
                                   "figures.json and figures.md. A benchmark: run it alone on "
                                   "the machine.")
    p.add_argument("--out", required=True, help="output folder (corpus, stage outputs, "
                                                "figures)")
    add_arguments(p, ScaleConfig)
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    p.set_defaults(func=cmd_scale_bench)


def cmd_scale_bench(args) -> int:
    from seqkd.scale import ScaleConfig, markdown, scale_bench

    print(markdown(scale_bench(config_from(ScaleConfig, args, out_dir=args.out))), end="")
    return 0


SUBCOMMANDS: List[Callable] = [build_prepare, build_train, build_distill, build_topk_cache,
                               build_export,
                               build_translate, build_bench, build_run, build_kd_gain,
                               build_scale_bench]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqkd", description="Sequence-level knowledge distillation for NMT: "
        "prepare, train, distill, topk-cache, export, translate, bench, run.")
    parser.add_argument("--version", action="version", version=f"seqkd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for build in SUBCOMMANDS:
        build(sub)
    return parser


def setup_logging(quiet: bool = False) -> None:
    if quiet:  # -q: warnings and errors only, no progress bars, no report on stderr
        os.environ["TQDM_DISABLE"] = "1"
    else:
        os.environ.pop("TQDM_DISABLE", None)
    # the root logger passes INFO on, so every stage's log.txt is complete; -q only quiets
    # the terminal
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING if quiet else logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                           datefmt="%H:%M:%S"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_seqkd_terminal", False)]:
        root.removeHandler(old)
    handler._seqkd_terminal = True
    if quiet:  # library warnings (torch's deprecations) go to log.txt, not the terminal
        handler.addFilter(lambda record: record.name != "py.warnings")
    logging.captureWarnings(False)  # (re)installed: another caller may have replaced it
    logging.captureWarnings(True)
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "quiet", False))
    logger.debug("seqkd %s: %s", __version__, shlex.join(sys.argv))
    try:
        return args.func(args)
    except SeqkdError as e:
        print(f"seqkd {args.command}: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, as other Unix filters do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        message = machine_error_message(e)
        if message is None:
            raise
        print(f"seqkd {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"seqkd {args.command}: interrupted; finished outputs are kept and a re-run "
              "resumes", file=sys.stderr)
        return 130
