"""Alignment invariants of chunking, sharding and merging; seq-inter selection; anomalies."""

import json
import re
import types

import pytest

from seqkd.stages.distill.anomalies import anomaly
from seqkd.stages.distill.merge import (chunk_path, chunk_ranges, iter_chunks, merge_chunks,
                                 shard_chunks, write_distilled)
from seqkd.stages.distill.selection import select_closest
from seqkd.errors import SeqkdError


@pytest.mark.parametrize("n,size", [(0, 3), (1, 3), (10, 3), (9, 3), (1000, 7)])
def test_chunks_cover_every_line_once_in_order(n, size):
    ranges = chunk_ranges(n, size)
    covered = [i for s, e in ranges for i in range(s, e)]
    assert covered == list(range(n))


@pytest.mark.parametrize("shards", [1, 2, 3, 5])
def test_shards_partition_the_chunks(shards):
    n = 11
    got = sorted(c for s in range(shards) for c in shard_chunks(n, shards, s))
    assert got == list(range(n))


def test_bad_shard_id():
    with pytest.raises(SeqkdError):
        shard_chunks(4, 2, 2)


def _write_chunk(out, i, rows):
    p = chunk_path(out, i)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(json.dumps({"hyps": r}) + "\n" for r in rows))


def test_merge_restores_source_order_and_checks_sizes(tmp_path):
    ranges = chunk_ranges(5, 2)
    # write chunks in reverse order, as different shards might
    _write_chunk(tmp_path, 2, [[["l4", -1.0]]])
    _write_chunk(tmp_path, 0, [[["l0", -1.0]], [["l1", -1.0]]])
    with pytest.raises(SeqkdError, match="1 of 3 chunks are not finished"):
        merge_chunks(tmp_path, ranges)
    _write_chunk(tmp_path, 1, [[["l2", -1.0]], [["l3", -1.0]]])
    assert [r[0][0] for r in merge_chunks(tmp_path, ranges)] == ["l0", "l1", "l2", "l3", "l4"]
    _write_chunk(tmp_path, 1, [[["l2", -1.0]]])
    with pytest.raises(SeqkdError, match="1 lines, expected 2"):
        merge_chunks(tmp_path, ranges)


def test_a_shard_reads_only_its_chunks_in_one_pass(tmp_path):
    src = tmp_path / "src"
    src.write_text("".join(f"s{i}\n" for i in range(10)))
    ranges = chunk_ranges(10, 3)  # 0-2, 3-5, 6-8, 9
    got = list(iter_chunks(src, ranges, [3, 1]))
    assert got == [(1, ["s3", "s4", "s5"]), (3, ["s9"])]
    assert list(iter_chunks(src, ranges, [])) == []
    src.write_text("".join(f"s{i}\n" for i in range(7)))  # shorter than planned
    with pytest.raises(SeqkdError, match="ended before chunk 2"):
        list(iter_chunks(src, ranges, [2]))


def rules(method, select_metric, filter_, empty="reference", select="best", mbr_metric="chrf",
          word_loop_repeats=0):
    """The distill settings write_distilled reads."""
    return types.SimpleNamespace(method=method, select_metric=select_metric, filter=filter_,
                                 empty=empty, min_score=None, max_len_ratio=3.0,
                                 loop_repeats=0, word_loop_repeats=word_loop_repeats,
                                 select=select, mbr_metric=mbr_metric, max_empty=1.0)


