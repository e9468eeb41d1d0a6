"""Stage 1, prepare: fetch a parallel corpus, clean it, SentencePiece it, binarize it (its
settings in :mod:`.config`, where its text comes from in :mod:`.sources`).

Layout written under ``out_dir`` (see docs/GUIDE.md, "Work-folder layout"):

    text/{split}.{lang}   cleaned training text; validation and test sets as given
    spm.model, spm.vocab  joint SentencePiece model (trained, or the one given)
    dict.txt              fairseq dictionary (joint, shared by both sides)
    pieces/{split}.{lang} SentencePiece pieces, space-joined
    bin/                  fairseq binarized data + splits.json
    mono/                 monolingual source corpora, cleaned, pieces, binarized
                          (seqkd.stages.prepare.mono)
    report.json           counts: read, kept, dropped by rule
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

from seqkd import manifests, text_length
from seqkd.binarize import binarize_splits
from seqkd.corpus import load_spm
from seqkd.errors import SeqkdError
from seqkd.dictionaries import check_dictionary_file
from seqkd.stage import Stage
from seqkd.stages.prepare.cleaning import clean_stream
from seqkd.stages.prepare.config import PrepareConfig
from seqkd.stages.prepare.mono import binarize_mono, hashes_of, write_mono
from seqkd.stages.prepare.sources import gather_mono, gather_sources
from seqkd.stages.prepare.vocab import dictionary_from_spm, train_spm
from seqkd.textio import (check_no_empty, iter_parallel, progress, read_parallel,
                          require_file, write_lines, write_pairs, write_text)

logger = logging.getLogger("seqkd.prepare")


def prepare(cfg: PrepareConfig, force: bool = False) -> Dict:
    """Run the prepare stage; return its report (counts per split)."""
    if cfg.dictionary and not cfg.spm_model:
        raise SeqkdError("--dict needs --spm-model: a dictionary is only valid with its "
                         "SentencePiece model")
    if cfg.spm_model:  # files given: their kind is checked before any folder is made
        load_spm(cfg.spm_model)
    if cfg.dictionary:
        check_dictionary_file(cfg.dictionary)
    if not cfg.train_prefix and cfg.dataset:  # a bad manifest or language: before any folder
        manifest = manifests.load_manifest(cfg.dataset)
        for lang in (cfg.src, cfg.tgt):
            manifest.check_lang(lang)
    mono = gather_mono(cfg)  # your files checked, registered ones fetched: before any folder
    # your parallel files too (a registered dataset's are fetched in the stage, with progress)
    sources = gather_sources(cfg) if cfg.train_prefix else None
    out = Path(cfg.out_dir)
    stage = Stage("prepare", out, cfg, force=force)
    if not stage.begin():
        return stage.finished()["summary"]
    try:
        report = _prepare(cfg, out, mono, sources or gather_sources(cfg))
        write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
        stage.finish(report)
        return report
    finally:
        stage.close()


#: the share of the training pairs the length-ratio rule may drop before it is said
RATIO_WARNING = 0.2


def _ratio_hint(cfg: PrepareConfig) -> str:
    return (f"check that the two sides are aligned (line N of one the translation of line N "
            f"of the other); lengths are {text_length.UNIT}, so a side in another script "
            f"written without spaces is one word a sentence and fails the ratio (--max-ratio "
            f"{cfg.max_ratio:g}): for such a pair raise --max-ratio (1000 turns the rule off; "
            "in a config, data.max_ratio)")


def _write_train(cfg: PrepareConfig, text: Path, files: List[Tuple[Path, Path]]) -> Dict:
    """The training pairs cleaned and written, streamed: memory holds 8 bytes a pair for the
    repeat check, not the corpus. Returns the cleaning counts."""
    counts: Counter = Counter()
    write_pairs(text / f"train.{cfg.src}", text / f"train.{cfg.tgt}", clean_stream(
        lambda: progress(iter_parallel(files), desc="train pairs", unit="pair", leave=False),
        cfg.max_len, cfg.max_ratio, cfg.dedupe, counts, cfg.max_train_pairs))
    by_ratio = counts["dropped_ratio"] / max(counts["read"], 1)
    if not counts["kept"]:
        raise SeqkdError(f"no training pairs left after cleaning {files[0][0]}: {dict(counts)}"
                         + (f"; {_ratio_hint(cfg)}" if by_ratio > RATIO_WARNING else ""))
    if by_ratio > RATIO_WARNING:
        logger.warning("the length-ratio rule dropped %d of the %d training pairs (%.0f %%); "
                       "%s", counts["dropped_ratio"], counts["read"], 100 * by_ratio,
                       _ratio_hint(cfg))
    dropped = {k: v for k, v in counts.items() if k.startswith("dropped") and v}
    logger.info("train: read %d pairs, kept %d; dropped: %s", counts["read"], counts["kept"],
                dropped or "none")
    return dict(counts)


def _write_as_given(cfg: PrepareConfig, text: Path, name: str,
                    files: List[Tuple[Path, Path]]) -> Dict:
    """A validation or test set, kept as it is (no line may be empty)."""
    s, t = [], []
    for src_file, tgt_file in files:
        ps, pt = read_parallel(src_file, tgt_file)
        check_no_empty(src_file, ps)
        check_no_empty(tgt_file, pt)
        s += ps
        t += pt
    write_lines(text / f"{name}.{cfg.src}", s)
    write_lines(text / f"{name}.{cfg.tgt}", t)
    return {"read": len(s), "kept": len(s)}


def _vocabulary(cfg: PrepareConfig, out: Path, text: Path) -> Tuple[Path, Path]:
    """spm.model and dict.txt: the ones given, or trained from the cleaned training text."""
    spm_model, dict_path = out / "spm.model", out / "dict.txt"
    if cfg.spm_model:
        shutil.copyfile(require_file(cfg.spm_model, "SentencePiece model"), spm_model)
    else:
        logger.info("training a joint SentencePiece model (%s, %d pieces, on a sample of "
                    "up to %d sentences)", cfg.spm_model_type, cfg.vocab_size,
                    cfg.spm_sentences)
        train_spm([text / f"train.{cfg.src}", text / f"train.{cfg.tgt}"], out / "spm",
                  cfg.vocab_size, cfg.spm_model_type, cfg.workers, cfg.character_coverage,
                  cfg.spm_sentences)
    if cfg.dictionary:
        shutil.copyfile(require_file(cfg.dictionary, "fairseq dictionary"), dict_path)
    else:
        dictionary_from_spm(load_spm(spm_model), dict_path)
    return spm_model, dict_path


def _prepare(cfg: PrepareConfig, out: Path, mono: Dict[str, List[Path]],
             sources: Dict[str, List[Dict[str, Path]]]) -> Dict:
    report: Dict[str, Dict] = {}
    text = out / "text"
    for name, parts in progress(sources.items(), desc="read+clean", unit="split"):
        files = [(p[cfg.src], p[cfg.tgt]) for p in parts]
        report[name] = (_write_train(cfg, text, files) if name == "train" else
                        _write_as_given(cfg, text, name, files))
    if mono:  # one side cleaned; repeats, the training source and the sets scored on dropped
        train = hashes_of(text / f"train.{cfg.src}")
        scored = hashes_of(*(text / f"{name}.{cfg.src}" for name in sources if name != "train"))
        report["mono"] = {name: write_mono(out, name, files, cfg.src, cfg.max_len, train, scored)
                          for name, files in mono.items()}
        for name, counts in report["mono"].items():
            logger.info("monolingual %s: read %d lines, kept %d (%d dropped as sentences of "
                        "the validation or test sets)", name, counts["read"], counts["kept"],
                        counts["dropped_in_eval"])
    spm_model, dict_path = _vocabulary(cfg, out, text)
    # pieces and binaries in one pass, SentencePiece in cfg.workers processes
    binarize_splits(out / "bin", cfg.src, cfg.tgt, dict_path,
                    {name: (text / name, out / "pieces" / name) for name in sources},
                    spm_model, cfg.workers)
    binarize_mono(out, mono, cfg.src, dict_path, spm_model, cfg.workers)
    report["vocab"] = {"spm_pieces": load_spm(spm_model).get_piece_size(),
                       "dictionary_symbols": sum(1 for _ in open(dict_path, encoding="utf-8"))}
    return report
