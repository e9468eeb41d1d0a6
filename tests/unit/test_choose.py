"""seqkd choose: the best mean score over the choosing sets among the candidates fast enough,
never reading a claim set's score; the report's comparisons of the chosen one elsewhere."""

import copy
import json

import pytest

from conftest import seqkd
from seqkd.errors import SeqkdError
from seqkd.stages.choose.select import choose, markdown


def _row(system, test, bleu, wps, threads=1, chrf=50.0):
    return {"system": system, "test_set": test, "threads": threads, "beam": 1, "bleu": bleu,
            "chrf": chrf, "src_wps_median": wps}


ROWS = [_row("teacher", "dev", 38.0, 500), _row("teacher", "claim", 30.0, 500),
        _row("fast-b1", "dev", 36.0, 25000), _row("fast-b1", "claim", 29.0, 25000),
        _row("best-b1", "dev", 38.5, 16000), _row("best-b1", "claim", 30.4, 16000),
        _row("slow-b1", "dev", 39.0, 10000), _row("slow-b1", "claim", 31.0, 10000),
        _row("best-b5", "dev", 39.5, 3000), _row("best-b5", "claim", 31.5, 3000),
        _row("best-b1", "dev", 38.5, 30000, threads=2)]
REPORT = {"results": ROWS, "comparisons": [
    {"comparison": "vs first system", "test_set": "claim", "threads": 1, "system": "best-b1",
     "against": "teacher", "delta": 0.4, "low": -0.3, "high": 1.1},
    {"comparison": "vs first system", "test_set": "dev", "threads": 1, "system": "best-b1",
     "against": "teacher", "delta": 0.5, "low": -0.2, "high": 1.2}]}


def test_the_best_on_the_choosing_sets_among_those_fast_enough():
    got = choose(REPORT, ["dev"], candidates=["*-b1"], min_speedup=30)
    assert got["against"] == "teacher" and got["chosen"] == "best-b1"
    ranked = [(c["system"], c["mean"], c["out"]) for c in got["candidates"]]
    assert ranked == [("best-b1", 38.5, ""), ("fast-b1", 36.0, ""),
                      ("slow-b1", 39.0, "20.0x teacher's words/s on dev, under 30x")]
    # its figures elsewhere, not the ones on the set it was chosen on
    assert [(c["test_set"], c["delta"]) for c in got["claims"]] == [("claim", 0.4)]
    md = markdown(got)
    assert "**Chosen: best-b1.**" in md and "- claim: best-b1 minus teacher (vs first " \
        "system): +0.40 [-0.30, +1.10]" in md
    # without a speed bound the slow one wins; every candidate pattern counts
    assert choose(REPORT, ["dev"], candidates=["*-b1"])["chosen"] == "slow-b1"
    assert choose(REPORT, ["dev"])["chosen"] == "best-b5"
    assert choose(REPORT, ["dev"], metric="chrf", candidates=["*-b1"])["candidates"][0][
        "mean"] == 50.0
    # a report without speeds (an older one): no speed bound can be met, and it says why
    bare = copy.deepcopy(REPORT)
    for r in bare["results"]:
        del r["src_wps_median"]
    with pytest.raises(SeqkdError, match="fast-b1: no words/s of it or of teacher on dev"):
        choose(bare, ["dev"], candidates=["fast-b1"], min_speedup=30)
    assert choose(bare, ["dev"], candidates=["*-b1"])["chosen"] == "slow-b1"


def test_no_score_of_a_claim_set_moves_the_choice():
    for delta in (-5.0, 5.0):
        other = copy.deepcopy(REPORT)
        for r in other["results"]:
            if r["test_set"] == "claim" and r["system"] == "fast-b1":
                r["bleu"] += 10 * delta
        assert choose(other, ["dev"], candidates=["*-b1"], min_speedup=30)["chosen"] == \
            "best-b1"
    # a choice on the claim set's scores is another choice: there slow-b1 would win
    both = copy.deepcopy(REPORT)
    both["results"] += [_row(r["system"], "claim2", r["bleu"], r["src_wps_median"])
                        for r in ROWS if r["test_set"] == "dev" and r["threads"] == 1]
    assert choose(both, ["dev", "claim"], candidates=["*-b1"])["chosen"] == "slow-b1"


@pytest.mark.parametrize("kwargs, message", [
    ({"on": ["test9"]}, "--on test9: the report has no such test set"),
    ({"on": ["claim", "dev"]}, "--on names every set the report measured: leave out at "
                               "least one for the claims"),
    ({"on": ["dev"], "against": "nobody"}, "--against nobody: no such system"),
    ({"on": ["dev"], "candidates": ["*-b9"]}, "no system but teacher matches --candidates"),
    ({"on": ["dev"], "min_speedup": 100}, "no candidate can be chosen; the fastest, fast-b1: 50.0x teacher's words/s on dev, under 100x"),
    ({"on": ["dev"], "threads": 4}, "no rows at 4 thread(s)"),
])
def test_what_cannot_be_chosen_is_said(kwargs, message):
    with pytest.raises(SeqkdError, match=message.replace("(", "\\(").replace(")", "\\)")):
        choose(REPORT, **kwargs)


