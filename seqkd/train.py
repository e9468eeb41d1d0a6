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
from seqkd.fairseq_tools import (PLUGIN_DIR, check_checkpoint, check_checkpoint_dictionary,
                                 run_tool)
from seqkd.procs import folder_lock
from seqkd.stage import Stage, resolve_device, versions
from seqkd.textio import atomic_path, require_file, write_text

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
    VOLATILE: ClassVar[Tuple[str, ...]] = ("threads", "device", "out_dir")

    data: str
    out_dir: str
    role: str = "student"
    preset: str = "tiny"
    max_updates: Optional[int] = None
    max_epoch: Optional[int] = None
    lr: Optional[float] = None
    warmup_updates: Optional[int] = None
    dropout: Optional[float] = None
    max_tokens: Optional[int] = None
    label_smoothing: float = 0.1
    patience: int = 5
    validate_interval_updates: int = 0
    #: keep the last N epoch checkpoints and write their average (checkpoint_avg.pt); 0: off
    average_last: int = 0
    seed: int = 1
    #: word-level KD: teacher checkpoint(s); empty = plain label-smoothed cross-entropy
    kd_teachers: List[str] = field(default_factory=list)
    kd_alpha: float = 0.5
    kd_temperature: float = 1.0
    threads: int = 0
    #: auto (a CUDA GPU when torch sees one, else the CPU), cpu or cuda
    device: str = "auto"
    extra_args: List[str] = field(default_factory=list)


def data_folder(path: str | Path) -> Path:
    """A folder with bin/, dict.txt and spm.model (a prepare or distill output)."""
    p = Path(path)
    for need in ("bin", "dict.txt", "spm.model", "DONE.json"):
        if not (p / need).exists():
            raise SeqkdError(
                f"{p} is not a finished data folder ({need} missing): give the output "
                "folder of `seqkd prepare` or `seqkd distill`")
    return p


