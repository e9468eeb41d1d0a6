"""Stage 1, prepare: fetch a parallel corpus, clean it, SentencePiece it, binarize it.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Dict, List, Optional, Tuple


from seqkd import datasets
from seqkd.errors import SeqkdError
from seqkd.config import setting
from seqkd.binarize import binarize_splits
from seqkd.corpus import load_spm
from seqkd.fairseq_tools import check_dictionary_file
from seqkd.stage import Stage
from seqkd.stages.prepare.cleaning import clean_stream
from seqkd.stages.prepare.mono import binarize_mono, hashes_of, write_mono
from seqkd.stages.prepare.vocab import dictionary_from_spm, train_spm
from seqkd.textio import (SAFE_NAME, check_mono_name, check_no_empty, check_test_set_name,
                          iter_parallel, progress, read_parallel, require_file, write_lines,
                          write_pairs, write_text)

logger = logging.getLogger("seqkd.prepare")


@dataclass
class PrepareConfig:
    VOLATILE: ClassVar[Tuple[str, ...]] = ("workers", "out_dir")

    out_dir: str
    dataset: Optional[str] = setting("multi30k", "registered dataset (seqkd/registry/*.yaml); "
                                     "ignored with --train-prefix", pattern=SAFE_NAME.pattern)
    src: str = setting("en", "source language code (the suffix of your files)",
                       pattern=SAFE_NAME.pattern)
    tgt: str = setting("de", "target language code", pattern=SAFE_NAME.pattern)
    #: local files instead of a registered dataset: prefixes, files are PREFIX.LANG
    train_prefix: Optional[str] = setting(None, "your own training files PREFIX.SRC and "
                                          "PREFIX.TGT (plain or .gz), instead of --dataset")
    valid_prefix: Optional[str] = setting(None, "your own validation files PREFIX.SRC and "
                                          "PREFIX.TGT")
    test_prefixes: Dict[str, str] = field(default_factory=dict)
    #: monolingual source corpora for distillation: NAME -> your own files' PREFIX (PREFIX.SRC)
    mono: Dict[str, str] = field(default_factory=dict)
    #: monolingual source corpora: NAME -> a registered dataset (its train split, source side)
    mono_datasets: Dict[str, str] = field(default_factory=dict)
    test_sets: Optional[List[str]] = setting(None, "registered test splits to prepare "
                                             "(default: all of the dataset's)")
    max_train_pairs: Optional[int] = setting(None, "keep only the first N cleaned training "
                                             "pairs (for small runs)", min=1)
    max_len: int = setting(250, "drop training pairs with a side longer than N words", min=1)
    max_ratio: float = setting(3.0, "drop training pairs whose word-length ratio exceeds R",
                               min=1.0)
    dedupe: bool = setting(True, "keep repeated training pairs (default: drop them)")
    vocab_size: int = setting(8000, "joint SentencePiece vocabulary size", min=10)
    spm_model_type: str = setting("unigram", "SentencePiece model type",
                                  choices=("unigram", "bpe", "char", "word"))
    character_coverage: float = setting(1.0, "share of characters SentencePiece covers (lower "
                                        "it, e.g. to 0.9995, for scripts with thousands of "
                                        "characters)", min=0.98, max=1.0)
    spm_sentences: int = setting(1_000_000, "SentencePiece trains on a random sample of this "
                                 "many sentences (both sides together); its memory grows with "
                                 "it: about 0.2 GB + 2.8 KB per sentence of 130 characters",
                                 min=1000)
    spm_model: Optional[str] = setting(None, "reuse this SentencePiece model (e.g. the "
                                       "teacher's) instead of training one")
    dictionary: Optional[str] = setting(None, "reuse this fairseq dictionary (with "
                                        "--spm-model; e.g. the teacher's)", flag="--dict")
    workers: int = setting(2, "parallel workers for SentencePiece and binarizing", min=1)

    def __post_init__(self) -> None:
        if self.train_prefix:  # own files: no registered dataset is read, none is recorded
            self.dataset = None
        for name in [*self.test_prefixes, *(self.test_sets or [])]:
            check_test_set_name(name)
        problems = []
        for name in [*self.mono, *self.mono_datasets]:
            try:
                check_mono_name(name)
            except SeqkdError as e:
                problems.append(str(e))
        both = sorted(set(self.mono) & set(self.mono_datasets))
        if both:
            problems.append(f"monolingual corpus name(s) {', '.join(both)} given both as your "
                            "own files (mono) and as a registered dataset (mono_datasets): "
                            "give each corpus its own name")
        for dataset in self.mono_datasets.values():
            if not SAFE_NAME.fullmatch(dataset):
                problems.append(f"mono_datasets: {dataset!r} is not a dataset name")
        if problems:
            raise SeqkdError("; ".join(problems))

    def lineage_parts(self, out_dir: Path) -> Dict[str, List[Path]]:
        """Its outputs but its records, in parts (:mod:`seqkd.lineage`): ``training`` (the
        vocabulary, the training and validation data: all a training reads), ``tests`` (the
        test sets, and bin/splits.json that names them) and ``mono:NAME`` for each
        monolingual corpus (its files under ``mono/``). A corpus or a test set added leaves a
        trained teacher current, and a distillation of the other corpora."""
        beside = {"DONE.json", "config.yaml", "log.txt", "report.json"}
        # mono/text/ and mono/pieces/ hold NAME.SRC, mono/bin/ NAME.SRC.bin and .idx
        mono = {f"{name}.{self.src}{end}": f"mono:{name}" for name in self.mono_names()
                for end in ("", ".bin", ".idx")}
        parts: Dict[str, List[Path]] = {"training": [], "tests": [],
                                        **{part: [] for part in mono.values()}}
        for f in out_dir.rglob("*"):
            rel = f.relative_to(out_dir).parts
            if not f.is_file() or f.name.startswith(".") or rel[0] in beside:
                continue
            if rel[0] == "mono":
                if f.name in mono:
                    parts[mono[f.name]].append(f)
                continue
            training = len(rel) == 1 or f.name.split(".")[0] in ("train", "valid", "dict")
            parts["training" if training else "tests"].append(f)
        return parts

    def mono_names(self) -> List[str]:
        return [*self.mono, *self.mono_datasets]

    def input_files(self) -> List[Path]:
        """The local files this stage reads (their content goes into the stage's stamp)."""
        files = [Path(p) for p in (self.spm_model, self.dictionary) if p]
        prefixes = [self.train_prefix, self.valid_prefix, *self.test_prefixes.values()]
        return files + [local_file(prefix, lang) for prefix in filter(None, prefixes)
                        for lang in (self.src, self.tgt)] + [
            local_file(prefix, self.src) for prefix in self.mono.values()]

    def consumes(self) -> List[Path]:
        """What its settings name (seqkd run's edges): local files only, no stage's output
        unless the user points at one."""
        return self.input_files()


def local_file(prefix: str, lang: str) -> Path:
    """``PREFIX.LANG``, or ``PREFIX.LANG.gz`` when only that exists."""
    p = Path(f"{prefix}.{lang}")
    gz = Path(f"{p}.gz")
    return gz if not p.is_file() and gz.is_file() else p


def _not_a_file(p: Path) -> str:
    """Why ``local_file``'s answer cannot be read, in words."""
    return f"{p} is a folder, not a file" if p.is_dir() else f"{p} not found (nor {p}.gz)"


# ---------------------------------------------------------------- the stage


def _gather_sources(cfg: PrepareConfig) -> Dict[str, List[Dict[str, Path]]]:
    """split name -> its parallel parts ({lang: path} each) for train, valid and tests."""
    langs = (cfg.src, cfg.tgt)
    if cfg.train_prefix:
        if not cfg.valid_prefix:
            raise SeqkdError("local data needs a validation set too (--valid-prefix): "
                             "training uses it for early stopping and checkpoint selection")

        def local(prefix: str) -> Dict[str, Path]:
            out = {}
            for lang in langs:
                p = local_file(prefix, lang)
                if not p.is_file():
                    raise SeqkdError(
                        f"{lang} file for prefix {prefix}: {_not_a_file(p)}; a prefix "
                        f"stands for PREFIX.SRC and PREFIX.TGT with the codes of --src and --tgt "
                        f"(now {cfg.src} and {cfg.tgt}; they default to en and de)")
                out[lang] = p
            return out
        splits = {"train": [local(cfg.train_prefix)], "valid": [local(cfg.valid_prefix)]}
        for name, prefix in cfg.test_prefixes.items():  # names checked by PrepareConfig
            splits[name] = [local(prefix)]
        return splits
    if cfg.test_prefixes:
        raise SeqkdError("test_prefixes (--test NAME=PREFIX) are for your own files: give "
                         "--train-prefix and --valid-prefix too, or use --test-sets with a "
                         "registered dataset")
    if not cfg.dataset:
        raise SeqkdError("give a registered dataset (--dataset) or local files (--train-prefix)")
    manifest = datasets.load_manifest(cfg.dataset)
    # test_sets were checked by PrepareConfig, the manifest's split names by load_manifest
    names = ["train", "valid"] + list(
        cfg.test_sets if cfg.test_sets is not None
        else [s for s in manifest.splits if s not in ("train", "valid")])
    return {name: datasets.fetch_split(manifest, name, cfg.src, cfg.tgt) for name in names}


def _gather_mono(cfg: PrepareConfig) -> Dict[str, List[Path]]:
    """Each monolingual corpus's source-side files, checked (registered ones fetched)."""
    out: Dict[str, List[Path]] = {}
    for name, prefix in cfg.mono.items():
        p = local_file(prefix, cfg.src)
        if not p.is_file():
            raise SeqkdError(f"monolingual corpus {name}: {_not_a_file(p)}; --mono "
                             f"NAME=PREFIX stands for the file PREFIX.{cfg.src} (the source "
                             "language, --src)")
        out[name] = [p]
    for name, dataset in cfg.mono_datasets.items():
        out[name] = datasets.fetch_side(datasets.load_manifest(dataset), "train", cfg.src)
    return out


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
        manifest = datasets.load_manifest(cfg.dataset)
        for lang in (cfg.src, cfg.tgt):
            manifest.check_lang(lang)
    mono = _gather_mono(cfg)  # your files checked, registered ones fetched: before any folder
    out = Path(cfg.out_dir)
    stage = Stage("prepare", out, cfg, force=force)
    if not stage.begin():
        return stage.finished()["summary"]
    try:
        report = _prepare(cfg, out, mono)
        write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
        stage.finish(report)
        return report
    finally:
        stage.close()


def _write_train(cfg: PrepareConfig, text: Path, files: List[Tuple[Path, Path]]) -> Dict:
    """The training pairs cleaned and written, streamed: memory holds 8 bytes a pair for the
    repeat check, not the corpus. Returns the cleaning counts."""
    counts: Counter = Counter()
    write_pairs(text / f"train.{cfg.src}", text / f"train.{cfg.tgt}", clean_stream(
        lambda: progress(iter_parallel(files), desc="train pairs", unit="pair", leave=False),
        cfg.max_len, cfg.max_ratio, cfg.dedupe, counts, cfg.max_train_pairs))
    if not counts["kept"]:
        raise SeqkdError(f"no training pairs left after cleaning {files[0][0]}: {dict(counts)}")
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


def _prepare(cfg: PrepareConfig, out: Path, mono: Dict[str, List[Path]]) -> Dict:
    sources = _gather_sources(cfg)
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