def test_the_streamed_merge_writes_line_aligned_files_and_keeps_nothing_on_error(tmp_path):
    src, ref = tmp_path / "src", tmp_path / "ref"
    src.write_text("a b\nc d\ne f\n")
    ref.write_text("A B\nC D\nE F\n")
    ranges = chunk_ranges(3, 2)
    _write_chunk(tmp_path, 0, [[["x y", -0.1]], [["", -0.2]]])
    _write_chunk(tmp_path, 1, [[["E F", -0.9], ["z", -0.1]]])
    args = (tmp_path, [("train", src, ref)], "de", "en", ranges)
    got = write_distilled(*args, rules("seq-inter", "chrf", "drop"))
    assert got["lines"] == 3 and got["pairs_written"] == 2 and got["anomaly_reasons"] == {
        "empty": 1} and got["seq_inter_changed"] == 0
    assert (tmp_path / "hyp.de").read_text() == "x y\n\nE F\n"
    assert (tmp_path / "text" / "train.en").read_text() == "a b\ne f\n"
    assert (tmp_path / "text" / "train.de").read_text() == "x y\nE F\n"
    assert (tmp_path / "filter.tsv").read_text().splitlines()[1].startswith("2\tempty\t")
    assert len((tmp_path / "nbest.jsonl").read_text().splitlines()) == 3
    # a damaged last chunk: an error, and the files of the run before are untouched
    _write_chunk(tmp_path, 1, [[["E F", -0.9]], [["extra", -0.1]]])
    with pytest.raises(SeqkdError, match="damaged"):
        write_distilled(*args, rules("seq-kd", "chrf", "off"))
    assert (tmp_path / "hyp.de").read_text() == "x y\n\nE F\n"
    assert not list(tmp_path.glob(".*.tmp")) and not list((tmp_path / "text").glob(".*"))
    # every pair filtered: filter.tsv says why, no training text is left
    _write_chunk(tmp_path, 1, [[["", -0.9]]])
    _write_chunk(tmp_path, 0, [[["", -0.1]], [["", -0.2]]])
    with pytest.raises(SeqkdError, match="every one of the 3 distilled pairs"):
        write_distilled(*args, rules("seq-kd", "chrf", "drop"))
    assert len((tmp_path / "filter.tsv").read_text().splitlines()) == 4
    assert not (tmp_path / "text" / "train.en").exists()
    # a loop inside one word, dropped when the rule is on (and counted as such)
    _write_chunk(tmp_path, 0, [[["x y", -0.1]], [["ein Ammmmmer", -0.2]]])
    _write_chunk(tmp_path, 1, [[["E F", -0.9]]])
    got = write_distilled(*args, rules("seq-kd", "chrf", "drop", word_loop_repeats=4))
    assert got["anomaly_reasons"] == {"word_loop": 1} and got["pairs_written"] == 2
    assert (tmp_path / "text" / "train.de").read_text() == "x y\nE F\n"
    # a translation into a script without spaces: its length in words (a Han character is
    # one) is what the length rule tests and what filter.tsv gives
    _write_chunk(tmp_path, 0, [[["x y", -0.1]], [["一二三四五六七", -0.2]]])
    got = write_distilled(*args, rules("seq-kd", "chrf", "drop"))
    assert got["anomaly_reasons"] == {"length_ratio": 1}
    assert (tmp_path / "filter.tsv").read_text().splitlines()[1].split("\t") == [
        "2", "length_ratio", "-0.2000", "3.50"]


def test_seq_inter_picks_the_hypothesis_closest_to_the_reference():
    ref = "ein Hund läuft über die grüne Wiese"
    nbest = [("eine Katze sitzt", -0.1), ("ein Hund läuft über die Wiese", -0.5),
             ("Hund", -0.2)]
    assert select_closest(nbest, ref, "bleu") == 1
    assert select_closest(nbest, ref, "chrf") == 1


def test_seq_inter_ties_keep_the_teachers_best():
    assert select_closest([("a b", -0.1), ("a b", -0.9)], "x y", "bleu") == 0


def test_anomalies():
    assert anomaly("a b c", "", -0.1, None, 3.0) == "empty"
    assert anomaly("a", "a b c d e", -0.1, None, 3.0) == "length_ratio"
    assert anomaly("a b", "x y", -5.0, -2.0, 3.0) == "low_score"
    assert anomaly("a b", "x y", -1.0, -2.0, 3.0) is None


# ---------------------------------------------------------------- loops in distilled outputs

from seqkd.stages.distill.anomalies import tandem_repeat, word_loop  # noqa: E402


@pytest.mark.parametrize("hyp,repeats,found", [
    ("ein Hund läuft am Strand am Strand am Strand", 3, "am Strand"),
    ("ein ein ein Hund", 3, "ein"),
    ("a b c d a b c d a b c d", 3, "a b c d"),
    ("ein Hund läuft am Strand am Strand", 3, None),       # twice is not a loop at 3
    ("ein Hund läuft am Strand am Strand", 2, "am Strand"),
    ("a b c d e a b c d e a b c d e", 3, None),           # 5-grams are not looked at
    ("", 3, None),
    ("Mann", 0, None),
])
def test_tandem_repeat(hyp, repeats, found):
    assert tandem_repeat(hyp.split(), repeats) == found


