"""seqkd scale-bench's parts: the generated corpus, the whole-process measurement, the checks."""

import random
import sys

import pytest

from seqkd.errors import SeqkdError
from seqkd.scale import ScaleConfig, generate, markdown, measure


def test_the_generated_corpus_joins_two_pairs_a_line_reproducibly(tmp_path):
    pairs = [(f"e{i} x", f"d{i} y") for i in range(50)]
    sizes = generate(pairs, 20, tmp_path / "a" / "big", seed=3)
    generate(pairs, 20, tmp_path / "b" / "big", seed=3)
    en = (tmp_path / "a" / "big.en").read_text().splitlines()
    de = (tmp_path / "a" / "big.de").read_text().splitlines()
    assert (tmp_path / "b" / "big.en").read_text().splitlines() == en and len(en) == len(de) == 20
    rng = random.Random(3)
    for e, d in zip(en, de):
        (e1, d1), (e2, d2) = rng.choice(pairs), rng.choice(pairs)
        assert (e, d) == (f"{e1} {e2}", f"{d1} {d2}")  # the German line is its English's pair
    assert sizes["en"] == (tmp_path / "a" / "big.en").stat().st_size


def test_a_stage_is_measured_whole_with_its_children_and_a_chatty_stderr_does_not_block(
        tmp_path):
    # 200 KB on stderr (more than a pipe holds), a child holding 60 MB
    code = ("import subprocess, sys; sys.stderr.write('w' * 200_000); "
            "subprocess.run([sys.executable, '-c', 'b = bytearray(60 << 20); "
            "import time; time.sleep(1.2)'])")
    f = measure([sys.executable, "-c", code], tmp_path / "log.txt")
    assert f["wall_seconds"] >= 1.2 and f["peak_rss_mb"] > 0
    assert f["peak_tree_rss_mb"] >= f["peak_rss_mb"] + 50  # the child's 60 MB counted
    assert (tmp_path / "log.txt").stat().st_size == 200_000
    with pytest.raises(SeqkdError, match=r"failed \(exit 3\): boom \(all of it: .*log2"):
        measure([sys.executable, "-c", "import sys; print('boom', file=sys.stderr); "
                 "sys.exit(3)"], tmp_path / "log2.txt")


def test_settings_are_checked_before_anything_is_generated(tmp_path):
    for kw, msg in (({"stages": ["prepare", "train"]}, "unknown"),
                    ({"stages": ["distill"]}, "needs --teacher"),
                    ({"stages": ["translate"]}, "needs --model"),
                    ({"spm_model": "m"}, "together")):
        with pytest.raises(SeqkdError, match=msg):
            ScaleConfig(out_dir=str(tmp_path / "o"), **kw).check()
    # the files named, all at once: a missing model was found only after a million pairs
    # were generated
    with pytest.raises(SeqkdError) as e:
        ScaleConfig(out_dir=str(tmp_path / "o"), stages=["distill", "translate"],
                    teacher=str(tmp_path / "t.pt"), model=str(tmp_path / "export"),
                    spm_model=str(tmp_path / "spm.model"), dictionary=str(tmp_path / "d")).check()
    for said in ("4 problems", "--spm-model", "--dict", "--teacher", "--model"):
        assert said in str(e.value)
    assert not (tmp_path / "o").exists()
    md = markdown({"pairs": 1000, "corpus_mb": {"en": 0.1, "de": 0.1}, "cpu": "C", "cores": 2,
                   "versions": {}, "command": "c", "stages": {"prepare": {
                       "command": "prepare --out x", "wall_seconds": 1.0, "peak_rss_mb": 2.0,
                       "peak_tree_rss_mb": 3.0}}})
    assert "| prepare | 1.0 | 2.0 | 3.0 | `seqkd prepare --out x` |" in md
