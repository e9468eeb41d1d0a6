"""Paired bootstrap intervals: the numbers sacrebleu's own --paired-bs gives, and an interval
for the difference drawn from the very same resamples."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest

from seqkd.errors import SeqkdError
from seqkd.significance import paired_bootstrap


def systems(n=120, seed=3):
    """A reference set and two systems, one of them closer to it."""
    rng = random.Random(seed)
    words = [f"wort{i}" for i in range(40)]
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) for _ in range(n)]

    def noisy(p):
        return [" ".join(w if rng.random() > p else rng.choice(words) for w in r.split())
                for r in refs]
    return refs, noisy(0.5), noisy(0.3)


@pytest.mark.parametrize("metric", ["bleu", "chrf"])
def test_scores_p_value_and_mean_are_sacrebleus_own(metric, tmp_path):
    refs, base, system = systems()
    for name, lines in (("ref", refs), ("a", base), ("b", system)):
        (tmp_path / name).write_text("".join(x + "\n" for x in lines))
    cli = subprocess.run([sys.executable, "-m", "sacrebleu", str(tmp_path / "ref"), "-i",
                          str(tmp_path / "a"), str(tmp_path / "b"), "--paired-bs", "-m", metric,
                          "-f", "json"], capture_output=True, text=True, check=True,
                         env={"SACREBLEU_SEED": "12345", "PATH": ""}).stdout
    theirs = json.loads(cli)[1]  # [baseline, system], each {"system", METRIC: {...}}
    theirs = next(v for k, v in theirs.items() if k != "system")
    got = paired_bootstrap(base, system, refs, metric)
    assert got.system_score == round(theirs["score"], 2)
    assert got.p_value == round(theirs["p_value"], 4)
    assert got.system_mean == round(theirs["mean"], 2)
    assert got.low <= got.delta <= got.high and got.low > 0  # a real improvement


def test_the_interval_is_the_difference_on_the_same_resamples():
    from sacrebleu.metrics import BLEU

    refs, base, system = systems(n=60)
    got = paired_bootstrap(base, system, refs, "bleu", resamples=200, seed=7)
    # computed the slow way: each resample scored as a corpus by sacrebleu
    idxs = np.random.default_rng(7).choice(60, size=(200, 60), replace=True)
    diffs = []
    for idx in idxs:
        score = (lambda hyps: BLEU().corpus_score([hyps[i] for i in idx],
                                                  [[refs[i] for i in idx]]).score)
        diffs.append(score(system) - score(base))
    diffs.sort()
    assert (got.low, got.high) == (round(diffs[5], 2), round(diffs[-6], 2))
    assert got.delta == round(BLEU().corpus_score(system, [refs]).score
                              - BLEU().corpus_score(base, [refs]).score, 2)
    # swapping the systems mirrors the interval
    back = paired_bootstrap(system, base, refs, "bleu", resamples=200, seed=7)
    assert (back.low, back.high) == (-got.high, -got.low)


def test_length_ratio_and_bad_inputs():
    refs, base, system = systems(n=30)
    got = paired_bootstrap(base, [" ".join(s.split()[:2]) for s in system], refs, "bleu",
                           resamples=100)
    assert got.system_length_ratio < 0.5 < got.baseline_length_ratio
    with pytest.raises(SeqkdError, match="same number of lines"):
        paired_bootstrap(base, system[:-1], refs)
    with pytest.raises(SeqkdError, match="metric must be bleu or chrf"):
        paired_bootstrap(base, system, refs, "ter")


def test_sacrebleus_own_info_lines_are_not_passed_on(caplog):
    # three lines per pair at INFO would bury a report's own lines (seqkd compare, kd-gain)
    import logging

    refs, base, system = systems(n=30)
    caplog.set_level(logging.INFO)
    level = logging.getLogger("sacrebleu").level
    paired_bootstrap(base, system, refs, "bleu", resamples=100)
    assert not [r for r in caplog.records if r.name.startswith("sacrebleu")]
    assert logging.getLogger("sacrebleu").level == level  # as it was before the call


def test_bleu_is_tokenized_for_the_target_language_as_sacrebleus_command_line_does():
    """Chinese output is one or two 13a tokens a sentence, and its BLEU means nothing: the
    bench, the bootstrap and distill's selection tokenize it with sacrebleu's zh tokenizer
    (its signature says tok:zh), as `sacrebleu -l en-zh` does; other languages keep 13a."""
    from sacrebleu.metrics import BLEU

    from seqkd.scores import scorer
    from seqkd.stages.distill.selection import select_mbr

    refs = ["一个男人在骑自行车。", "两只狗在雪地里玩。", "一个孩子在吃苹果。"] * 10
    base = ["一个男人骑车。", "两只猫在雪里玩。", "孩子在吃东西。"] * 10
    system = ["一个男人在骑车。", "两只狗在雪里玩。", "一个孩子在吃东西。"] * 10
    for code in ("zh", "zh-Hant", "zh_TW", "zho_Hans", "yue"):
        bleu = scorer("bleu", code)
        bleu.corpus_score(system, [refs])
        assert "tok:zh" in bleu.get_signature().format()
    for code in ("de", "pt_BR", "deu_Latn", ""):
        bleu = scorer("bleu", code)
        bleu.corpus_score(system, [refs])
        assert "tok:13a" in bleu.get_signature().format()
    got = paired_bootstrap(base, system, refs, "bleu", resamples=100, tgt_lang="zh")
    zh = BLEU(tokenize="zh")
    want = zh.corpus_score(system, [refs]).score - zh.corpus_score(base, [refs]).score
    assert got.delta == round(want, 2) and got.delta > 10
    # MBR by sentence BLEU: the candidate that agrees with the others, not the first
    nbest = [("两只狗在雪地里玩。", -0.1), ("一个男人在骑自行车。", -0.2),
             ("一个男人在骑车。", -0.3)]
    assert select_mbr(nbest, "bleu", "zh") in (1, 2)


def test_bleu_of_japanese_without_mecab_says_what_to_install():
    try:  # (MeCab is sacrebleu's extra; where it is installed there is no error)
        import MeCab  # noqa: F401
        pytest.skip("MeCab is installed here")
    except ImportError:
        pass
    from seqkd.scores import scorer

    with pytest.raises(SeqkdError, match=r"pip install 'sacrebleu\[ja\]'"):
        scorer("bleu", "ja")
    assert scorer("chrf", "ja") is not None  # chrF needs no tokenizer
    # a stage run on its own says it before it decodes, with what else may be done
    from seqkd.scores import require_scorer

    with pytest.raises(SeqkdError, match=r"^distill: BLEU of 'ja_JP' text .*, or set mbr_metric"):
        require_scorer("bleu", "ja_JP", "distill", "set mbr_metric chrf")
    require_scorer("bleu", "de", "distill")  # nothing to say