def test_the_command_prints_and_writes_the_choice(tmp_path, capsys):
    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT))
    assert seqkd("choose", report, "--on", "dev", "--candidates", "*-b1", "--min-speedup",
                 "30", "--json", tmp_path / "choice.json") == 0
    assert "**Chosen: best-b1.**" in capsys.readouterr().out
    assert json.loads((tmp_path / "choice.json").read_text())["chosen"] == "best-b1"
    assert seqkd("choose", report, "--on", "nowhere") == 1
    err = capsys.readouterr().err
    assert "--on nowhere: the report has no such test set" in err and "Traceback" not in err


def test_the_command_makes_a_stage_folder_with_out(tmp_path, capsys):
    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT))
    args = ("choose", report, "--on", "dev", "--candidates", "*-b1", "--min-speedup", "30",
            "--out", tmp_path / "choice")
    assert seqkd(*args) == 0
    md = (tmp_path / "choice" / "choice.md").read_text()
    assert "**Chosen: best-b1.**" in md and md in capsys.readouterr().out
    done = json.loads((tmp_path / "choice" / "DONE.json").read_text())
    assert done["summary"]["chosen"] == "best-b1"
    assert seqkd(*args) == 0 and md in capsys.readouterr().out  # done: the same, not again
    # a bench run again (another report) makes the choice again
    other = copy.deepcopy(REPORT)
    other["results"][2]["bleu"] = 40.0  # fast-b1 on dev
    report.write_text(json.dumps(other))
    assert seqkd(*args, "--force") == 0
    assert json.loads((tmp_path / "choice" / "choice.json").read_text())["chosen"] == "fast-b1"
    assert seqkd("choose", report) == 1
    assert "name the choosing sets with --on" in capsys.readouterr().err


def _config(tmp_path, corpus, **choose_section):
    return {"work_dir": str(tmp_path / "w"),
            "data": {"train_prefix": str(corpus / "train"), "valid_prefix": str(corpus / "valid"),
                     "test_prefixes": {"dev": str(corpus / "test"), "claim": str(corpus / "test")}},
            "teacher": {"train": {"preset": "tiny", "max_updates": 1}},
            "students": [{"name": "s", "preset": "tiny", "max_updates": 1}],
            "bench": {"student_beams": [1], "test_sets": ["dev", "claim"]},
            "choose": choose_section}


def test_a_choose_section_is_a_stage_after_the_bench(tmp_path, corpus):
    from seqkd.plan import plan

    steps = {s.name: s for s in plan(_config(tmp_path, corpus, choosing_sets=["dev"],
                                             min_speedup=30, candidates=["*-b1"]), tmp_path, "c.yaml")}
    cfg = steps["choose"].config
    assert steps["choose"].deps == ["bench"] and list(steps)[-1] == "choose"
    assert cfg.report == str(tmp_path / "w" / "bench" / "report.json")
    assert (cfg.choosing_sets, cfg.min_speedup, cfg.candidates) == (["dev"], 30, ["*-b1"])
    for section, message in (({"choosing_sets": ["test9"]}, "choose: choosing set 'test9': "
                                                            "the bench measures dev, claim"),
                             ({"choosing_sets": ["dev", "claim"]}, "every set the bench "
                                                                   "measures is a choosing set"),
                             ({"min_speedup": 30}, "choose: choosing_sets must name the sets"),
                             ({"choosing_sets": ["dev"], "metric": "ter"}, "metric"),
                             ({"choosing_sets": ["dev"], "against": "nobody"},
                              "choose: against 'nobody': the bench has no such system"),
                             ({"choosing_sets": ["dev"], "candidates": ["*-b5"]},
                              "no system of the bench but teacher matches candidates")):
        with pytest.raises(SeqkdError, match=message):
            plan(_config(tmp_path, corpus, **section), tmp_path, "c.yaml")
    cfg = _config(tmp_path, corpus, choosing_sets=["dev"])
    del cfg["bench"]
    with pytest.raises(SeqkdError, match="there is no bench to choose from"):
        plan(cfg, tmp_path, "c.yaml")


def test_a_bench_with_problems_leaves_choose_its_own(tmp_path, corpus):
    from seqkd.plan import plan

    cfg = _config(tmp_path, corpus, choosing_sets=["dev"], min_speedup=-1)
    cfg["bench"]["threads"] = [-1]
    with pytest.raises(SeqkdError) as e:
        plan(cfg, tmp_path, "c.yaml")
    text = str(e.value)
    assert "bench: threads must be at least 0" in text
    assert "choose: min_speedup must be at least 0.0, got -1.0" in text
    assert "no bench to choose from" not in text  # there is one; it has problems of its own


def test_valid_is_a_set_the_bench_may_measure_and_choose_may_choose_on(tmp_path, corpus):
    from seqkd.plan import plan

    cfg = _config(tmp_path, corpus, choosing_sets=["valid", "dev"])
    cfg["bench"]["test_sets"] = ["valid", "dev", "claim"]
    steps = {s.name: s for s in plan(cfg, tmp_path, "c.yaml")}
    assert steps["bench"].config.test_sets == ["valid", "dev", "claim"]
    assert steps["choose"].config.choosing_sets == ["valid", "dev"]
    cfg["bench"]["test_sets"] = ["valid", "test9"]
    with pytest.raises(SeqkdError, match=r"bench test_sets: no test set 'test9' is prepared; "
                                         r"the data section makes dev, claim \(and valid\)"):
        plan(cfg, tmp_path, "c.yaml")
