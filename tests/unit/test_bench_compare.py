"""The bench's declared comparisons, its seed groups, and `seqkd compare`, which recomputes a
report's differences from the systems' outputs and fails when one does not come out again."""

import gzip
import json

import pytest

from conftest import seqkd
from seqkd.errors import SeqkdError
from seqkd.plan import plan
from seqkd.stages.bench.compare import comparisons, pair_problems, seeds
from seqkd.significance import paired_bootstrap


def test_declared_pairs_are_checked_before_anything_runs(tmp_path, corpus):
    names = ["teacher", "s-b1", "t-b1"]
    assert pair_problems(["s-b1,t-b1", "t-b1, s-b1"], names) == []
    problems = pair_problems(["s-b1", "s-b1,s-b1", "s-b1,t-b1,x", "s-b1,nobody"], names)
    assert len(problems) == 4
    assert all("SYSTEM,AGAINST" in p for p in problems[:3])
    assert "no system named nobody" in problems[3] and "s-b1" in problems[3]
    cfg = {"work_dir": str(tmp_path / "w"),
           "data": {"train_prefix": str(corpus / "train"),
                    "valid_prefix": str(corpus / "valid")},
           "teacher": {"train": {"preset": "tiny", "max_updates": 1}},
           "distill": [{"name": "kd", "beam": 2}],
           "students": [{"name": "s", "data": "kd", "preset": "tiny", "max_updates": 1},
                        {"name": "t", "data": "kd", "preset": "tiny", "max_updates": 1}],
           "bench": {"student_beams": [1], "compare": ["s-b1,t-b1"]}}
    steps = {s.name: s for s in plan(cfg, tmp_path, "cfg.yaml")}
    assert steps["bench"].config.compare == ["s-b1,t-b1"]
    cfg["bench"]["compare"] = ["s-b1,t-b2", "s-b1"]
    with pytest.raises(SeqkdError) as e:
        plan(cfg, tmp_path, "cfg.yaml")
    assert "bench: compare 's-b1,t-b2': no system named t-b2" in str(e.value)
    assert "bench: compare 's-b1': give two different system names" in str(e.value)
    assert not (tmp_path / "w").exists()
    # the loop guard: every student also at each no-repeat n-gram size, named by it
    cfg["bench"].update(student_no_repeat_ngram=[0, 4], compare=["s-b1-nr4,s-b1"])
    systems = {s.name: s for s in plan(cfg, tmp_path, "cfg.yaml")[-1].config.systems}
    assert systems["s-b1-nr4"].no_repeat_ngram == 4 and systems["t-b1"].no_repeat_ngram == 0
    assert {"s-b1", "t-b1-nr4"} <= set(systems)
    for bad in ([-1], 4, [], [True]):
        cfg["bench"]["student_no_repeat_ngram"] = bad
        with pytest.raises(SeqkdError, match="student_no_repeat_ngram must be a list of "
                                             "n-gram sizes from 0"):
            plan(cfg, tmp_path, "cfg.yaml")
    # further systems (an ensemble of checkpoints from elsewhere), looked for at the bench
    cfg["bench"].update(student_no_repeat_ngram=[0], compare=["s-b1,ens"],
                        systems=[f"ens=fairseq:{tmp_path}/a.pt,with={tmp_path}/b.pt,beam=5"])
    systems = {s.name: s for s in plan(cfg, tmp_path, "cfg.yaml")[-1].config.systems}
    assert systems["ens"].paths == [f"{tmp_path}/a.pt", f"{tmp_path}/b.pt"]
    cfg["bench"]["systems"] = ["ens=fairseq:", "x"]
    with pytest.raises(SeqkdError) as e:
        plan(cfg, tmp_path, "cfg.yaml")
    assert "bench: systems: --system ens: give the model path" in str(e.value)
    assert "bench: systems: --system takes NAME=KIND:PATH" in str(e.value)
    from seqkd.stages.bench.systems import SystemSpec
    assert SystemSpec.parse("x=fairseq:/c.pt,norepeat=3").no_repeat_ngram == 3
    with pytest.raises(SeqkdError, match="norepeat=N: no output repeats an n-gram of N "
                                         "pieces, N from 0 to 64"):
        SystemSpec.parse("x=ct2:/m,norepeat=65")


def _row(system, bleu, chrf=50.0, test="t"):
    return {"system": system, "test_set": test, "threads": 1, "beam": 1, "bleu": bleu,
            "chrf": chrf}