def fairseq_train_args(cfg: TrainConfig, data: Path, save_dir: Path,
                       device: str = "cpu") -> List[str]:
    if cfg.role not in PRESETS:
        raise SeqkdError(f"--role must be one of {', '.join(PRESETS)}, got {cfg.role!r}")
    presets = PRESETS[cfg.role]
    if cfg.preset not in presets:
        raise SeqkdError(f"unknown {cfg.role} preset {cfg.preset!r}; "
                         f"choose from: {', '.join(presets)}")
    if cfg.max_updates is None and cfg.max_epoch is None:
        raise SeqkdError("give a training budget: --max-updates and/or --max-epoch")
    if cfg.kd_teachers and cfg.role != "student":
        raise SeqkdError("word-level KD (--kd-teacher) is for students (--role student)")
    p = presets[cfg.preset]
    args = [
        data / "bin", "--user-dir", PLUGIN_DIR, "--arch", p.arch, "--share-all-embeddings",
        "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--clip-norm", "1.0",
        "--lr", str(cfg.lr if cfg.lr is not None else p.lr), "--lr-scheduler", "inverse_sqrt",
        "--warmup-updates", str(cfg.warmup_updates if cfg.warmup_updates is not None
                                else p.warmup_updates),
        "--dropout", str(cfg.dropout if cfg.dropout is not None else p.dropout),
        "--weight-decay", "0.0001", "--label-smoothing", str(cfg.label_smoothing),
        "--max-tokens", str(cfg.max_tokens or p.max_tokens),
        "--save-dir", save_dir, "--seed", str(cfg.seed), "--num-workers", "0",
        "--patience", str(cfg.patience), "--log-format", "simple", "--log-interval", "10",
    ]
    if cfg.average_last < 0:
        raise SeqkdError(f"--average-last must be 0 (off) or a positive number of epoch "
                         f"checkpoints, got {cfg.average_last}")
    if cfg.average_last:
        args += ["--keep-last-epochs", str(cfg.average_last)]
    else:
        args.append("--no-epoch-checkpoints")
    if p.attention_dropout:
        args += ["--attention-dropout", str(p.attention_dropout)]
    if p.pre_norm:
        args += ["--encoder-normalize-before", "--decoder-normalize-before"]
    if device == "cpu":
        args.append("--cpu")
    if cfg.kd_teachers:
        args += ["--criterion", "seqkd_word_kd", "--kd-teachers",
                 ":".join(str(Path(t).resolve()) for t in cfg.kd_teachers),
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
    data = data_folder(cfg.data)
    out = Path(cfg.out_dir)
    cfg.kd_teachers = [str(check_checkpoint(checkpoint_of(t), "word-level KD teacher"))
                       for t in cfg.kd_teachers]
    for t in cfg.kd_teachers:
        check_checkpoint_dictionary(t, data / "dict.txt", "word-level KD teacher")
    save_dir = out / "checkpoints"
    import torch

    device = resolve_device(cfg.device, torch.cuda.is_available())
    args = fairseq_train_args(cfg, data, save_dir, device)
    stage = Stage(f"train ({cfg.role})", out, cfg, force=force, resumable=True)
    with folder_lock(out, f"train ({cfg.role})"):
        return _train(cfg, stage, data, out, save_dir, device, args, force)


def _train(cfg: TrainConfig, stage: Stage, data: Path, out: Path, save_dir: Path, device: str,
           args: List[str], force: bool) -> Dict:
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
        if (save_dir / "checkpoint_last.pt").is_file():
            logger.info("resuming from %s", save_dir / "checkpoint_last.pt")
        threads = cfg.threads or os.cpu_count() or 1
        os.environ["OMP_NUM_THREADS"] = str(threads)
        logger.info("training on %s (%d CPU threads)", device, threads)
        run_tool("train", args, trust=[save_dir, *cfg.kd_teachers],
                 log_path=out / "fairseq-train.log")
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


def checkpoint_of(path: str | Path) -> Path:
    """A checkpoint file, or the checkpoint a `seqkd train` folder stands for: its averaged
    checkpoint when it was trained with ``--average-last``, else its best one."""
    p = Path(path)
    if p.is_dir():
        averaged = p / "checkpoints" / AVERAGED
        p = averaged if averaged.is_file() else p / "checkpoints" / "checkpoint_best.pt"
    return require_file(p, "checkpoint")


AVERAGED = "checkpoint_avg.pt"


def last_epoch_checkpoints(save_dir: Path, n: int) -> List[Path]:
    """The ``n`` epoch checkpoints (``checkpointE.pt``) of the highest epochs, oldest first."""
    found = []
    for f in save_dir.glob("checkpoint*.pt"):
        m = re.fullmatch(r"checkpoint(\d+)\.pt", f.name)
        if m:
            found.append((int(m.group(1)), f))
    return [f for _, f in sorted(found)[-n:]]


def tie_equal_tensors(state: Dict[str, "torch.Tensor"]) -> Dict[str, "torch.Tensor"]:
    """The state dict with identical float tensors of one shape made one tensor, so a tied
    weight (shared embeddings) is stored once. Checkpoints saved from a GPU hold tied weights
    as separate copies (fairseq moves each tensor to the CPU on its own)."""
    import torch

    kept: List["torch.Tensor"] = []
    out = {}
    for k, v in state.items():
        if v.is_floating_point():
            same = next((u for u in kept if u.shape == v.shape and u.dtype == v.dtype
                         and torch.equal(u, v)), None)
            if same is None:
                kept.append(v)
            else:
                v = same
        out[k] = v
    return out


def average_checkpoints(paths: List[Path], out: Path) -> None:
    """Write the element-wise mean of the models in ``paths`` (fairseq checkpoints that this
    run wrote) as a fairseq checkpoint: the last one's config, no optimizer state."""
    import torch

    total = None
    for path in paths:
        state = torch.load(path, map_location="cpu", weights_only=False)
        model = state["model"]
        if total is None:
            total = {k: v.double() if v.is_floating_point() else v.clone()
                     for k, v in model.items()}
        else:
            if set(model) != set(total):
                raise SeqkdError(f"{path} holds other parameters than {paths[0]}; "
                                 "cannot average them")
            for k, v in model.items():
                # float tensors are summed; integer buffers are taken from the last one
                total[k] = total[k] + v.double() if v.is_floating_point() else v.clone()
    last = state
    averaged = {k: (v / len(paths)).to(last["model"][k].dtype) if v.is_floating_point() else v
                for k, v in total.items()}
    result = {k: v for k, v in last.items()
              if k not in ("model", "last_optimizer_state", "optimizer_history")}
    result["model"] = tie_equal_tensors(averaged)
    result["optimizer_history"] = last.get("optimizer_history", [])[-1:]
    result["averaged_from"] = [p.name for p in paths]
    with atomic_path(out) as tmp:
        torch.save(result, tmp)
