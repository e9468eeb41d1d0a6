"""``seqkd scale-bench``: how prepare, distill and translate scale with the corpus, measured on
a generated corpus of the size asked (not a timed test: the figures it writes are the result).

The corpus: each line two Multi30k training pairs joined (drawn with a seeded random
generator), so the text is real language with WMT-like line lengths; validation and
test_2016_flickr from Multi30k. Each stage runs as its own ``seqkd`` process, one after the
other, and is timed whole; memory is the main process's peak (VmHWM) and the peak sum over
its process tree (its workers), both read from /proc while it runs."""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from seqkd.config import MAX_SEED, Problems, setting
from seqkd.ct2_folder import is_ct2_folder
from seqkd.errors import SeqkdError
from seqkd.procs import python_module, run_measured

logger = logging.getLogger(__name__)

#: how often a stage's memory is read
POLL_S = 0.3
STAGES = ("prepare", "distill", "translate")
#: bytes of one generated line, both sides with their newlines: two Multi30k training pairs
#: (the registered corpus, checksummed: 2 x 133.9 bytes a pair on average)
LINE_BYTES = 268


@dataclass
class ScaleConfig:
    out_dir: str
    pairs: int = setting(1_000_000, "training pairs to generate", min=1)
    stages: List[str] = setting(help="stages to measure, in this order (prepare, distill, "
                                "translate)", default_factory=lambda: ["prepare"])
    seed: int = setting(7, "seed of the pair drawing", min=0, max=MAX_SEED)
    vocab_size: int = setting(32000, "SentencePiece vocabulary size when none is given", min=8)
    spm_sentences: int = setting(1_000_000, "SentencePiece's training sample when none is "
                                 "given (prepare's --spm-sentences)", min=1000)
    spm_model: Optional[str] = setting(None, "reuse this SentencePiece model (with --dict); "
                                       "needed for distill and translate: the teacher's")
    dictionary: Optional[str] = setting(None, "reuse this fairseq dictionary (with "
                                        "--spm-model)", flag="--dict")
    teacher: Optional[str] = setting(None, "distill: a teacher checkpoint or train folder "
                                     "whose vocabulary is --spm-model/--dict")
    model: Optional[str] = setting(None, "translate: an `seqkd export` folder")
    beam: int = setting(1, "distill and translate beam size", min=1)
    workers: int = setting(2, "prepare's workers", min=1)
    threads: int = setting(0, "distill and translate threads (0: the physical cores)", min=0)

    def check(self) -> None:
        """Every problem of the settings and the files they name, said together before the
        corpus is generated."""
        p = Problems("scale-bench")
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            p.add(f"--stages: unknown {unknown}; choose from {', '.join(STAGES)}")
        if "distill" in self.stages and not (self.teacher and self.spm_model):
            p.add("--stages distill needs --teacher and its --spm-model and --dict (the data "
                  "must be in the teacher's vocabulary)")
        if "translate" in self.stages and not self.model:
            p.add("--stages translate needs --model (an `seqkd export` folder)")
        if bool(self.spm_model) != bool(self.dictionary):
            p.add("give --spm-model and --dict together, or neither")
        for flag, path in (("--spm-model", self.spm_model), ("--dict", self.dictionary)):
            if path and not Path(path).is_file():
                p.add(f"{flag} {path}: no such file")
        if "distill" in self.stages and self.teacher and not Path(self.teacher).exists():
            p.add(f"--teacher {self.teacher}: not found (a checkpoint, a `seqkd train` folder "
                  "or a CTranslate2 model folder)")
        if "translate" in self.stages and self.model and not is_ct2_folder(self.model):
            p.add(f"--model {self.model}: not an `seqkd export` folder (no model.bin in it or "
                  "in its model/)")
        p.raise_if_any()


def generate(pairs: List[tuple], n: int, prefix: Path, seed: int) -> Dict[str, int]:
    """Write ``n`` lines, each two pairs drawn at random joined by a space, to PREFIX.en and
    PREFIX.de; return their sizes in bytes."""
    rng = random.Random(seed)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{prefix}.en", "w", encoding="utf-8") as fe, \
            open(f"{prefix}.de", "w", encoding="utf-8") as fd:
        for _ in range(n):
            (e1, d1), (e2, d2) = rng.choice(pairs), rng.choice(pairs)
            fe.write(f"{e1} {e2}\n")
            fd.write(f"{d1} {d2}\n")
    return {lang: Path(f"{prefix}.{lang}").stat().st_size for lang in ("en", "de")}


