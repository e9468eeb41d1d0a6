"""The ``seqkd`` command line: one subcommand per stage, thin wrappers over the stage functions."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from typing import Callable, Dict, List, Optional

from seqkd import __version__
from seqkd.errors import SeqkdError

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- argument builders


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="overwrite a finished run in the output folder")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")


def add_langs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--src", default="en", help="source language code (default: en)")
    p.add_argument("--tgt", default="de", help="target language code (default: de)")


def add_threads(p: argparse.ArgumentParser, default: int = 0) -> None:
    p.add_argument("--threads", type=int, default=default,
                   help="CPU threads for decoding (0: all cores)")


def add_decoding(p: argparse.ArgumentParser, beam: int = 5) -> None:
    p.add_argument("--beam", type=int, default=beam, help=f"beam size (default: {beam})")
    p.add_argument("--batch-tokens", type=int, default=1024,
                   help="batch size in source tokens (default: 1024)")
    p.add_argument("--max-len-a", type=float, default=0.0,
                   help="maximum output length is a*source_length+b (default a=0)")
    p.add_argument("--max-len-b", type=int, default=200, help="see --max-len-a (default b=200)")


def add_teachers(p: argparse.ArgumentParser, flag: str = "--teacher", required: bool = True) -> None:
    p.add_argument(flag, dest="teachers", nargs="+", required=required, metavar="CHECKPOINT",
                   help="fairseq teacher checkpoint(s); several form an ensemble. Their "
                        "checkpoints are unpickled in full (trusted, named by you)")


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


# ---------------------------------------------------------------- subcommands


def build_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="fetch, clean, SentencePiece and binarize a corpus",
                       description="Fetch a registered dataset (or read local files), clean it, "
                                   "train a joint SentencePiece model and binarize for fairseq.")
    p.add_argument("--out", required=True, help="output folder (e.g. WORK/data)")
    p.add_argument("--dataset", default="multi30k",
                   help="registered dataset name (data/*.yaml; default: multi30k)")
    p.add_argument("--train-prefix", help="local training files PREFIX.SRC and PREFIX.TGT "
                                          "(instead of --dataset)")
    p.add_argument("--valid-prefix", help="local validation files PREFIX.SRC and PREFIX.TGT")
    p.add_argument("--test", action="append", metavar="NAME=PREFIX",
                   help="local test set (repeatable)")
    p.add_argument("--test-sets", nargs="*",
                   help="registered test splits to prepare (default: all of the dataset's)")
    add_langs(p)
    p.add_argument("--max-train-pairs", type=int, help="keep only the first N cleaned pairs")
    p.add_argument("--max-len", type=int, default=250, help="drop pairs with a side over N words")
    p.add_argument("--max-ratio", type=float, default=3.0,
                   help="drop pairs whose word-length ratio exceeds R (default: 3)")
    p.add_argument("--no-dedupe", action="store_true", help="keep repeated pairs")
    p.add_argument("--vocab-size", type=int, default=8000, help="SentencePiece pieces")
    p.add_argument("--spm-model", help="use this SentencePiece model (e.g. the teacher's)")
    p.add_argument("--dict", dest="dictionary",
                   help="use this fairseq dictionary (with --spm-model; e.g. the teacher's)")
    p.add_argument("--workers", type=int, default=2, help="parallel workers")
    add_common(p)
    p.set_defaults(func=cmd_prepare)


def cmd_prepare(args) -> int:
    from seqkd.prepare import PrepareConfig, prepare

    cfg = PrepareConfig(
        out_dir=args.out, dataset=None if args.train_prefix else args.dataset,
        src=args.src, tgt=args.tgt, train_prefix=args.train_prefix,
        valid_prefix=args.valid_prefix, test_prefixes=parse_key_value(args.test, "--test"),
        test_sets=args.test_sets, max_train_pairs=args.max_train_pairs, max_len=args.max_len,
        max_ratio=args.max_ratio, dedupe=not args.no_dedupe, vocab_size=args.vocab_size,
        spm_model=args.spm_model, dictionary=args.dictionary, workers=args.workers)
    report = prepare(cfg, force=args.force)
    print(json.dumps(report, indent=2))
    return 0


def build_train(sub) -> None:
    from seqkd.train import PRESETS

    names = sorted({n for role in PRESETS.values() for n in role})
    p = sub.add_parser("train", help="train a teacher or a student with fairseq",
                       description="Train a fairseq transformer teacher, or a student (on "
                                   "references or distilled data, optionally with word-level "
                                   "KD). Resumes from the last checkpoint after an interruption.")
    p.add_argument("--role", choices=sorted(PRESETS), required=True)
    p.add_argument("--data", required=True,
                   help="output folder of `seqkd prepare` or `seqkd distill`")
    p.add_argument("--out", required=True, help="output folder for checkpoints and logs")
    p.add_argument("--preset", default="tiny", choices=names,
                   help="model and schedule preset (teacher: tiny, base; student: tiny, "
                        "small, deep-enc)")
    p.add_argument("--max-updates", type=int, help="stop after N updates")
    p.add_argument("--max-epoch", type=int, help="stop after N epochs")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    p.add_argument("--warmup-updates", type=int, help="default: the preset's")
    p.add_argument("--dropout", type=float, help="default: the preset's")
    p.add_argument("--max-tokens", type=int, help="batch size in tokens (default: the preset's)")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--patience", type=int, default=5,
                   help="early stopping: stop after N validations without a better loss")
    p.add_argument("--validate-interval-updates", type=int, default=0,
                   help="also validate and checkpoint every N updates (0: each epoch)")
    p.add_argument("--seed", type=int, default=1)
    add_teachers(p, flag="--kd-teacher", required=False)
    p.add_argument("--kd-alpha", type=float, default=0.5,
                   help="word-level KD weight: (1-alpha)*LS-NLL + alpha*T^2*KL (default: 0.5)")
    p.add_argument("--kd-temperature", type=float, default=1.0, help="KD temperature T")
    add_threads(p)
    p.add_argument("--fairseq-args", default="",
                   help="extra arguments passed to fairseq-train as they are (quoted string)")
    add_common(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from seqkd.train import TrainConfig, train

    cfg = TrainConfig(
        data=args.data, out_dir=args.out, role=args.role, preset=args.preset,
        max_updates=args.max_updates, max_epoch=args.max_epoch, lr=args.lr,
        warmup_updates=args.warmup_updates, dropout=args.dropout, max_tokens=args.max_tokens,
        label_smoothing=args.label_smoothing, patience=args.patience,
        validate_interval_updates=args.validate_interval_updates, seed=args.seed,
        kd_teachers=args.teachers or [], kd_alpha=args.kd_alpha,
        kd_temperature=args.kd_temperature, threads=args.threads,
        extra_args=shlex.split(args.fairseq_args))
    print(json.dumps(train(cfg, force=args.force), indent=2))
    return 0


SUBCOMMANDS: List[Callable] = [build_prepare, build_train]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqkd", description="Sequence-level knowledge distillation for NMT: "
        "prepare, train, distill, export, translate, bench, run.")
    parser.add_argument("--version", action="version", version=f"seqkd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for build in SUBCOMMANDS:
        build(sub)
    return parser


def setup_logging(quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


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
    except KeyboardInterrupt:
        print(f"seqkd {args.command}: interrupted; finished outputs are kept and a re-run "
              "resumes", file=sys.stderr)
        return 130
