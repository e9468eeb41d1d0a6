"""Stage 1, prepare: its settings (``setting()``: option, default, help, bounds), checked
when made, and the files they name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Dict, List, Optional, Tuple

from seqkd import text_length
from seqkd.config import setting
from seqkd.errors import SeqkdError, SettingsProblems
from seqkd.textio import SAFE_NAME, check_mono_name, check_test_set_name


#: a language code: it names files (fairseq's SPLIT.SRC-TGT.LANG.bin, so no '.' in it)
LANG_CODE = r"[A-Za-z0-9][A-Za-z0-9_-]*"


@dataclass
class PrepareConfig:
    VOLATILE: ClassVar[Tuple[str, ...]] = ("workers", "out_dir")

    out_dir: str
    dataset: Optional[str] = setting("multi30k", "registered dataset (seqkd/registry/*.yaml); "
                                     "ignored with --train-prefix", pattern=SAFE_NAME.pattern)
    src: str = setting("en", "source language code (the suffix of your files; letters, "
                       "digits, _ and -, as en, pt_BR or zh-Hant)", pattern=LANG_CODE)
    tgt: str = setting("de", "target language code (another than the source's)",
                       pattern=LANG_CODE)
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
    max_len: int = setting(250, "drop training pairs with a side longer than N words, and "
                           f"monolingual lines longer than N; {text_length.UNIT}", min=1)
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
        if self.src.lower() == self.tgt.lower():
            problems.append(f"src and tgt are both {self.src!r}: the two sides are files named "
                            "by their codes, so one would overwrite the other; give each side "
                            "its own code (e.g. en and en_simple for a rewriting task)")
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
            raise SettingsProblems(problems)

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


def not_a_file(p: Path) -> str:
    """Why ``local_file``'s answer cannot be read, in words."""
    return f"{p} is a folder, not a file" if p.is_dir() else f"{p} not found (nor {p}.gz)"
