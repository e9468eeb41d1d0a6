"""Stages 2 and 4, train: a fairseq transformer teacher, or a student (optionally with word-level KD).

Training runs ``fairseq-train`` in a child process with seqkd's plugin
(``--user-dir``); a re-run after an interruption resumes from
``checkpoints/checkpoint_last.pt``. Outputs under ``out_dir``:

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Dict, List, Optional, Tuple

from seqkd.errors import SeqkdError
from seqkd.checkpoints import (AVERAGED, average_checkpoints, check_checkpoint,
                               checkpoint_of, last_epoch_checkpoints, resolved_checkpoints,
                               updates_done)
from seqkd.config import check_config, setting
from seqkd.corpus import data_folder
from seqkd.fairseq_tools import check_checkpoint_dictionary, plugin_dir, run_tool
from seqkd.train_progress import TrainProgress
from seqkd.model_cost import ARCH_SHAPES
from seqkd.procs import folder_lock
from seqkd.machine import default_threads, resolve_device, versions
from seqkd.stage import Stage
from seqkd.textio import write_text
from seqkd.topk_store import check_cache_for

logger = logging.getLogger(__name__)


@dataclass
class Preset:
    arch: str
    lr: float
    warmup_updates: int
    dropout: float
    max_tokens: int
    attention_dropout: float = 0.0
    #: pre-norm (layer norm before each sub-layer, encoder and decoder)
    pre_norm: bool = False


#: role -> preset name -> settings. Architectures live in the plugin.
PRESETS: Dict[str, Dict[str, Preset]] = {
    "teacher": {
        "tiny": Preset("seqkd_teacher_tiny", 1e-3, 50, 0.1, 2048),
        # the recipe of the shared Multi30k teacher v2 (38.2 BLEU on test_2016_flickr)
        "base": Preset("seqkd_teacher_base", 2e-3, 400, 0.2, 4096, attention_dropout=0.1,
                       pre_norm=True),
        "wmt-base": Preset("seqkd_teacher_wmt_base", 7e-4, 4000, 0.1, 8192),
    },
    "student": {
        "tiny": Preset("seqkd_student_tiny", 1e-3, 50, 0.1, 2048),
        "small": Preset("seqkd_student_small", 1e-3, 400, 0.1, 4096),
        "deep-enc": Preset("seqkd_student_deep_enc", 1e-3, 400, 0.1, 4096),
        # 6 encoder layers, 1 decoder layer: the teacher-v2 recipe on a CPU-friendly shape
        "enc6-dec1": Preset("seqkd_student_enc6_dec1", 2e-3, 400, 0.2, 8192,
                            attention_dropout=0.1, pre_norm=True),
    },
}


@dataclass
class TrainConfig:
    VOLATILE: ClassVar[Tuple[str, ...]] = ("threads", "device", "nproc", "out_dir")

    data: str
    out_dir: str
    role: str = setting("student", "what to train (sets the preset table)",
                        choices=tuple(PRESETS))
    preset: str = setting("tiny", "model and schedule preset (" + "; ".join(
        f"{role}: {', '.join(table)}" for role, table in PRESETS.items()) + ")",
        choices=tuple(dict.fromkeys(n for table in PRESETS.values() for n in table)))
    max_updates: Optional[int] = setting(None, "stop after N updates", min=1)
    max_epoch: Optional[int] = setting(None, "stop after N epochs", min=1)
    lr: Optional[float] = setting(None, "peak learning rate (default: the preset's)", min=0.0)
    warmup_updates: Optional[int] = setting(None, "warm-up updates (default: the preset's)",
                                            min=0)
    dropout: Optional[float] = setting(None, "dropout (default: the preset's)", min=0.0,
                                       max=1.0)
    max_tokens: Optional[int] = setting(None, "batch size in tokens (default: the preset's)",
                                        min=1)
    encoder_layers: Optional[int] = setting(None, "encoder layers (default: the preset's)", min=1, metavar="N")
    decoder_layers: Optional[int] = setting(None, "decoder layers (default: the preset's)", min=1, metavar="N")
    embed_dim: Optional[int] = setting(None, "model width, encoder and decoder (default: the "
                                       "preset's)", min=1, metavar="N")
    ffn_dim: Optional[int] = setting(None, "feed-forward width, encoder and decoder (default: "
                                     "the preset's)", min=1, metavar="N")
    heads: Optional[int] = setting(None, "attention heads, encoder and decoder (default: the "
                                   "preset's); must divide the width", min=1, metavar="N")
    label_smoothing: float = setting(0.1, "label smoothing", min=0.0, max=1.0)
    patience: int = setting(5, "early stopping: stop after N validations without a better loss",
                            min=0)
    validate_interval_updates: int = setting(0, "also validate and checkpoint every N updates "
                                             "(0: each epoch)", min=0)
    average_last: int = setting(0, "keep the last N epoch checkpoints and write their average, "
                                "checkpoints/checkpoint_avg.pt, which export, bench and distill "
                                "then use for this folder (0: off)", min=0, metavar="N")
    seed: int = setting(1, "random seed")
    #: word-level KD: teacher checkpoint(s); empty = plain label-smoothed cross-entropy
    kd_teachers: List[str] = field(default_factory=list)
    kd_alpha: float = setting(0.5, "word-level KD weight: (1-alpha)*LS-NLL + alpha*T^2*KL",
                              min=0.0, max=1.0)
    kd_temperature: float = setting(1.0, "word-level KD temperature T", min=0.0)
    kd_cache: Optional[str] = setting(None, "word-level KD from a top-k cache (the output "
                                      "folder of `seqkd topk-cache` on this data) instead of "
                                      "a live teacher: the teacher is not run while training",
                                      metavar="DIR")
    threads: int = setting(0, "CPU threads for training (0: the physical cores this process "
                           "may use)", min=0)
    device: str = setting("auto", "where to train: auto (a CUDA GPU when one is visible, else "
                          "the CPU), cpu or cuda", choices=("auto", "cpu", "cuda"))
    fp16: bool = setting(False, "mixed-precision training on CUDA (fairseq --fp16); the CPU "
                         "trains in float32")
    nproc: int = setting(1, "training processes on this machine, one torch.distributed job "
                         "(fairseq's data-parallel training; cuda: one per GPU, NCCL; cpu: gloo, "
                         "the threads shared among them). Each process takes 1/N of the batch "
                         "(--max-tokens), so an update sees as many tokens as one process would",
                         min=1, metavar="N")
    extra_args: List[str] = field(default_factory=list)

    def __post_init__(self):
        """Rules that combine settings, checked when the config is built (so `seqkd run`
        reports them with every other problem before any stage starts)."""
        problems = []
        presets = PRESETS.get(self.role, {})
        if self.preset not in presets:
            problems.append(f"unknown {self.role} preset {self.preset!r}; choose from: "
                            f"{', '.join(presets)}")
        if self.max_updates is None and self.max_epoch is None:
            problems.append("give a training budget: max_updates and/or max_epoch "
                            "(--max-updates / --max-epoch)")
        if (self.kd_teachers or self.kd_cache) and self.role != "student":
            problems.append("word-level KD (--kd-teacher, --kd-cache) is for students "
                            "(--role student)")
        if self.kd_teachers and self.kd_cache:
            problems.append("word-level KD takes a live teacher (--kd-teacher) or a top-k "
                            "cache (--kd-cache), not both")
        if self.preset in presets and self.heads is not None:
            width = self.embed_dim or ARCH_SHAPES[presets[self.preset].arch][2]
            if width % self.heads:
                problems.append(f"heads {self.heads} does not divide the width {width}; choose "
                                f"a number of heads that does (e.g. {max(1, width // 64)})")
        if problems:
            raise SeqkdError("; ".join(problems))

    def input_files(self) -> List[Path]:
        # the data folder's stamp: a rerun of the stage that made it makes this one stale
        cache = [Path(self.kd_cache) / "DONE.json"] if self.kd_cache else []
        return [Path(self.data) / "DONE.json", *resolved_checkpoints(self.kd_teachers), *cache]

    def consumes(self) -> List[Path]:
        """What its settings name, whether it exists yet or not (seqkd run's edges)."""
        return [Path(p) for p in (self.data, *self.kd_teachers, self.kd_cache) if p]


def fairseq_train_args(cfg: TrainConfig, data: Path, save_dir: Path,
                       device: str = "cpu") -> List[str]:
    p = PRESETS[cfg.role][cfg.preset]  # both checked when the config was built
    args = [
        data / "bin", "--user-dir", plugin_dir(), "--arch", p.arch, "--share-all-embeddings",
        "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--clip-norm", "1.0",
        "--lr", str(cfg.lr if cfg.lr is not None else p.lr), "--lr-scheduler", "inverse_sqrt",
        "--warmup-updates", str(cfg.warmup_updates if cfg.warmup_updates is not None
                                else p.warmup_updates),
        "--dropout", str(cfg.dropout if cfg.dropout is not None else p.dropout),
        "--weight-decay", "0.0001", "--label-smoothing", str(cfg.label_smoothing),
        "--max-tokens", str(per_process_tokens(cfg.max_tokens or p.max_tokens, cfg.nproc)),
        "--save-dir", save_dir, "--seed", str(cfg.seed), "--num-workers", "0",
        "--patience", str(cfg.patience), "--log-format", "simple", "--log-interval", "10",
    ]
    if cfg.average_last:
        args += ["--keep-last-epochs", str(cfg.average_last)]
    else:
        args.append("--no-epoch-checkpoints")
    args += shape_args(cfg)
    if p.attention_dropout:
        args += ["--attention-dropout", str(p.attention_dropout)]
    if p.pre_norm:
        args += ["--encoder-normalize-before", "--decoder-normalize-before"]
    if device == "cpu":
        args.append("--cpu")
    elif cfg.fp16:
        args.append("--fp16")
    if cfg.nproc > 1:
        args += ["--distributed-world-size", str(cfg.nproc)]
        if device == "cpu":
            # seqkd starts the ranks itself (fairseq spawns one process per CUDA device, none
            # on a CPU) and adds --distributed-rank and --distributed-init-method to each;
            # PyTorch's DistributedDataParallel wants a device per rank, fairseq's own
            # all-reduce wrapper (legacy_ddp) does not
            args += ["--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp",
                     "--distributed-no-spawn", "--device-id", "0"]
    if cfg.kd_teachers:
        args += ["--criterion", "seqkd_word_kd", "--kd-teachers",
                 ":".join(str(Path(t).resolve()) for t in cfg.kd_teachers),
                 "--kd-alpha", str(cfg.kd_alpha), "--kd-temperature", str(cfg.kd_temperature)]
    elif cfg.kd_cache:
        args += ["--criterion", "seqkd_word_kd", "--kd-cache", Path(cfg.kd_cache).resolve(),
                 "--kd-alpha", str(cfg.kd_alpha), "--kd-temperature", str(cfg.kd_temperature)]
    else:
        args += ["--criterion", "label_smoothed_cross_entropy"]
    if cfg.max_updates is not None:
        args += ["--max-update", str(cfg.max_updates)]
    if cfg.max_epoch is not None:
        args += ["--max-epoch", str(cfg.max_epoch)]
    if cfg.validate_interval_updates:
        args += ["--validate-interval-updates", str(cfg.validate_interval_updates),
                 "--save-interval-updates", str(cfg.validate_interval_updates)]
    return [os.fspath(a) for a in args] + list(cfg.extra_args)


def per_process_tokens(max_tokens: int, nproc: int) -> int:
    """Batch size of each of ``nproc`` processes so that an update (one batch per process,
    gradients summed) holds about ``max_tokens`` tokens, as one process would."""
    return -(-max_tokens // nproc)


def shape_args(cfg: TrainConfig) -> List[str]:
    """fairseq arguments for the shape settings given (the preset's architecture fills in
    the rest)."""
    width = cfg.embed_dim
    out: List[str] = []
    for value, flags in ((cfg.encoder_layers, ["--encoder-layers"]),
                         (cfg.decoder_layers, ["--decoder-layers"]),
                         (width, ["--encoder-embed-dim", "--decoder-embed-dim"]),
                         (cfg.ffn_dim, ["--encoder-ffn-embed-dim", "--decoder-ffn-embed-dim"]),
                         (cfg.heads, ["--encoder-attention-heads",
                                      "--decoder-attention-heads"])):
        if value is not None:
            for flag in flags:
                out += [flag, str(value)]
    return out


def best_valid_loss(log_path: Path) -> Optional[float]:
    """The last ``best_loss`` fairseq reported on the validation set."""
    best = None
    if log_path.is_file():
        for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            m = re.search(r"\| valid on 'valid' subset .*\| best_loss ([0-9.]+)", line)
            if m:
                best = float(m.group(1))
    return best


def train(cfg: TrainConfig, force: bool = False) -> Dict:
    """Train (or resume training) a model; return a summary."""
    check_config(cfg)  # types, choices and bounds; __post_init__ checked the combinations
    data = data_folder(cfg.data)
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
        last = save_dir / "checkpoint_last.pt"
        spent = False
        if last.is_file():
            logger.info("resuming from %s", last)
            done = updates_done(last) if cfg.max_updates is not None else None
            # killed after fairseq's last save: started again, fairseq would train one more
            # update before it looks at the budget
            spent = done is not None and done >= cfg.max_updates
            if spent:
                logger.info("%s is at %d updates, the budget (--max-updates %d): fairseq is "
                            "not started again", last, done, cfg.max_updates)
        threads = cfg.threads or default_threads()
        ranks = cfg.nproc if device == "cpu" else 1  # on GPUs fairseq spawns the ranks
        per_rank = max(1, threads // ranks)
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
            averaged = save_dir / AVERAGED
            average_checkpoints(epochs, averaged)
            logger.info("averaged %d epoch checkpoints (%s) into %s", len(epochs),
                        ", ".join(e.name for e in epochs), averaged)
            summary.update(checkpoint=str(averaged), averaged=[e.name for e in epochs])
        stage.finish(summary)
        return summary
    finally:
        stage.close()
