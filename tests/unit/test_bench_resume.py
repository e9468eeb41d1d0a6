"""A bench stopped after some systems goes on where it stood: the systems it measured are
taken from parts/ (same settings, boot, CPU and versions) and not measured again; the report
and its Markdown say so; a part measured otherwise is measured again. The measuring child is
replaced by a stand-in that records which systems it was asked for."""

import json

import pytest

import seqkd.stages.bench.stage as bench_stage
from conftest import seqkd
from seqkd.stages.bench.kinds import Ct2Kind
from seqkd.stages.bench.measure import Measured, TimedRuns


class Stopped(Exception):
    """The stand-in for a kill in the middle of a system's measurement."""


@pytest.fixture
def child(monkeypatch):
    """The systems the bench asked to measure, in order; ``stop_at``: the one whose
    measurement is stopped."""
    asked = {"names": [], "stop_at": None}

    def measure(job):
        asked["names"].append(job.spec.name)
        if job.spec.name == asked["stop_at"]:
            raise Stopped(job.spec.name)
        tests = {t: TimedRuns([0.5, 0.4], [f"{job.spec.name} {line}" for line in src], [0.01])
                 for t, src in job.tests.items()}
        return Measured(0.1, "int8", None, 10, 10, tests, 2**20,
                        {n: [f"{job.spec.name} blind"] * len(s) for n, s in job.once.items()})

    monkeypatch.setattr(bench_stage, "measure_in_child", measure)
    monkeypatch.setattr(bench_stage, "check_systems", lambda systems: None)
    monkeypatch.setattr(Ct2Kind, "shape", lambda self, spec: None)
    return asked


def run(prepared, out, *more):
    systems = [x for name in ("a", "b", "c") for x in ("--system", f"{name}=ct2:{out}-{name}")]
    return seqkd("bench", "--data", prepared, "--out", out, *systems, "--threads", "1",
                 "--repeats", "2", "-q", *more)


def stopped_at(system, prepared, out, child):
    """A bench run stopped in the middle of ``system``'s measurement."""
    child.update(names=[], stop_at=system)
    with pytest.raises(Stopped):
        run(prepared, out)


def test_a_stopped_bench_takes_what_it_measured_and_measures_the_rest(prepared, tmp_path,
                                                                      child, caplog):
    out = tmp_path / "bench"
    stopped_at("b", prepared, out, child)
    assert child["names"] == ["a", "b"] and not (out / "report.json").exists()
    assert [p.name for p in (out / "parts").iterdir()] == ["a.json"]
    first = (out / "outputs" / "a.t1.test.txt").read_text()
    # as if a's runs had been pinned to another core than the next attempt picks
    part = json.loads((out / "parts" / "a.json").read_text())
    (out / "parts" / "a.json").write_text(json.dumps({**part, "pinned": 7}))

    child.update(names=[], stop_at=None)
    caplog.clear()
    caplog.set_level("INFO", logger="seqkd.bench.stage")
    assert run(prepared, out) == 0
    assert child["names"] == ["b", "c"]  # a is not measured again
    # the log says which system of how many, and which were taken
    said = [r.getMessage() for r in caplog.records if r.name == "seqkd.bench.stage"]
    assert "a (1 of 3): measured by an earlier attempt of this bench, taken" in said
    assert any(m.startswith("measuring c (3 of 3: ct2, beam") and ", 1 thread," in m
               for m in said), said
    report = json.loads((out / "report.json").read_text())
    assert [r["system"] for r in report["results"]] == ["a", "b", "c"]
    assert list(report["resumed"]["taken"]) == ["a"]
    assert (out / "outputs" / "a.t1.test.txt").read_text() == first
    # each row names the core its system was measured on
    assert report["results"][0]["pinned_cpu"] == 7
    assert report["results"][1]["pinned_cpu"] == report["signature"]["pinned_cpu"] != 7
    assert report["results"][0]["src_wps_median"] > 0 and report["beside"]["seconds"] >= 0
    md = (out / "report.md").read_text()
    assert "- resumed: this run of the stage began at" in md and "of a at " in md
    # finished: nothing runs again; the parts are gone, so --force measures every system
    assert not (out / "parts").exists()
    child["names"] = []
    assert run(prepared, out) == 0 and child["names"] == []
    assert run(prepared, out, "--force") == 0 and child["names"] == ["a", "b", "c"]


def test_a_part_from_another_boot_or_other_settings_is_measured_again(prepared, tmp_path,
                                                                     child, monkeypatch):
    out = tmp_path / "bench"
    stopped_at("c", prepared, out, child)
    # the machine was restarted in between: its speeds are not this machine's now
    monkeypatch.setattr(bench_stage, "boot_id", lambda: "another-boot")
    stopped_at("c", prepared, out, child)
    assert child["names"] == ["a", "b", "c"]
    # other settings: refused while the stopped run is there; with --force, nothing taken
    child.update(names=[], stop_at=None)
    assert run(prepared, out, "--beam", "3") == 1
    assert child["names"] == []
    assert run(prepared, out, "--beam", "3", "--force") == 0
    assert child["names"] == ["a", "b", "c"]
    assert "resumed" not in json.loads((out / "report.json").read_text())


def test_parts_reject_what_does_not_match(tmp_path):
    from seqkd.stages.bench.beside import combined
    from seqkd.stages.bench.parts import Parts

    machine = {"config_hash": "h", "boot_id": "x", "cpu": "c", "versions": {"seqkd": "1"}}
    parts = Parts(tmp_path, machine)
    m = Measured(0.1, "int8", None, 1, 1, {"t": TimedRuns([1.0], ["x"])})
    parts.keep("s", {1: m}, {"seconds": 10.0, "other_cores": 0.0}, 1)
    assert parts.take("s")["measured"] == {1: m} and parts.take("s")["pinned"] == 1
    assert Parts(tmp_path, {**machine, "cpu": "other"}).take("s") is None
    (tmp_path / "parts" / "s.json").write_text("{not json")
    assert Parts(tmp_path, machine).take("s") is None
    # the same machine, but a part that is not whole: measured again, not a traceback
    for broken in ({"machine": machine}, {"machine": machine, "measured_at": "t",
                                          "measured": {"1": {"tests": {}}}},
                   {"machine": machine, "measured_at": "t", "measured": {"x": {}}}):
        (tmp_path / "parts" / "s.json").write_text(json.dumps(broken))
        assert Parts(tmp_path, machine).take("s") is None
    # the machine beside the bench over several spans: weighted by their seconds
    assert combined([{"seconds": 30.0, "other_cores": 0.0},
                     {"seconds": 10.0, "other_cores": 0.4}]) == {"seconds": 40.0,
                                                                 "other_cores": 0.1}
    assert combined([{"seconds": 1.0, "other_cores": 0.0}, None]) is None
