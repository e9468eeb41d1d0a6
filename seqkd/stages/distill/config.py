"""The distill stage's settings: one definition each (YAML key, command-line option, check),
and the rules that combine them, checked when a config is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Optional, Tuple

from seqkd.config import MAX_BEAM, MAX_SEED, given, repeat_problems, setting
from seqkd.errors import SeqkdError, SettingsProblems
from seqkd.teachers import TeacherKind, teacher_kind

METHODS = ("seq-kd", "seq-inter")
#: seq-KD's choice among the teacher's candidates: its best, or minimum Bayes risk
SELECTIONS = ("best", "mbr")
DECODERS = ("fairseq", "ctranslate2", "command")
FILTERS = ("off", "flag", "drop")
#: what an empty teacher output becomes: the training reference, or nothing (pair dropped)
EMPTY_CHOICES = ("reference", "drop")


@dataclass
class DistillConfig:
    VOLATILE: ClassVar[Tuple[str, ...]] = ("threads", "device", "num_shards", "shard_id",
                                           "out_dir")

    data: str
    out_dir: str
    teachers: List[str] = field(default_factory=list)
    sources: List[str] = setting(
        help="what the teacher translates, in this order: train (the training source) and "
        "monolingual corpora prepared with the data (prepare --mono / --mono-dataset NAME=...)",
        default_factory=lambda: ["train"])
    method: str = setting("seq-kd", "seq-kd keeps the teacher's best hypothesis, seq-inter the "
                          "n-best entry closest to the reference", choices=METHODS)
    decoder: str = setting("ctranslate2", "the teacher's decoder; an ensemble needs fairseq",
                           choices=DECODERS)
    compute_type: str = setting("int8", "CTranslate2 teacher quantization (float16 on a GPU)",
                                choices=("int8", "float32", "int16", "float16"))
    select: str = setting("best", "seq-kd: keep the teacher's best candidate, or the one with "
                          "the highest expected utility against the other candidates (mbr: "
                          "minimum Bayes risk, no reference needed)", choices=SELECTIONS)
    mbr_metric: str = setting("chrf", "mbr: the utility, sacrebleu's sentence chrF or BLEU",
                              choices=("chrf", "bleu"))
    sample: int = setting(0, "mbr: draw this many candidates by sampling from the teacher "
                          "instead of taking its beam's n-best (0: the n-best)", min=0,
                          max=MAX_BEAM)
    seed: int = setting(1, "random seed of the sampling", min=0, max=MAX_SEED)
    beam: int = setting(5, "beam size", min=1, max=MAX_BEAM)
    nbest: int = setting(0, "n-best size for seq-inter (0: the beam size)", min=0)
    select_metric: str = setting("bleu", "seq-inter: sentence-level similarity to the reference",
                                 choices=("bleu", "chrf"))
    batch_tokens: int = setting(1024, "batch size in source tokens", min=1)
    max_len: int = setting(200, "maximum output length in pieces", min=1)
    chunk_size: int = setting(1000, "lines per resumable chunk", min=1)
    filter: str = setting("flag", "anomalous pairs: listed in filter.tsv (flag), removed (drop) "
                          "or not looked for (off)", choices=FILTERS)
    min_score: Optional[float] = setting(None, "anomalous: teacher log-probability per token "
                                         "below this")
    max_len_ratio: float = setting(3.0, "anomalous: word-length ratio of source and hypothesis "
                                   "above this", min=1.0)
    loop_repeats: int = setting(3, "anomalous ('loop'): an n-gram of up to 4 words (Han "
                                "characters and kana count as words) repeated this many times "
                                "in a row in the output but not in the source (0: off)", min=0)
    word_loop_repeats: int = setting(0, "anomalous ('word_loop'): inside one word, a run of "
                                     "up to 4 characters repeated this many times in a row "
                                     "in the output but not in the source ('Ammmmmer', "
                                     "'Helelelel': how a teacher may write a word it does not "
                                     "know, and what a student learns to loop on); 0: off, 4 "
                                     "spares real words", min=0)
    empty: str = setting("reference", "an empty teacher output: train on the reference "
                         "instead, or drop the pair; counted in report.json",
                         choices=EMPTY_CHOICES)
    max_empty: float = setting(0.5, "stop with an error when more than this share of the "
                               "teacher's outputs are empty (a teacher that does not "
                               "translate: its data would be the references, or nothing)",
                               min=0.0, max=1.0)
    num_shards: int = 1
    shard_id: int = 0
    threads: int = setting(0, "CPU threads: batches decoded at once, one thread each (0: the "
                           "physical cores this process may use)", min=0)
    device: str = setting("auto", "where to decode: auto (a CUDA GPU when the decoder's "
                          "library sees one, else the CPU), cpu or cuda",
                          choices=("auto", "cpu", "cuda"))
    teacher_command: Optional[str] = setting(
        None, "any program as the teacher (decoder command): it reads source lines on stdin "
        "and writes one translation per line on stdout; run through the shell once per chunk, "
        "with SEQKD_THREADS (--threads) in its environment", metavar="CMD")
    command_timeout: float = setting(3600.0, "seconds a teacher command may take for one "
                                     "chunk", min=1.0)
    teacher_spm: Optional[str] = setting(None, "a CTranslate2 teacher folder's SentencePiece "
                                         "model (default: found in the folder: spm.model, "
                                         "source.spm, sentencepiece.bpe.model, ...)")
    teacher_target_spm: Optional[str] = setting(None, "its target-side model when the sides "
                                                "have their own (default: target.spm beside "
                                                "source.spm, else the one model)")
    source_prefix: str = setting("", "tokens put before each source line for a CTranslate2 "
                                 "teacher folder (e.g. eng_Latn for NLLB, __en__ for "
                                 "M2M-100)")
    source_suffix: str = setting("", "tokens put after each source line for it (e.g. </s> for "
                                 "Hugging Face conversions)")
    target_prefix: str = setting("", "tokens its output is forced to start with and that are "
                                 "removed from it (e.g. deu_Latn for NLLB, __de__ for "
                                 "M2M-100)")

    def selection_metric(self) -> Optional[str]:
        """The sentence metric that chooses among the candidates (seq-inter's, MBR's), or
        None (the 1-best)."""
        from seqkd.stages.distill.selection import rule

        return rule(self)[1]

    def other_metric(self) -> str:
        """How to choose by chrF instead, in the settings' words."""
        return (f"set {'select_metric' if self.method == 'seq-inter' else 'mbr_metric'} "
                "chrf")

    def teacher_kind(self) -> TeacherKind:
        """What the teacher is (:mod:`seqkd.teachers`)."""
        return teacher_kind(self.teachers, self.teacher_command)

    def input_files(self) -> List[Path]:
        return [Path(self.data) / "DONE.json", *self.teacher_kind().input_files(self)]

    def lineage_inputs(self) -> Dict[Path, Tuple[str, ...]]:
        """The data folder's training data, its test sets (copied for the student) and the
        monolingual corpora among the sources (seqkd.lineage)."""
        return {Path(self.data): ("training", "tests", *(f"mono:{s}" for s in self.sources
                                                          if s != "train"))}

    def consumes(self) -> List[Path]:
        """What its settings name, whether it exists yet or not (seqkd run's edges)."""
        return [Path(p) for p in (self.data, *self.teachers)]

    def __post_init__(self):
        """Rules that combine settings, checked when the config is built."""
        problems = self.source_problems()
        if self.loop_repeats == 1:
            problems.append(f"loop_repeats must be 0 (off) or at least 2, got "
                            f"{self.loop_repeats}")
        if self.word_loop_repeats in (1, 2):
            problems.append("word_loop_repeats must be 0 (off) or at least 3 (real words "
                            f"double letters and syllables), got {self.word_loop_repeats}")
        if self.method == "seq-inter" and self.n_hypotheses() < 2:
            problems.append("seq-inter needs an n-best list: use nbest 2 or more (and a beam "
                            "at least as large)")
        if self.select == "mbr":
            if self.method != "seq-kd":
                problems.append("select mbr chooses among the teacher's candidates without a "
                                "reference: use it with method seq-kd (seq-inter chooses by "
                                "the reference)")
            elif self.n_hypotheses() < 2:
                problems.append("select mbr needs two or more candidates: nbest 2 or more (with "
                                "a beam at least as large), or sample N")
        if self.sample and self.select != "mbr":
            problems.append("sample N draws candidates for select mbr: set select mbr, or "
                            "leave sample at 0")
        problems += self.unused_settings()
        if self.sample and self.nbest:
            problems.append("sample N replaces the beam's n-best: give sample or nbest, not "
                            "both")
        if not self.sample and self.n_hypotheses() > self.beam:
            problems.append(f"nbest ({self.n_hypotheses()}) cannot exceed beam ({self.beam}): "
                            f"a beam of {self.n_hypotheses()} or more, or a smaller nbest")
        problems += self.teacher_kind().problems(self)
        if problems:
            raise SettingsProblems(problems)

    def unused_settings(self) -> List[str]:
        """Settings given another value than their default where they do nothing: a typo'd
        recipe would otherwise run without the choice its author meant."""
        unused = []
        if given(self, "mbr_metric") and self.select != "mbr":
            unused.append(f"mbr_metric {self.mbr_metric} is the utility of select mbr, and "
                          f"select is {self.select}: set select mbr, or leave mbr_metric out")
        if given(self, "select_metric") and self.method != "seq-inter":
            unused.append(f"select_metric {self.select_metric} chooses seq-inter's n-best entry, "
                          f"and method is {self.method}: set method seq-inter, or leave "
                          "select_metric out (select mbr has mbr_metric)")
        if self.sample and given(self, "beam"):
            unused.append(f"beam {self.beam} is not searched when sample {self.sample} draws the "
                          "candidates: leave beam out, or sample at 0 for the beam's n-best")
        if given(self, "compute_type") and self.decoder != "ctranslate2":
            unused.append(f"compute_type {self.compute_type} is CTranslate2's quantization, and "
                          f"decoder is {self.decoder}: leave compute_type out")
        if given(self, "beam") and self.decoder == "command":
            unused.append(f"beam {self.beam}: a teacher command decodes as it does itself (set "
                          "its beam in the command), leave beam out")
        rules = [k for k in ("max_len_ratio", "loop_repeats", "word_loop_repeats", "min_score")
                 if given(self, k)]
        if self.filter == "off" and rules:
            unused.append(f"filter off looks for no anomalous pair, so {', '.join(rules)} "
                          "would do nothing: set filter flag or drop, or leave them out")
        if self.nbest and self.method == "seq-kd" and self.select == "best":
            unused.append(f"nbest {self.nbest} gives seq-inter or select mbr their candidates, "
                          "and this is seq-KD's 1-best: set method seq-inter or select mbr, or "
                          "leave nbest out")
        if given(self, "seed") and not self.sample:
            unused.append(f"seed {self.seed} seeds sample N, and sample is 0 (beam search has no "
                          "randomness): set sample, or leave seed out")
        return unused

    def source_problems(self) -> List[str]:
        """What is wrong with ``sources`` (the names themselves; that the data folder has
        them is checked when it exists)."""
        problems = []
        if not self.sources:
            problems.append("sources: name what the teacher translates (train and/or "
                            "monolingual corpora)")
        problems += repeat_problems("sources", self.sources)
        problems += [f"sources: {wrong}" for wrong in map(_name_problem, self.sources) if wrong]
        mono = [s for s in self.sources if s != "train"]
        if mono and self.method == "seq-inter":
            problems.append(f"seq-inter selects by the reference, and the monolingual "
                            f"source(s) {', '.join(mono)} have none: use method seq-kd (select "
                            "best or mbr), or sources [train]")
        return problems

    def n_hypotheses(self) -> int:
        """Candidates per line the teacher gives."""
        if self.method == "seq-kd" and self.select == "best":
            return 1
        return self.sample or self.nbest or self.beam


def well_named(sources: Any) -> List[str]:
    """The entries of ``sources`` as written that are names a source can have: whether the
    data folder holds them is worth saying only of those (the others' problem is said by
    :meth:`DistillConfig.source_problems`)."""
    return [name for name in (sources if isinstance(sources, list) else [])
            if isinstance(name, str) and not _name_problem(name)]


def _name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot name a source, or None (train, or a monolingual corpus's name)."""
    from seqkd.textio import check_mono_name

    if name == "train":
        return None
    try:
        check_mono_name(name)
    except SeqkdError as e:
        return str(e)
    return None