def test_loop_rule_flags_outputs_that_loop_where_the_source_does_not():
    looping = "Ein Mann in einem roten Hemd in einem roten Hemd in einem roten Hemd"
    assert anomaly("A man in a red shirt .", looping, -0.5, None, 3.0, loop_repeats=3) == "loop"
    assert anomaly("A man in a red shirt .", looping, -0.5, None, 3.0, loop_repeats=0) is None
    # the source repeats itself the same way: a faithful translation, not a loop
    assert anomaly("go go go team", "los los los Team", -0.5, None, 3.0, loop_repeats=3) is None
    # the length-ratio rule is checked first and still wins
    assert anomaly("a b", "x y x y x y x y", -0.1, None, 3.0, loop_repeats=3) == "length_ratio"
    # in a target without spaces a sentence is one white-space word: its Han characters and
    # kana are the units a loop is looked for in
    assert anomaly("A man rides a bike .", "一个男人一个男人一个男人骑车。", -0.5, None, 3.0,
                   loop_repeats=3) == "loop"
    assert anomaly("A man rides a bike .", "男性が自転車に乗る乗る乗る。", -0.5, None, 3.0,
                   loop_repeats=3) == "loop"
    assert anomaly("A man rides a bike .", "一个男人在骑自行车。", -0.5, None, 3.0,
                   loop_repeats=3) is None


@pytest.mark.parametrize("text,found", [
    ("Mehrere Feuerwehrleute reagieren auf einen Ammmmmer.", "mmmmm"),
    ("Zwei Personen machen am Strand Helelelel.", "elelelel"),
    ("Männer beim Michigigigiginginginging.", "igigigig"),
    ("Die Schifffahrt auf dem Rhein.", None),       # a triple letter is a real word
    ("Ein Kuckuck ruft, haha.", None),
    ("ein Hund ein Hund ein Hund", None),           # words, not inside one word
])
def test_word_loop_finds_a_run_inside_one_word(text, found):
    assert word_loop(text, 4) == found


def test_word_loop_rule_is_off_by_default_and_spares_what_the_source_has():
    src = "Several firefighters respond to an amber alert ."
    hyp = "Feuerwehrleute und ein Ammmmmer ."
    assert anomaly(src, hyp, -0.5, None, 3.0, loop_repeats=3) is None  # off: as before
    assert anomaly(src, hyp, -0.5, None, 3.0, word_loop_repeats=4) == "word_loop"
    assert anomaly("Zzzzz says the sleeper", "Zzzzz sagt der Schläfer", -0.5, None, 3.0,
                   word_loop_repeats=4) is None


# ---------------------------------------------------------------- job arrays

from seqkd.stages.distill.merge import scheduler_shard  # noqa: E402


@pytest.mark.parametrize("env,expected", [
    ({}, None),
    ({"SLURM_ARRAY_TASK_COUNT": "8", "SLURM_ARRAY_TASK_ID": "3"}, (8, 3)),
    ({"SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_ID": "11",
      "SLURM_ARRAY_TASK_MIN": "10"}, (4, 1)),
    ({"WORLD_SIZE": "2", "RANK": "1"}, (2, 1)),
    ({"SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_ID": "0", "WORLD_SIZE": "2",
      "RANK": "1"}, (4, 0)),                                   # the array wins
    ({"RANK": "1"}, None),
])
def test_shards_from_the_job_array_environment(env, expected):
    assert scheduler_shard(env) == expected


def test_a_bad_array_variable_is_an_error():
    with pytest.raises(SeqkdError, match="SLURM_ARRAY_TASK_ID"):
        scheduler_shard({"SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_ID": "x"})


def test_distill_cli_takes_the_shard_from_the_environment(monkeypatch):
    import seqkd.stages.distill.runner as d
    from seqkd.cli import main

    seen = {}
    monkeypatch.setattr(d, "distill", lambda cfg, force, merge_only: seen.update(
        n=cfg.num_shards, i=cfg.shard_id) or {})
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "5")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
    assert main(["distill", "--data", "d", "--out", "o", "--teacher", "t.pt", "-q"]) == 0
    assert seen == {"n": 5, "i": 4}
    assert main(["distill", "--data", "d", "--out", "o", "--teacher", "t.pt",
                 "--num-shards", "2", "--shard-id", "0", "-q"]) == 0
    assert seen == {"n": 2, "i": 0}


