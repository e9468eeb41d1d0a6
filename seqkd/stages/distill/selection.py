"""Which of the teacher's candidates a distilled line keeps: its best (seq-KD), the one closest
to the reference (seq-inter, Kim & Rush 2016), or the one that agrees most with the others
(minimum Bayes risk), by sacrebleu's sentence BLEU or chrF."""

from __future__ import annotations

import functools
from typing import Any, List, Optional, Sequence, Tuple

from seqkd.errors import SeqkdError
from seqkd.scores import scorer


@functools.lru_cache(maxsize=None)
def _scorer(metric: str, tgt_lang: str):
    return scorer(metric, tgt_lang, sentence=True)


def sentence_similarity(hyp: str, ref: str, metric: str, tgt_lang: str = "") -> float:
    """sacrebleu's sentence BLEU (effective order, tokenized for ``tgt_lang``) or chrF of
    ``hyp`` against ``ref``."""
    return _scorer(metric, tgt_lang).sentence_score(hyp, [ref]).score


def select_mbr(hyps: Sequence[Tuple[str, float]], metric: str, tgt_lang: str = "") -> int:
    """Minimum Bayes risk: the index of the candidate whose mean similarity to the other
    candidates is highest (the candidates stand for the teacher's distribution, so a repeated
    candidate weighs more); ties go to the earlier, better-scored one. No reference."""
    if not hyps:
        raise SeqkdError("select_mbr: empty candidate list")
    texts = [h for h, _ in hyps]
    best, best_utility = 0, None
    for i, hyp in enumerate(texts):
        utility = sum(sentence_similarity(hyp, other, metric, tgt_lang)
                      for j, other in enumerate(texts) if j != i)
        if best_utility is None or utility > best_utility:
            best, best_utility = i, utility
    return best


def select_closest(hyps: Sequence[Tuple[str, float]], ref: str, metric: str,
                   tgt_lang: str = "") -> int:
    """Index of the n-best entry closest to the reference (ties: the better-scored one)."""
    if not hyps:
        raise SeqkdError("select_closest: empty n-best list")
    best, best_sim = 0, None
    for i, (h, _) in enumerate(hyps):
        sim = sentence_similarity(h, ref, metric, tgt_lang)
        if best_sim is None or sim > best_sim:
            best, best_sim = i, sim
    return best


def rule(settings: Any) -> Tuple[str, Optional[str]]:
    """How a line's candidate is chosen under the distill settings, and by which sentence
    metric: ("closest", metric) for seq-inter, ("mbr", metric), or ("best", None)."""
    if settings.method == "seq-inter":
        return "closest", settings.select_metric
    if settings.select == "mbr":
        return "mbr", settings.mbr_metric
    return "best", None


def choose(row: List[Tuple[str, float]], ref: Optional[str], rules: Any,
           tgt_lang: str = "") -> int:
    """Which candidate a line keeps: seq-inter's closest to the reference, MBR's, or the
    best (the candidates in ``tgt_lang``)."""
    how, metric = rule(rules)
    if how == "closest":
        return select_closest(row, ref, metric, tgt_lang)
    if how == "mbr":
        return select_mbr(row, metric, tgt_lang)
    return 0
