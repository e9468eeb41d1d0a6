"""Paired bootstrap intervals for a difference in BLEU or chrF (a student minus its teacher,
a KD student minus its baseline), from sacrebleu's own paired bootstrap.

sacrebleu's ``--paired-bs`` (``sacrebleu.significance.PairedTest``) gives each system's score,
the mean and 95 % half-width of its bootstrap scores, and a p-value against the baseline; it
does not give an interval for the difference itself. :func:`paired_bootstrap` runs
``PairedTest`` for those numbers, then scores the baseline and the system on the very same
resamples (the same seed, the same index draw, sacrebleu's sufficient statistics) and takes
the 2.5th and 97.5th percentile of their difference, with sacrebleu's own index rule
(:func:`sacrebleu.significance.estimate_ci`: the n//40-th score from either end).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from typing import Dict, Sequence

import numpy as np

from seqkd.errors import SeqkdError
from seqkd.scores import scorer

#: resamples and seed, as sacrebleu's defaults (``SACREBLEU_SEED`` overrides the seed there)
RESAMPLES = 1000
SEED = 12345


@dataclass(frozen=True)
class Interval:
    """``system`` minus ``baseline`` on one test set: the difference of the corpus scores, its
    paired-bootstrap 95 % interval, sacrebleu's p-value, and the length ratio of each (BLEU's
    hypothesis over reference length)."""
    metric: str
    baseline_score: float
    system_score: float
    delta: float
    low: float
    high: float
    p_value: float
    #: sacrebleu's mean of the system's bootstrap scores (its ``--paired-bs`` "μ")
    system_mean: float
    baseline_length_ratio: float
    system_length_ratio: float
    resamples: int
    seed: int

    def to_dict(self) -> Dict:
        return asdict(self)

    def format(self) -> str:
        return f"{self.delta:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


def paired_bootstrap(baseline: Sequence[str], system: Sequence[str], refs: Sequence[str],
                     metric: str = "bleu", resamples: int = RESAMPLES,
                     seed: int = SEED, tgt_lang: str = "") -> Interval:
    """The paired bootstrap of ``system`` against ``baseline`` (one reference each line), in
    ``tgt_lang`` (BLEU's tokenizer: seqkd.scores)."""
    from sacrebleu.significance import PairedTest

    if not (len(baseline) == len(system) == len(refs)) or not refs:
        raise SeqkdError(f"paired bootstrap needs the same number of lines from both systems "
                         f"and the references, got {len(baseline)}, {len(system)} and "
                         f"{len(refs)}")
    if resamples < 40:
        raise SeqkdError(f"paired bootstrap: use at least 40 resamples, got {resamples}")
    old = os.environ.get("SACREBLEU_SEED")
    os.environ["SACREBLEU_SEED"] = str(seed)
    # sacrebleu says what it computes at INFO, three lines per pair: a report of many pairs
    # would bury the lines that matter
    sacrebleu_log = logging.getLogger("sacrebleu")
    level = sacrebleu_log.level
    sacrebleu_log.setLevel(max(level, logging.WARNING))
    try:
        _, results = PairedTest([("baseline", list(baseline)), ("system", list(system))],
                                {metric: scorer(metric, tgt_lang)}, [list(refs)],
                                test_type="bs",
                                n_samples=resamples)()
    finally:
        sacrebleu_log.setLevel(level)
        if old is None:
            os.environ.pop("SACREBLEU_SEED", None)
        else:
            os.environ["SACREBLEU_SEED"] = old
    base_result, sys_result = next(v for k, v in results.items() if k != "System")
    # the resamples PairedTest drew for the system (same generator, same call)
    idxs = np.random.default_rng(seed).choice(len(system), size=(resamples, len(system)),
                                              replace=True)
    metric_scorer = scorer(metric, tgt_lang)
    scores, ratios = [], []
    for hyps in (baseline, system):
        stats = np.array(metric_scorer._extract_corpus_statistics(list(hyps), [list(refs)]),
                         dtype="float32")
        scores.append(np.array([metric_scorer._compute_score_from_stats(s.sum(0)).score
                                for s in stats[idxs]]))
        ratios.append(_length_ratio(hyps, refs, tgt_lang))
    diffs = np.sort(scores[1] - scores[0])
    cut = len(diffs) // 40
    return Interval(metric=metric, baseline_score=round(base_result.score, 2),
                    system_score=round(sys_result.score, 2),
                    delta=round(sys_result.score - base_result.score, 2),
                    low=round(float(diffs[cut]), 2), high=round(float(diffs[-cut - 1]), 2),
                    p_value=round(float(sys_result.p_value), 4),
                    system_mean=round(float(sys_result.mean), 2),
                    baseline_length_ratio=ratios[0], system_length_ratio=ratios[1],
                    resamples=resamples, seed=seed)


def _length_ratio(hyps: Sequence[str], refs: Sequence[str], tgt_lang: str = "") -> float:
    """BLEU's length ratio (hypothesis over reference length, in BLEU's tokens)."""
    score = scorer("bleu", tgt_lang).corpus_score(list(hyps), [list(refs)])
    return round(score.sys_len / max(1, score.ref_len), 3)
