"""The train stage's settings: the presets (architecture and schedule per role), one
definition per setting (YAML key, command-line option, check), the rules that combine them,
and the fairseq-train arguments they make (pure functions; :mod:`seqkd.stages.train.runner` runs them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Dict, List, Optional, Tuple

from seqkd.checkpoints import resolved_checkpoints
from seqkd.config import MAX_SEED, given, setting
from seqkd.corpus import bin_languages
from seqkd.errors import SettingsProblems
from seqkd.fairseq_tools import plugin_dir
from seqkd.model_cost import ARCH_SHAPES


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
    lr: Optional[float] = setting(None, "peak learning rate (default: the preset's)", above=0.0)
    warmup_updates: Optional[int] = setting(None, "warm-up updates (default: the preset's; "
                                            "the inverse-square-root schedule needs 1 or more)",
                                            min=1)
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
    seed: int = setting(1, "random seed", min=0, max=MAX_SEED)
    #: word-level KD: teacher checkpoint(s); empty = plain label-smoothed cross-entropy
    kd_teachers: List[str] = field(default_factory=list)
    kd_alpha: float = setting(0.5, "word-level KD weight: (1-alpha)*LS-NLL + alpha*T^2*KL",
                              min=0.0, max=1.0)
    kd_temperature: float = setting(1.0, "word-level KD temperature T", above=0.0)
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
    continue_from: Optional[str] = setting(
        None, "a finished `seqkd train` folder trained with these settings and a shorter "
        "budget: its checkpoints are copied in and training goes on from its last one, so a "
        "longer budget does not train the first part again (only max_epoch, max_updates, "
        "patience, average_last, threads, device and nproc may differ)", metavar="FOLDER")
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
        for name in ("kd_alpha", "kd_temperature"):  # a weight of nothing: said, not ignored
            if given(self, name) and not (self.kd_teachers or self.kd_cache):
                problems.append(f"{name} {getattr(self, name):g} is a setting of word-level "
                                "KD, which needs a teacher (--kd-teacher) or its top-k cache "
                                f"(--kd-cache): give one, or leave {name} out")
        if self.kd_teachers and self.kd_cache:
            problems.append("word-level KD takes a live teacher (--kd-teacher) or a top-k "
                            "cache (--kd-cache), not both")
        if self.preset in presets and self.heads is not None:
            width = self.embed_dim or ARCH_SHAPES[presets[self.preset].arch][2]
            if width % self.heads:
                problems.append(f"heads {self.heads} does not divide the width {width}; choose "
                                f"a number of heads that does (e.g. {max(1, width // 64)})")
        if problems:
            raise SettingsProblems(problems)

    def batch_tokens(self) -> int:
        """The batch of an update in tokens: max_tokens, or the preset's."""
        return self.max_tokens or PRESETS[self.role][self.preset].max_tokens

    def process_tokens(self) -> int:
        """fairseq's --max-tokens: the batch of each training process."""
        return per_process_tokens(self.batch_tokens(), self.nproc)

    def input_files(self) -> List[Path]:
        # the data folder's stamp: a rerun of the stage that made it makes this one stale
        # and the stamp of the training it continues: retrained, this one starts over
        cache = [Path(self.kd_cache) / "DONE.json"] if self.kd_cache else []
        before = [Path(self.continue_from) / "DONE.json"] if self.continue_from else []
        return [Path(self.data) / "DONE.json", *resolved_checkpoints(self.kd_teachers), *cache,
                *before]

    def lineage_inputs(self) -> Dict[Path, Tuple[str, ...]]:
        """The data folder's training part: no monolingual corpus, no test set
        (seqkd.lineage)."""
        return {Path(self.data): ("training",)}

    def consumes(self) -> List[Path]:
        """What its settings name, whether it exists yet or not (seqkd run's edges)."""
        return [Path(p) for p in (self.data, *self.kd_teachers, self.kd_cache,
                                  self.continue_from) if p]


def fairseq_train_args(cfg: TrainConfig, data: Path, save_dir: Path,
                       device: str = "cpu") -> List[str]:
    p = PRESETS[cfg.role][cfg.preset]  # both checked when the config was built
    src, tgt = bin_languages(data / "bin")  # named: fairseq's own reading splits zh-Hant
    args = [
        data / "bin", "--source-lang", src, "--target-lang", tgt,
        "--user-dir", plugin_dir(), "--arch", p.arch, "--share-all-embeddings",
        "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--clip-norm", "1.0",
        "--lr", str(cfg.lr if cfg.lr is not None else p.lr), "--lr-scheduler", "inverse_sqrt",
        "--warmup-updates", str(cfg.warmup_updates if cfg.warmup_updates is not None
                                else p.warmup_updates),
        "--dropout", str(cfg.dropout if cfg.dropout is not None else p.dropout),
        "--weight-decay", "0.0001", "--label-smoothing", str(cfg.label_smoothing),
        "--max-tokens", str(cfg.process_tokens()),
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
