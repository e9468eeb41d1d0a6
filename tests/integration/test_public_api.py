"""seqkd.load: the deployed student as a Python object, the same one `seqkd translate` uses."""

import subprocess
import sys

import pytest

import seqkd
from conftest import seqkd as run_seqkd


@pytest.fixture(scope="module")
def exported(teacher, prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("public-api") / "export"
    assert run_seqkd("export", teacher, "--data", prepared, "--out", out, "-q") == 0
    return out


@pytest.mark.slow
def test_load_translates_like_the_command(prepared, exported, tmp_path):
    out = exported
    lines = ["w1 w2 w3", "w4 w5", "w7 w7 w8 w9"]
    model = seqkd.load(out, beam=1)  # the export folder or its model/ both work
    got = model.translate(lines)
    assert len(got) == 3 and all(isinstance(x, str) for x in got)
    cli = subprocess.run([sys.executable, "-m", "seqkd", "translate", str(out / "model"),
                          "--beam", "1"], input="\n".join(lines) + "\n", text=True,
                         capture_output=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.splitlines() == got
    # one string is one sentence: its translation, not one per character
    assert model.translate(lines[0]) == got[0]
    # a document: each line translated as the command translates it, breaks kept
    assert model.translate([f"{lines[0]}\n\n{lines[1]}\r\n{lines[2]}", lines[1]]) == [
        f"{got[0]}\n\n{got[1]}\r\n{got[2]}", got[1]]
    with pytest.raises(seqkd.SeqkdError, match="a string or a list of strings"):
        model.translate([lines[0], None])
    # the n-best with scores (seqkd serve's /v1/translate): one string is one sentence too
    best = model.hypotheses(lines[0], beam=2, nbest=2)
    assert model.hypotheses([lines[0]], beam=2, nbest=2) == [best] and len(best) == 2
    assert all(isinstance(t, str) and isinstance(s, float) for t, s in best)
    with pytest.raises(seqkd.SeqkdError, match="the beam must be a whole number of at least 1"):
        model.hypotheses(lines, beam=0)
    with pytest.raises(seqkd.SeqkdError, match=r"n-best \(3\) cannot exceed the beam size"):
        model.hypotheses(lines, beam=2, nbest=3)
    with pytest.raises(seqkd.SeqkdError, match="is the folder of a prepare stage"):
        seqkd.load(prepared)
    with pytest.raises(seqkd.SeqkdError, match="beam must be at most 64"):
        seqkd.load(out, beam=65)
    with pytest.raises(seqkd.SeqkdError, match="not an `seqkd export` folder"):
        seqkd.load(tmp_path)
    with pytest.raises(seqkd.SeqkdError, match="does not exist: give the folder `seqkd export`"):
        seqkd.load(tmp_path / "not-there")
    with pytest.raises(seqkd.SeqkdError, match="must be a folder's path .* got int"):
        seqkd.load(5)


def repeated(pieces, n):
    """The n-grams that occur more than once in ``pieces``."""
    grams = [tuple(pieces[i:i + n]) for i in range(len(pieces) - n + 1)]
    return {g for g in grams if grams.count(g) > 1}


@pytest.mark.slow
def test_no_repeat_ngram_guard_in_both_decoders(prepared, teacher, exported):
    """The guard against a student's loops: no output repeats an n-gram of N pieces, with
    the exported model (load and translate alike) and with fairseq checkpoints. The tiny
    teacher learned to repeat a word the source repeats, so the guard changes that line."""
    from seqkd.corpus import encode_lines

    lines = ["w7 w7 w7 w7", "w1 w2 w3 w4"]
    plain, guarded = seqkd.load(exported, beam=1), seqkd.load(exported, beam=1,
                                                               no_repeat_ngram=3)
    pieces = lambda model: [h[0][0] for h in model.decoder.translate(  # noqa: E731
        encode_lines(model.sp, lines))]
    assert repeated(pieces(plain)[0], 3), pieces(plain)
    assert all(not repeated(p, 3) for p in pieces(guarded)), pieces(guarded)
    got = guarded.translate(lines)
    assert got[0] != plain.translate(lines[0])
    for model, extra in ((str(exported), []), (str(teacher), ["--data", str(prepared)])):
        cli = subprocess.run([sys.executable, "-m", "seqkd", "translate", model, *extra,
                              "--beam", "2", "--no-repeat-ngram", "3"],
                             input="\n".join(lines) + "\n", text=True, capture_output=True,
                             timeout=300)
        assert cli.returncode == 0, cli.stderr
        outs = cli.stdout.splitlines()
        assert len(outs) == 2 and all(not repeated(guarded.sp.encode(o, out_type=str), 3)
                                      for o in outs), (model, outs)
    with pytest.raises(seqkd.SeqkdError, match="no_repeat_ngram must be at least 0"):
        seqkd.load(exported, no_repeat_ngram=-1)
