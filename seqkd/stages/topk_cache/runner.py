"""Stage 3b, topk-cache: the teacher's top-k token distributions, once per corpus.

Word-level KD with a live teacher runs the teacher on every batch of every
epoch. This stage runs it (an ensemble: the mean of the members' tempered
distributions) once, forced on every target sentence of a data folder (a
distilled corpus or the references), and stores at each target position the
``k`` most probable tokens with their probabilities renormalized over those
``k`` (format: seqkd/topk_store.py). ``seqkd train --kd-cache DIR`` then reads
them instead of running the teacher. Outputs under ``out_dir``:

    train.{offsets,ids,probs}.npy, valid.{...}.npy   the cache, memory-mapped by training
    meta.json                                         k, temperature, teachers, data digests
    topk.log                                          the worker's log

Resumable: batches already written are skipped after a kill.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Dict, List, Tuple

from seqkd.checkpoints import check_checkpoint, checkpoint_of, resolved_checkpoints
from seqkd.config import check_config, setting
from seqkd.corpus import bin_languages, data_folder
from seqkd.errors import SettingsProblems
from seqkd.fairseq_tools import plugin_dir, run_tool
from seqkd.dictionaries import check_checkpoint_dictionary, dictionary_size
from seqkd.machine import default_threads, resolve_device
from seqkd.lineage import file_digest
from seqkd.stage import Stage
from seqkd.topk_store import (SUBSETS, TopkCache, cache_digests, data_digests, files,
                               target_file, write_meta)

logger = logging.getLogger("seqkd.topk_cache")


@dataclass
class TopkConfig:
    VOLATILE: ClassVar[Tuple[str, ...]] = ("threads", "device", "out_dir", "max_tokens")

    data: str
    out_dir: str
    #: teacher checkpoint(s); several: their mean distribution (an ensemble)
    teachers: List[str] = field(default_factory=list)
    k: int = setting(8, "tokens kept at each target position (the teacher's most probable)",
                     min=1, max=1024, metavar="K")
    temperature: float = setting(1.0, "softmax temperature of the stored distribution; "
                                 "training with the cache must use the same", above=0.0)
    max_tokens: int = setting(4096, "tokens per teacher batch", min=1)
    threads: int = setting(0, "CPU threads (0: the physical cores this process may use)",
                           min=0)
    device: str = setting("auto", "where the teacher runs: auto, cpu or cuda",
                          choices=("auto", "cpu", "cuda"))

    def __post_init__(self):
        problems = []
        if not self.teachers:
            problems.append("a top-k cache needs the teacher checkpoint(s): --teacher (in a "
                            "config, teacher.checkpoints or teacher.train)")
        if problems:
            raise SettingsProblems(problems)

    def input_files(self) -> List[Path]:
        return [Path(self.data) / "DONE.json", *resolved_checkpoints(self.teachers)]

    def lineage_inputs(self) -> Dict[Path, Tuple[str, ...]]:
        """The data folder's training pairs: the cache reads no monolingual corpus and no
        test set (seqkd.lineage)."""
        return {Path(self.data): ("training",)}

    def consumes(self) -> List[Path]:
        """What its settings name, whether it exists yet or not (seqkd run's edges)."""
        return [Path(p) for p in (self.data, *self.teachers)]


def topk_cache(cfg: TopkConfig, force: bool = False) -> Dict:
    """Compute (or finish) the cache; return a summary."""
    check_config(cfg)
    data = data_folder(cfg.data)
    src, tgt = bin_languages(data / "bin")
    teachers = [check_checkpoint(checkpoint_of(t), "top-k cache teacher") for t in cfg.teachers]
    for t in teachers:
        check_checkpoint_dictionary(t, data / "dict.txt", "top-k cache teacher")
    import torch

    device = resolve_device(cfg.device, torch.cuda.is_available())
    out = Path(cfg.out_dir)
    stage = Stage("topk-cache", out, cfg, force=force, resumable=True)
    if not stage.begin():
        return stage.finished()["summary"]
    try:
        subsets = [s for s in SUBSETS if target_file(data, s, "idx").is_file()]
        args = [data / "bin", "--out", out, "--teachers", *teachers, "--source-lang", src,
                "--target-lang", tgt, "--subsets", *subsets, "--k", cfg.k,
                "--temperature", cfg.temperature, "--max-tokens", cfg.max_tokens,
                "--user-dir", plugin_dir(), "--device", device,
                "--threads", cfg.threads or default_threads()]
        logger.info("top-%d distributions of %d teacher(s) on %s (%s), on %s", cfg.k,
                    len(teachers), data, ", ".join(subsets), device)
        run_tool("topk", [str(a) for a in args], trust=teachers, log_path=out / "topk.log")
        meta = {"k": cfg.k, "temperature": cfg.temperature,
                "teachers": {str(t): file_digest(t) for t in teachers},
                "data": data_digests(data), "vocab_size": dictionary_size(data / "dict.txt"),
                "subsets": subsets, "files": cache_digests(out, subsets)}
        write_meta(out, meta)
        cache = TopkCache(out)
        size = sum(p.stat().st_size for s in subsets for part, p in files(out, s).items()
                   if part != "filled")
        summary = {"k": cfg.k, "temperature": cfg.temperature, "bytes": size,
                   "sentences": {s: cache.sentences(s) for s in subsets},
                   "tokens": {s: int(cache.subset(s)[0][-1]) for s in subsets}}
        logger.info("top-k cache: %s sentences, %s target tokens, %.1f MB", summary["sentences"],
                    summary["tokens"], size / 1e6)
        stage.finish(summary)
        return summary
    finally:
        stage.close()