def test_ct2_translations_go_in_slices_that_an_interrupt_can_stop_between():
    """A long translation is several CTranslate2 calls of a few batches each (issue 20.16),
    outputs in input order, empty inputs left empty."""
    from seqkd.decoders import CT2Decoder, token_slices

    assert token_slices([3, 3, 3, 3, 10, 1], 6) == [[0, 1], [2, 3], [4], [5]]
    assert token_slices([], 6) == []

    class Result:
        def __init__(self, src):
            self.hypotheses, self.scores = [list(reversed(src))], [-1.0]

    calls, prefixes = [], []

    class Translator:
        def translate_batch(self, batch, **kw):
            calls.append(len(batch))
            prefixes.append(kw.get("target_prefix"))
            return [Result(s) for s in batch]

    dec = CT2Decoder.__new__(CT2Decoder)
    dec.translator, dec.beam, dec.nbest, dec.batch_tokens, dec.max_len = Translator(), 1, 1, 4, 9
    dec.use_vmap, dec.max_input_len, dec.batches_per_call = False, 9, 2
    dec.no_repeat_ngram = 0
    dec.target_prefix = []
    batch = [["a", "b"], [], ["c", "d", "e"], ["f"], ["g", "h", "i", "j"], ["k"]]
    out = dec.translate(batch)
    assert [h[0][0] for h in out] == [["b", "a"], [], ["e", "d", "c"], ["f"], ["j", "i", "h", "g"],
                                      ["k"]]
    assert len(calls) > 1 and sum(calls) == 5 and set(prefixes) == {None}
    # a forced target prefix (a language code) goes with every input of every call
    dec.target_prefix, calls[:], prefixes[:] = ["deu_Latn"], [], []
    dec.translate(batch)
    assert [p == [["deu_Latn"]] * n for p, n in zip(prefixes, calls)] == [True] * len(calls)
    # a call's own beam and n-best (a server's request) are checked, not taken as the default
    calls[:] = []
    for beam, nbest, message in ((0, None, "the beam must be a whole number of at least 1, "
                                           "got 0"),
                                 (None, 0, "the n-best must be a whole number of at least 1"),
                                 (2, 3, r"n-best \(3\) cannot exceed the beam size \(2\)")):
        with pytest.raises(SeqkdError, match=message):
            dec.translate(batch, beam=beam, nbest=nbest)
    assert calls == []


def test_an_ensemble_for_the_ctranslate2_decoder_is_reported_with_every_other_problem():
    from seqkd.stages.distill.config import DistillConfig

    with pytest.raises(SeqkdError) as e:
        DistillConfig(data="d", out_dir="o", teachers=["a.pt", "b.pt"], source_prefix="x")
    assert "source_prefix: only for a teacher that is a CTranslate2 model folder" in str(e.value)
    assert "decode the ensemble of 2 with decoder fairseq" in str(e.value)


def test_mbr_keeps_the_candidate_that_agrees_most_with_the_others():
    from seqkd.stages.distill.selection import select_mbr

    nbest = [("a cat sits on the mat", -0.1),       # the teacher's best, an outlier
             ("a dog runs in a park", -0.3),
             ("a dog runs in the park", -0.4),      # closest to all the others
             ("the dog runs in the park", -0.5)]
    assert select_mbr(nbest, "chrf") == 2 and select_mbr(nbest, "bleu") == 2
    # equal utilities: the earlier (better-scored) candidate; one candidate: itself
    assert select_mbr([("x y", -0.1), ("x y", -0.2)], "chrf") == 0
    assert select_mbr([("x y", -0.1)], "bleu") == 0
    # a candidate drawn twice stands for more of the distribution
    assert select_mbr([("a b c", -0.1), ("d e f", -0.2), ("d e f", -0.3)], "chrf") == 1