def test_seed_groups_on_hand_made_rows():
    rows = [_row("teacher", 35.0), _row("captions-x-b1", 30.0, 55.0),
            _row("captions-x-s2-b1", 32.0, 57.0), _row("captions-x-s3-b1", 31.0, 56.0),
            _row("baseline-x-b1", 28.0), _row("baseline-x-s2-b1", 29.0),
            _row("lone-b1", 20.0), _row("captions-x-b1", 10.0, test="u")]
    gains = [{"comparison": "kd gain", "test_set": "t", "threads": 1, "system": s,
              "against": a, "delta": d, "low": lo}
             for s, a, d, lo in (("captions-x-b1", "baseline-x-b1", 2.0, 0.5),
                                 ("captions-x-s2-b1", "baseline-x-s2-b1", 3.0, -0.1))]
    got = {(e["what"], e["system"]): e for e in seeds(rows, gains)}
    assert set(got) == {("system", "captions-x-b1"), ("system", "baseline-x-b1"),
                        ("kd gain", "captions-x-b1")}  # one seed (lone, test u): no group
    c = got[("system", "captions-x-b1")]
    assert c["seeds"] == 3 and c["bleu"] == {"mean": 31.0, "sd": 1.0, "min": 30.0, "max": 32.0}
    assert c["chrf"]["mean"] == 56.0 and c["test_set"] == "t"
    g = got[("kd gain", "captions-x-b1")]
    assert g["against"] == "baseline-x-b1" and g["delta"]["mean"] == 2.5
    assert g["delta"]["sd"] == pytest.approx(0.71) and g["intervals_above_zero"] == 1


def _outputs(refs):
    """Systems whose outputs differ from the references by how many words they drop."""
    def drop(every):
        return [" ".join(r.split()[:-1]) if i % every == 0 else r for i, r in enumerate(refs)]
    return {"teacher": list(refs), "baseline-x-b1": drop(1), "baseline-x-s2-b1": drop(2),
            "kd-x-b1": drop(3), "kd-x-s2-b1": drop(4), "other-b1": drop(5)}


def test_compare_recomputes_a_report_from_its_outputs(prepared, tmp_path, capsys):
    refs = (prepared / "text" / "test.de").read_text(encoding="utf-8").splitlines()
    systems = _outputs(refs)
    folder = tmp_path / "outputs"
    folder.mkdir()
    for name, lines in systems.items():
        text = "".join(line + "\n" for line in lines)
        if name.startswith("kd"):  # a committed copy: gzipped
            with gzip.open(folder / f"{name}.t1.test.txt.gz", "wt", encoding="utf-8") as f:
                f.write(text)
        else:
            (folder / f"{name}.t1.test.txt").write_text(text, encoding="utf-8")
    rows = [_row(name, 10.0 + k, test="test") for k, name in enumerate(systems)]
    outputs = {(name, 1, "test"): lines for name, lines in systems.items()}
    compared = comparisons(rows, outputs, {"test": refs}, ["other-b1,kd-x-b1"])
    kinds = [c["comparison"] for c in compared]
    assert kinds.count("vs first system") == 5 and kinds.count("kd gain") == 2
    declared = [c for c in compared if c["comparison"] == "declared"]
    assert len(declared) == 1 and declared[0]["system"] == "other-b1"
    assert declared[0]["delta"] == paired_bootstrap(systems["kd-x-b1"], systems["other-b1"],
                                                    refs).delta
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"results": rows, "comparisons": compared}))
    assert seqkd("compare", report, "--outputs", folder, "--data", prepared,
                 "--pair", "kd-x-b1,teacher", "--json", tmp_path / "again.json", "-q") == 0
    printed = capsys.readouterr().out
    assert "| other-b1 | kd-x-b1 |" in printed and "declared" in printed  # the report's own
    assert "### Seeds" in printed and "kd-x-b1 minus baseline-x-b1 | 2 |" in printed
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["comparisons"][:len(compared)] == compared
    assert [c["system"] for c in again["comparisons"][len(compared):]] == ["kd-x-b1"]
    # a figure the outputs do not give: named, exit 1
    compared[-1] = dict(compared[-1], delta=compared[-1]["delta"] + 0.5)
    report.write_text(json.dumps({"results": rows, "comparisons": compared}))
    assert seqkd("compare", report, "--outputs", folder, "--data", prepared, "-q") == 1
    err = capsys.readouterr().err
    assert "1 comparison(s)" in err and "other-b1 minus kd-x-b1 on test" in err
    # a missing output file is named
    (folder / "other-b1.t1.test.txt").unlink()
    assert seqkd("compare", report, "--outputs", folder, "--data", prepared, "-q") == 1
    assert "expected other-b1.t1.test.txt" in capsys.readouterr().err
    # an output file cut short is named with its line count, before any bootstrap
    (folder / "other-b1.t1.test.txt").write_text("".join(
        line + "\n" for line in systems["other-b1"][:-3]), encoding="utf-8")
    assert seqkd("compare", report, "--outputs", folder, "--data", prepared, "-q") == 1
    err = capsys.readouterr().err
    assert f"other-b1.t1.test.txt has {len(refs) - 3:,} lines; test has {len(refs):,} " \
           f"references in {prepared}" in err, err
