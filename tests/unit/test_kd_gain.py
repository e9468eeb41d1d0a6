"""The KD gain table: KD students pair with the baseline of the same name suffix."""

import json

import pytest

from conftest import seqkd
from seqkd.errors import SeqkdError
from seqkd.kd_gain import kd_gains


def _row(system, test, bleu, wps, beam=1, threads=1):
    return {"system": system, "test_set": test, "bleu": bleu, "src_wps_median": wps,
            "beam": beam, "threads": threads, "macs_per_src_token": 1000}


ROWS = [_row("teacher", "t16", 38.2, 300, beam=5),
        _row("baseline-3-1-b1", "t16", 30.0, 9000), _row("seqkd-3-1-b1", "t16", 32.5, 8800),
        _row("baseline-3-1-b1", "t17", 25.0, 9100), _row("seqkd-3-1-b1", "t17", 26.0, 8700),
        _row("baseline-6-1-b1", "t16", 37.0, 5000), _row("seqkd-6-1-b1", "t16", 37.4, 4900),
        _row("ens-seqkd-3-1-b1", "t16", 33.0, 8900),
        _row("seqkd-3-1-b1", "t16", 31.0, 4000, threads=2)]


def test_pairs_by_name_suffix_test_set_and_threads():
    gains = kd_gains(ROWS)
    got = {(g.student, g.test_set): (g.baseline, g.gain) for g in gains}
    assert got == {("seqkd-3-1-b1", "t16"): ("baseline-3-1-b1", 2.5),
                   ("seqkd-3-1-b1", "t17"): ("baseline-3-1-b1", 1.0),
                   ("seqkd-6-1-b1", "t16"): ("baseline-6-1-b1", 0.4),
                   ("ens-seqkd-3-1-b1", "t16"): ("baseline-3-1-b1", 3.0)}
    assert all(g.src_wps_student != 4000 for g in gains)  # the 2-thread row has no baseline


def test_kd_gain_command_writes_table_json_and_plot(tmp_path, capsys):
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"signature": {"sacrebleu_bleu": "nrefs:1|tok:13a"},
                                  "results": ROWS}))
    assert seqkd("kd-gain", report, "--out", tmp_path / "g") == 0
    assert "matplotlib" not in capsys.readouterr().err  # its font cache is not news
    md = (tmp_path / "g" / "kd-gain.md").read_text()
    assert "| t16 | 3-1-b1 | 1 | seqkd-3-1-b1 | 30.00 | 32.50 | **+2.50** |" in md
    assert "nrefs:1|tok:13a" in md
    assert (tmp_path / "g" / "kd-gain.png").stat().st_size > 1000
    assert json.loads((tmp_path / "g" / "kd-gain.json").read_text())[0]["gain"] == 2.5
    # a beam the report has no pair at: said with the beams it has, and nothing written
    assert seqkd("kd-gain", report, "--out", tmp_path / "b7", "--beam", "7") == 1
    assert "no KD/baseline pair at beam 7; its pairs are at beam 1" in capsys.readouterr().err
    assert not (tmp_path / "b7").exists()
    report.write_text(json.dumps({"results": [ROWS[0]]}))
    with pytest.raises(SeqkdError, match="has no pairs"):
        from seqkd.kd_gain import write
        write(report, tmp_path / "h")


def test_plot_names_every_student_in_a_legend_with_one_marker_per_student(tmp_path,
                                                                           monkeypatch):
    import seqkd.kd_gain as kg
    figs = []
    monkeypatch.setattr(kg, "save_figure", lambda fig, path: figs.append(fig))
    kg.plot(kd_gains(ROWS), tmp_path / "kd-gain.png")
    (fig,) = figs
    styles = {}
    for ax in fig.axes:
        handles, labels = ax.get_legend_handles_labels()
        assert ax.get_legend() is not None
        # in order of gain, each named with its gain
        gains = [float(lab.rsplit("(", 1)[1].rstrip(")")) for lab in labels]
        assert gains == sorted(gains, reverse=True)
        for h, lab in zip(handles, labels):
            name = lab.split(" (")[0]
            style = (tuple(h.get_facecolor()[0]), h.get_paths()[0].vertices.tobytes())
            assert styles.setdefault(name, style) == style  # the same in every panel
    assert set(styles) == {"seqkd-3-1", "seqkd-6-1", "ens-seqkd-3-1"}
    assert len(set(styles.values())) == 3
    assert [ax.get_title() for ax in fig.axes] == ["t16", "t17"]


def test_the_bench_compares_every_system_with_the_first_and_every_kd_pair(tmp_path):
    """bench.compare: intervals from the systems' outputs, shown by kd-gain."""
    from seqkd.stages.bench.compare import comparisons
    from seqkd.significance import paired_bootstrap

    refs = {"t16": [f"ein hund {i} läuft im park" for i in range(50)]}
    outputs = {("teacher", 1, "t16"): [f"ein hund {i} läuft im park" for i in range(50)],
               ("baseline-3-1-b1", 1, "t16"): [f"eine katze {i}" for i in range(50)],
               ("seqkd-3-1-b1", 1, "t16"): [f"ein hund {i} im park" for i in range(50)]}
    rows = [r for r in ROWS[:3]]
    got = comparisons(rows, outputs, refs)
    assert [(c["comparison"], c["system"], c["against"]) for c in got] == [
        ("vs first system", "baseline-3-1-b1", "teacher"),
        ("vs first system", "seqkd-3-1-b1", "teacher"),
        ("kd gain", "seqkd-3-1-b1", "baseline-3-1-b1")]
    gain = got[2]
    expected = paired_bootstrap(outputs[("baseline-3-1-b1", 1, "t16")],
                                outputs[("seqkd-3-1-b1", 1, "t16")], refs["t16"])
    assert (gain["delta"], gain["low"], gain["high"]) == (expected.delta, expected.low,
                                                          expected.high)
    assert gain["low"] > 0 and got[1]["high"] < 0  # better than the baseline, worse than first
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"results": rows, "comparisons": got}))
    assert seqkd("kd-gain", report, "--out", tmp_path / "g") == 0
    md = (tmp_path / "g" / "kd-gain.md").read_text()
    assert f"[{gain['low']:+.2f}, {gain['high']:+.2f}]" in md