def test_the_merge_selects_by_mbr_and_a_monolingual_line_has_no_reference(tmp_path):
    train_src, train_ref, mono = tmp_path / "src", tmp_path / "ref", tmp_path / "mono"
    train_src.write_text("a b\n")
    train_ref.write_text("A B\n")
    mono.write_text("c d\ne f\n")
    _write_chunk(tmp_path, 0, [[["x", -0.1], ["A B", -0.2], ["A B", -0.3]],
                               [["", -0.1]],                      # empty, no reference
                               [["E F", -0.1], ["X Y Z", -0.2], ["E F", -0.3]]])
    got = write_distilled(tmp_path, [("train", train_src, train_ref), ("m", mono, None)],
                          "de", "en", chunk_ranges(3, 3), rules("seq-kd", "bleu", "off",
                                                                select="mbr"))
    assert got["selection"] == "mbr (chrf)" and got["selection_changed"] == 1
    assert (tmp_path / "text" / "train.de").read_text() == "A B\nE F\n"
    assert (tmp_path / "origin.tsv").read_text() == "source\tline\ntrain\t1\nm\t2\n"
    assert got["sources"]["m"] == {"lines": 2, "pairs_written": 1, "anomalous": 0,
                                   "selection_changed": 0, "empty_replaced_by_reference": 0,
                                   "empty_dropped": 1}
    assert got["sources"]["train"]["selection_changed"] == 1
    # the sources must cover the chunks: a shorter monolingual file is stale data
    mono.write_text("c d\n")
    with pytest.raises(SeqkdError, match="the chunks cover 3 lines but the source has 2"):
        write_distilled(tmp_path, [("train", train_src, train_ref), ("m", mono, None)],
                        "de", "en", chunk_ranges(3, 3), rules("seq-kd", "bleu", "off"))


@pytest.mark.parametrize("settings,message", [
    ({"sources": ["train", "caps"], "method": "seq-inter", "nbest": 2},
     "monolingual source(s) caps have none"),
    ({"method": "seq-inter", "select": "mbr", "nbest": 2}, "use it with method seq-kd"),
    ({"select": "mbr", "beam": 1}, "select mbr needs two or more candidates"),
    ({"sample": 4}, "sample N draws candidates for select mbr"),
    ({"select": "mbr", "sample": 4, "nbest": 2}, "give sample or nbest, not both"),
    ({"sources": []}, "name what the teacher translates"),
    ({"sources": ["train", "train"]}, "sources holds 'train' twice"),
    ({"sources": ["references"]}, "'references' is reserved"),
    # a setting that does nothing where it is given: the recipe meant something else
    ({"mbr_metric": "bleu"}, "mbr_metric bleu is the utility of select mbr, and select is best"),
    ({"nbest": 3}, "nbest 3 gives seq-inter or select mbr their candidates, and this is "
                   "seq-KD's 1-best"),
    ({"select": "mbr", "nbest": 3, "select_metric": "chrf"},
     "select_metric chrf chooses seq-inter's n-best entry, and method is seq-kd"),
    ({"select": "mbr", "nbest": 3, "seed": 7}, "seed 7 seeds sample N, and sample is 0"),
    ({"select": "mbr", "sample": 4, "beam": 8}, "beam 8 is not searched when sample 4 draws"),
    ({"decoder": "fairseq", "compute_type": "float32"},
     "compute_type float32 is CTranslate2's quantization, and decoder is fairseq"),
    ({"filter": "off", "loop_repeats": 5, "min_score": -2.0},
     "filter off looks for no anomalous pair, so loop_repeats, min_score would do nothing"),
])
def test_source_and_selection_rules_are_checked_when_the_config_is_built(settings, message):
    from seqkd.stages.distill.config import DistillConfig

    with pytest.raises(SeqkdError, match=re.escape(message)):
        DistillConfig(data="d", out_dir="o", teachers=["t.pt"], **settings)
    # where they act, the same values are taken
    DistillConfig(data="d", out_dir="o", teachers=["t.pt"], select="mbr", nbest=3,
                  mbr_metric="bleu")
    DistillConfig(data="d", out_dir="o", teachers=["t.pt"], method="seq-inter", nbest=3,
                  select_metric="chrf")
    DistillConfig(data="d", out_dir="o", teachers=["t.pt"], select="mbr", sample=4, seed=7)
    DistillConfig(data="d", out_dir="o", teachers=["t.pt"], compute_type="float32")
    DistillConfig(data="d", out_dir="o", teachers=["t.pt"], filter="drop", loop_repeats=5,
                  min_score=-2.0)
    with pytest.raises(SeqkdError, match="beam 3: a teacher command decodes as it does itself"):
        DistillConfig(data="d", out_dir="o", decoder="command", teacher_command="cat", beam=3)
    with pytest.raises(SeqkdError, match="seq-kd with select best"):
        DistillConfig(data="d", out_dir="o", decoder="command", teacher_command="cat",
                      select="mbr")