def measure(argv: List[str], log: Path, stdin: Optional[Path] = None,
            stdout: Optional[Path] = None) -> Dict:
    """Run ``argv`` whole, its standard error into ``log``; its wall time, its peak RSS and
    its process tree's."""
    rc, wall, main, tree = run_measured(argv, log, stdin, stdout, poll_s=POLL_S, tree=True)
    if rc != 0:
        err = log.read_text(encoding="utf-8", errors="replace").strip()
        raise SeqkdError(f"`{' '.join(argv[2:])}` failed (exit {rc}): "
                         f"{err.splitlines()[-1] if err else 'no message'} (all of it: {log})")
    return {"wall_seconds": round(wall, 1), "peak_rss_mb": round(main / 2**20, 1),
            "peak_tree_rss_mb": round(tree / 2**20, 1)}


def _seqkd(*args: object) -> List[str]:
    return [*python_module("seqkd"), *map(str, args), "-q"]


def scale_bench(cfg: ScaleConfig) -> Dict:
    from seqkd.datasets import fetch_split
    from seqkd.manifests import load_manifest
    from seqkd.machine import check_disk_room, cpu_model, versions
    from seqkd.textio import read_lines, write_text

    cfg.check()
    out = Path(cfg.out_dir)
    corpus = out / "corpus"
    # before anything is fetched: prepare's folder takes about 2.9 times the corpus
    # (docs/GUIDE.md)
    factor = 1 + 2.9 * ("prepare" in cfg.stages) + 2 * ("distill" in cfg.stages)
    check_disk_room(out, cfg.pairs * LINE_BYTES * factor,
                    f"scale-bench of {cfg.pairs:,} pairs",
                    "ask for fewer --pairs, or give --out a folder on a larger disk")
    manifest = load_manifest("multi30k")
    split = {s: fetch_split(manifest, s, "en", "de")[0]
             for s in ("train", "valid", "test_2016_flickr")}
    train = list(zip(read_lines(split["train"]["en"]), read_lines(split["train"]["de"])))
    t0 = time.perf_counter()
    sizes = generate(train, cfg.pairs, corpus / "big", cfg.seed)
    for name, short in (("valid", "val"), ("test_2016_flickr", "t16")):
        for lang in ("en", "de"):
            write_text(corpus / f"{short}.{lang}",
                       "".join(f"{x}\n" for x in read_lines(split[name][lang])))
    figures: Dict = {"pairs": cfg.pairs, "corpus_mb": {k: round(v / 1e6, 1)
                                                      for k, v in sizes.items()},
                     "generate_seconds": round(time.perf_counter() - t0, 1), "stages": {},
                     "cpu": cpu_model(), "cores": os.cpu_count(), "versions": versions(),
                     "command": " ".join(sys.argv)}
    vocab = (["--spm-model", cfg.spm_model, "--dict", cfg.dictionary] if cfg.spm_model
             else ["--vocab-size", cfg.vocab_size, "--spm-sentences", cfg.spm_sentences])
    commands = {
        "prepare": (_seqkd("prepare", "--out", out / "prepare", "--train-prefix",
                           corpus / "big", "--valid-prefix", corpus / "val", "--test",
                           f"t16={corpus / 't16'}", "--workers", cfg.workers, *vocab,
                           "--force"), None, None),
        "distill": (_seqkd("distill", "--data", out / "prepare", "--out", out / "distill",
                           "--teacher", cfg.teacher, "--beam", cfg.beam, "--threads",
                           cfg.threads, "--force"), None, None),
        "translate": (_seqkd("translate", cfg.model, "--beam", cfg.beam, "--threads",
                             cfg.threads), corpus / "big.en", out / "translate.out"),
    }
    for stage in cfg.stages:
        argv, stdin, stdout = commands[stage]
        logger.info("%s on %d pairs: %s", stage, cfg.pairs, " ".join(map(str, argv[2:])))
        figures["stages"][stage] = {"command": " ".join(map(str, argv[3:])), **measure(
            argv, out / f"{stage}.stderr.txt", stdin, stdout)}
        logger.info("%s: %s", stage, figures["stages"][stage])
        if stdout:
            stdout.unlink()
    write_text(out / "figures.json", json.dumps(figures, indent=2) + "\n")
    write_text(out / "figures.md", markdown(figures))
    return figures


def markdown(figures: Dict) -> str:
    lines = [f"Generated corpus: {figures['pairs']:,} pairs "
             f"({figures['corpus_mb']['en']} MB en, {figures['corpus_mb']['de']} MB de), "
             f"{figures['cpu']} ({figures['cores']} cores)", "",
             "| stage | wall s | peak RSS MB, main process | peak RSS MB, process tree "
             f"(sampled every {POLL_S:g} s) | command |", "|---|---|---|---|---|"]
    for stage, f in figures["stages"].items():
        lines.append(f"| {stage} | {f['wall_seconds']} | {f['peak_rss_mb']} | "
                     f"{f['peak_tree_rss_mb']} | `seqkd {f['command']}` |")
    lines += ["", f"versions: {json.dumps(figures['versions'], sort_keys=True)}",
              f"command: `{figures['command']}`", ""]
    return "\n".join(lines)
