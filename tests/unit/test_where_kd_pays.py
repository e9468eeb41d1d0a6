"""scripts/where_kd_pays.sh, the 12-hour run of issue 19, with a fake seqkd that records its
argv: every stage it names exists in its config, nothing is exported untrained, every bench
system is built by an earlier phase, and every greedy system gets its blind-test file."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from seqkd.config_file import load_config
from seqkd.plan import plan

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "where_kd_pays.sh"

FAKE = """#!{python}
import json, os, sys
with open(os.environ["FAKE_SEQKD_LOG"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def run_script(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "seqkd"
    fake.write_text(FAKE.format(python=sys.executable))
    fake.chmod(0o755)
    blind = tmp_path / "blind.en"
    blind.write_text("A dog runs.\n")
    log = tmp_path / "argv.jsonl"
    out = tmp_path / "out"
    # the bench's outputs as `seqkd bench` names them
    (out / "bench" / "outputs").mkdir(parents=True)
    (out / "bench" / "outputs" / "seqkd-1-1-w128-b1.t1.test_2016_flickr.txt").write_text("x\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_SEQKD_LOG": str(log),
           "BLIND": str(blind)}
    proc = subprocess.run(["bash", str(SCRIPT), str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return calls, out


def stage_names(config):
    return {s.name for s in plan(load_config(ROOT / config), ROOT, config)}


def test_where_kd_pays_script(tmp_path):
    calls, out = run_script(tmp_path)
    runs = [c for c in calls if c[0] == "run"]
    assert runs, calls
    trained, exported = set(), set()
    for c in runs:
        config = next(a for a in c[1:] if a.endswith(".yaml"))
        only = c[c.index("--only") + 1:]
        known = stage_names(config)
        assert set(only) <= known, (config, sorted(set(only) - known))
        work = load_config(ROOT / config)["work_dir"]
        trained |= {f"{work}/{s[len('student-'):]}" for s in only if s.startswith("student-")}
        exported |= {f"{work}/{s[len('export-'):]}" for s in only if s.startswith("export-")}
    # every student exported was trained here (the teacher's export is not a student)
    assert {e for e in exported if not e.endswith("/teacher")} <= trained
    # the vocabulary-map export of a student trained here
    manual = [c for c in calls if c[0] == "export"]
    assert [c[1] for c in manual] == ["runs/multi30k-en-de-sizes/student-seqkd-2-1-w256"]

    bench = [c for c in calls if c[0] == "bench"]
    assert len(bench) == 1  # one bench run
    systems = [c for i, c in enumerate(bench[0]) if i and bench[0][i - 1] == "--system"]
    names = [s.split("=", 1)[0] for s in systems]
    assert len(names) == len(set(names))
    assert {"teacher", "teacher-ensemble", "teacher-int8-b5"} <= set(names)
    ensemble = systems[names.index("teacher-ensemble")]
    assert "with=runs/multi30k-en-de-ensemble/teacher" in ensemble
    for spec in systems:
        if ":" in spec and "=ct2:" in spec:
            folder = spec.split("=ct2:", 1)[1].split(",")[0].rsplit("/model", 1)[0]
            work, name = folder.rsplit("/export-", 1)
            assert (f"{work}/{name}" in exported
                    or folder == "runs/multi30k-en-de-sizes/export-seqkd-2-1-w256-vmap"), spec
    # each shape's baseline has a KD student of the same suffix (kd-gain pairs them)
    for n in names:
        if n.startswith("baseline-"):
            assert f"seqkd-{n[len('baseline-'):]}" in names
    assert any(c[:2] == ["kd-gain", f"{out}/bench/report.json"] for c in calls)

    # outputs: the bench's renamed, and a blind file per greedy student and per teacher
    got = sorted(p.name for p in (out / "outputs").iterdir())
    assert "seqkd-1-1-w128-b1.test_2016_flickr.de.gz" in got
    blind = {n for n in names if not n.endswith("-b5") or n == "teacher-int8-b5"}
    assert {g.split(".")[0] for g in got if ".test_2018_flickr." in g} == blind
    translate = [c for c in calls if c[0] == "translate"]
    fairseq = [c for c in translate if c[1].endswith("/checkpoint.pt")]
    assert len(fairseq) == 2 and all("--data" in c and "--beam 5" in shlex.join(c)
                                     for c in fairseq)
    assert sum("--ensemble" in c for c in translate) == 1
    vmap = [c for c in calls if c[0] == "translate" and "--vmap" in c]
    assert len(vmap) == 2 and all(shlex.join(c).count("--beam 1") == 1 for c in vmap)
