"""Stages 2 and 4, train: a fairseq transformer teacher, or a student (optionally with word-level KD).

Training runs ``fairseq-train`` in a child process with seqkd's plugin
(``--user-dir``); a re-run after an interruption resumes from
``checkpoints/checkpoint_last.pt``; its settings and the arguments they make are in
:mod:`seqkd.stages.train.config`. Outputs under ``out_dir``:

    checkpoints/checkpoint_best.pt, checkpoint_last.pt
    dict.txt, spm.model       the vocabulary the model was trained with
    train_command.txt         the fairseq command and the versions
    fairseq-train.log         fairseq's own log
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional

from seqkd.errors import SeqkdError
from seqkd.checkpoints import (AVERAGED, average_checkpoints, check_checkpoint,
                               checkpoint_of, last_epoch_checkpoints, repair_last,
                               updates_done)
from seqkd.config import check_config
from seqkd.corpus import data_folder, pair_sizes
from seqkd.fairseq_tools import run_tool
from seqkd.dictionaries import check_checkpoint_dictionary
from seqkd.stages.train.progress import TrainProgress
from seqkd.procs import folder_lock
from seqkd.machine import default_threads, resolve_device, versions, warn_oversubscribed
from seqkd.stage import Stage
from seqkd.textio import write_text
from seqkd.topk_store import check_cache_for
from seqkd.stages.train.config import TrainConfig, fairseq_train_args
from seqkd.stages.train.extend import check_continuation, copy_checkpoints

logger = logging.getLogger("seqkd.train")


def best_valid_loss(log_path: Path) -> Optional[float]:
    """The lowest validation loss fairseq reported. Its ``best_loss`` field alone would
    not do: the first validation of a training carries none (no checkpoint was best yet),
    so a training that validated once would have no figure."""
    losses = []
    if log_path.is_file():
        for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if "| valid on 'valid' subset " in line:
                losses += [float(x) for x in re.findall(r"\| (?:best_)?loss ([0-9.]+)", line)]
    return min(losses) if losses else None


def train(cfg: TrainConfig, force: bool = False) -> Dict:
    """Train (or resume training) a model; return a summary."""
    check_config(cfg)  # types, choices and bounds; __post_init__ checked the combinations
    data = data_folder(cfg.data)
    if cfg.continue_from:
        check_continuation(cfg)
    check_batches_fit(cfg, data)
    out = Path(cfg.out_dir)
    # the stamp keeps the KD teachers as given (a train folder stays a folder); fairseq gets
    # the checkpoint files they stand for
    stage = Stage(f"train ({cfg.role})", out, cfg, force=force, resumable=True)
    cfg = dataclasses.replace(cfg, kd_teachers=[
        str(check_checkpoint(checkpoint_of(t), "word-level KD teacher"))
        for t in cfg.kd_teachers])
    for t in cfg.kd_teachers:
        check_checkpoint_dictionary(t, data / "dict.txt", "word-level KD teacher")
    if cfg.kd_cache:
        check_cache_for(cfg.kd_cache, data, cfg.kd_temperature)
    save_dir = out / "checkpoints"
    import torch

    device = resolve_device(cfg.device, torch.cuda.is_available())
    if cfg.fp16 and device != "cuda":
        raise SeqkdError("--fp16 is for training on a CUDA GPU; this run is on the CPU "
                         "(drop fp16, or train where a GPU is visible with --device cuda)")
    if device == "cuda" and cfg.nproc > torch.cuda.device_count():
        raise SeqkdError(f"--nproc {cfg.nproc}: this machine has {torch.cuda.device_count()} "
                         "CUDA device(s); on a GPU machine fairseq runs one process per GPU")
    args = fairseq_train_args(cfg, data, save_dir, device)
    with folder_lock(out, f"train ({cfg.role})"):  # one writer per checkpoint folder
        return _run_training(cfg, stage, data, args, device, force)


def check_batches_fit(cfg: TrainConfig, data: Path) -> None:
    """Every validation pair fits one batch (fairseq stops at the first that does not, with
    an assertion inside its batching and a traceback); training pairs that do not are left
    out by fairseq, which is said here, with how many."""
    tokens = cfg.process_tokens()
    each = f" (each of the {cfg.nproc} processes takes {tokens})" if cfg.nproc > 1 else ""
    given = f"--max-tokens {cfg.batch_tokens()}{each}"
    for split in ("valid", "train"):
        sizes = pair_sizes(data / "bin", split)
        if sizes is None or not len(sizes) or int(sizes.max()) <= tokens:
            continue
        longest, over = int(sizes.max()), int((sizes > tokens).sum())
        fix = f"give --max-tokens {longest * cfg.nproc} or more (max_tokens in a config)"
        if split == "valid":
            raise SeqkdError(f"{given} is below the longest sentence pair of {data}'s "
                             f"validation set, {longest} tokens with the end of sentence: a "
                             f"batch holds at least one pair; {fix}")
        logger.warning("%s is below %d training pair(s) of %s (the longest %d tokens with the "
                       "end of sentence): fairseq leaves them out; to train on them, %s",
                       given, over, data, longest, fix)


def _resume(cfg: TrainConfig, save_dir: Path) -> bool:
    """Where fairseq starts: the checkpoint_last.pt of an interrupted run, or the one of the
    training this one continues (copied in); True when the budget is spent already."""
    last = save_dir / "checkpoint_last.pt"
    repair_last(save_dir)
    if cfg.continue_from and not last.is_file():
        copied = copy_checkpoints(Path(cfg.continue_from), save_dir)
        logger.info("continuing %s: %s copied", cfg.continue_from, ", ".join(copied))
    if not last.is_file():
        return False
    logger.info("resuming from %s", last)
    done = updates_done(last) if cfg.max_updates is not None else None
    # killed after fairseq's last save: started again, fairseq would train one more update
    # before it looks at the budget
    if done is not None and done >= cfg.max_updates:
        logger.info("%s is at %d updates, the budget (--max-updates %d): fairseq is not "
                    "started again", last, done, cfg.max_updates)
        return True
    return False


def _run_training(cfg: TrainConfig, stage: Stage, data: Path, args: List[str], device: str,
                  force: bool) -> Dict:
    out, save_dir = stage.out_dir, stage.out_dir / "checkpoints"
    if not stage.begin():
        return stage.finished()["summary"]
    try:
        if force and save_dir.exists() and not stage.resuming:
            shutil.rmtree(save_dir)
        shutil.copyfile(data / "dict.txt", out / "dict.txt")
        shutil.copyfile(data / "spm.model", out / "spm.model")
        cmd = "fairseq-train " + shlex.join(args)
        write_text(out / "train_command.txt",
                   f"# seqkd: {shlex.join(sys.argv)}\n# versions: {versions()}\n{cmd}\n")
        spent = _resume(cfg, save_dir)
        threads = cfg.threads or default_threads()
        ranks = cfg.nproc if device == "cpu" else 1  # on GPUs fairseq spawns the ranks
        per_rank = max(1, threads // ranks)
        if device == "cpu":
            warn_oversubscribed(per_rank, ranks, "training processes")
        os.environ["OMP_NUM_THREADS"] = str(per_rank)
        if cfg.nproc > 1:
            logger.info("training on %s with %d processes (%s), %d CPU threads each, %s "
                        "tokens per process and batch", device, cfg.nproc,
                        "gloo" if device == "cpu" else "NCCL", per_rank,
                        args[args.index("--max-tokens") + 1])
        else:
            logger.info("training on %s (%d CPU threads)", device, threads)
        if not spent:
            bar = TrainProgress(cfg.max_updates, cfg.max_epoch, f"train {out.name}")
            try:
                run_tool("train", args, trust=[save_dir, *cfg.kd_teachers],
                         log_path=out / "fairseq-train.log", nproc=ranks, on_line=bar)
            finally:
                bar.close()
        best = save_dir / "checkpoint_best.pt"
        if not best.is_file():
            raise SeqkdError(f"fairseq-train ended without {best}; see {out / 'fairseq-train.log'}")
        summary = {"checkpoint": str(best), "best_valid_loss": best_valid_loss(
            out / "fairseq-train.log"), "command": cmd}
        if cfg.average_last:
            epochs = last_epoch_checkpoints(save_dir, cfg.average_last)
            if not epochs:
                raise SeqkdError(f"--average-last {cfg.average_last}: fairseq-train left no "
                                 f"epoch checkpoint in {save_dir}; train at least one epoch")
            if len(epochs) < cfg.average_last:
                logger.warning("--average-last %d: the training left %d epoch checkpoint(s); "
                               "the average is of those (a budget of %d epochs or more "
                               "averages as many)", cfg.average_last, len(epochs),
                               cfg.average_last)
            averaged = save_dir / AVERAGED
            average_checkpoints(epochs, averaged)
            logger.info("averaged %d epoch checkpoints (%s) into %s", len(epochs),
                        ", ".join(e.name for e in epochs), averaged)
            summary.update(checkpoint=str(averaged), averaged=[e.name for e in epochs])
        stage.finish(summary)
        return summary
    finally:
        stage.close()
