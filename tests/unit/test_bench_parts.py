"""The bench package's parts: the typed job a child receives, rows and the speed signature,
the table of system kinds, and the efficiency protocol's input and command."""

import dataclasses

import pytest

from seqkd.stages.bench.efficiency import markdown_rows, repeat_to, translate_argv
from seqkd.stages.bench.measure import Job, Measured, TimedRuns
from seqkd.stages.bench.report import Row, SpeedSignature
from seqkd.stages.bench.kinds import KINDS, SystemKind
from seqkd.stages.bench.systems import SystemSpec
from seqkd.errors import SeqkdError


def test_a_job_and_its_result_cross_the_process_boundary_typed():
    spec = SystemSpec.parse("s=ct2:/m,beam=2,vmap=1,inter=2")
    job = Job(spec=spec, data="/d", beam=2, batch_tokens=64, threads=1, repeats=1,
              warmup_sentences=0, latency_sentences=3, max_len=9, tests={"t": ["a b"]},
              cpu=0, quiet=True)
    back = Job.from_json(job.to_json())
    assert back == job and isinstance(back.spec, SystemSpec) and back.spec.kind_of is KINDS["ct2"]
    m = Measured(1.5, "int8", None, 10, 10, {"t": TimedRuns([0.1, 0.2], ["x"], [0.01])}, 99)
    again = Measured.from_json(__import__("json").dumps(dataclasses.asdict(m)))
    assert again == m and isinstance(again.tests["t"], TimedRuns)


def test_every_system_kind_answers_everything_the_bench_asks():
    for name, kind in KINDS.items():
        for method in ("check", "model_files", "load", "shape", "library"):
            assert getattr(type(kind), method) is not getattr(SystemKind, method), (name, method)
    assert not KINDS["fairseq"].deploys(SystemSpec("t", "fairseq", "/ckpt.pt"))
    assert not KINDS["ct2"].deploys(SystemSpec("c", "ct2", "/nowhere"))
    with pytest.raises(SeqkdError, match="for ct2 systems"):
        SystemSpec.parse("t=fairseq:/ckpt.pt,vmap=1")
    with pytest.raises(SeqkdError, match="for ct2 systems"):
        SystemSpec.parse("t=fairseq:/ckpt.pt,target_prefix=deu_Latn")
    nllb = SystemSpec.parse("n=ct2:/nllb,source_prefix=eng_Latn,source_suffix=</s>,"
                            "target_prefix=deu_Latn,spm=/nllb/sentencepiece.bpe.model")
    assert nllb.own_tokenizer() == {"spm": "/nllb/sentencepiece.bpe.model",
                                    "source_prefix": "eng_Latn", "source_suffix": "</s>",
                                    "target_prefix": "deu_Latn"}
    assert KINDS["fairseq"].library({"fairseq": "1", "torch": "2"}) == "fairseq1+torch2"


def test_a_fairseq_ensemble_names_each_further_member_and_crosses_to_the_child():
    ens = SystemSpec.parse("ens=fairseq:/a.pt,with=/b.pt,beam=5,with=/train/c")
    assert ens.paths == ["/a.pt", "/b.pt", "/train/c"] and ens.beam == 5
    job = Job(spec=ens, data="/d", beam=5, batch_tokens=64, threads=1, repeats=1,
              warmup_sentences=0, latency_sentences=0, max_len=9, tests={}, cpu=None,
              quiet=True)
    assert Job.from_json(job.to_json()).spec.paths == ens.paths
    with pytest.raises(SeqkdError, match="CTranslate2 model translates alone"):
        SystemSpec.parse("c=ct2:/m,with=/n")
    with pytest.raises(SeqkdError, match="'with=' is not allowed"):
        SystemSpec.parse("e=fairseq:/a.pt,with=")


def test_speed_signature_names_every_setting_and_timing_fields():
    sig = SpeedSignature(beam=1, batch_tokens=64, threads=1, inter=1, pinned_cpu=3,
                         compute_type="int8", vmap=True, repeats=3, warmup=10, max_len=200,
                         no_repeat_ngram=4, cpu="Some|CPU", library="ctranslate2 4",
                         seqkd="0.2").format()
    assert sig == ("beam:1|batch:64tok|threads:1|inter:1|pin:cpu3|compute:int8|vmap:1|"
                   "repeats:3|warmup:10|maxlen:200|norepeat:4|cpu:Some/CPU|lib:ctranslate2 4|"
                   "version:seqkd0.2")
    t = Row.timing(100, 120, [2.0, 1.0, 4.0], [0.01, 0.02, 0.03])
    assert (t["seconds_median"], t["src_wps_median"], t["src_wps_min"], t["src_wps_max"],
            t["tgt_wps_median"]) == (2.0, 50.0, 25.0, 100.0, 60.0)
    assert t["latency_p50_ms"] == 20.0 and Row.timing(1, 1, [1.0], [])["latency_p95_ms"] is None
    assert {f.name for f in dataclasses.fields(Row)} >= {"speed_signature", "gmacs_per_s"}


def test_the_efficiency_input_repeats_the_test_set(tmp_path):
    n = repeat_to(["a b", "c", "d e f"], 7, tmp_path / "in.txt")
    lines = (tmp_path / "in.txt").read_text().splitlines()
    assert lines == ["a b", "c", "d e f", "a b", "c", "d e f", "a b"] and n == 14
    assert repeat_to(["一二三", "ab"], 3, tmp_path / "zh.txt") == 7  # a Han character a word
    with pytest.raises(SeqkdError, match="at least one line"):
        repeat_to([], 3, tmp_path / "x.txt")
    argv = translate_argv(SystemSpec("s", "ct2", "/m", beam=2, vmap=True, no_repeat_ngram=4),
                          1, 50, 512, batch_lines=1)
    assert argv[1:6] == ["-P", "-m", "seqkd", "translate", "/m"]
    assert " ".join(argv[6:]) == ("-q --beam 2 --threads 1 --max-len 50 --batch-tokens 512 "
                                  "--compute-type default --vmap --no-repeat-ngram 4 "
                                  "--batch-lines 1")
    wide = translate_argv(SystemSpec("s", "ct2", "/m", beam=1), 1, 50, 512, batch_lines=512,
                          parallel=2)
    assert " ".join(wide[5:]).endswith("--threads 1 --max-len 50 --batch-tokens 512 "
                                       "--compute-type default --parallel 2 --batch-lines 512")


def test_efficiency_rows_render_with_the_cpu_named():
    row = {"system": "s", "beam": 1, "compute_type": "int8", "vmap": False, "threads": 1,
           "pinned_cpu": 0, "test_set": "t", "sentences": 100000, "src_words": 5,
           "wall_seconds": 9.0, "load_seconds": 1.0, "wps": 1.0, "wps_without_load": 1.1,
           "peak_rss_mb": 50.0, "size_mb": 3.0, "latency_p50_ms": 1.0, "latency_p90_ms": 2.0,
           "latency_p99_ms": 3.0}
    md = "\n".join(markdown_rows([row, {**row, "threads": 2, "pinned_cpu": None,
                                        "latency_p50_ms": None}], {"cpu": "Test CPU"}))
    assert "repeated to 100,000 sentences" in md and "Test CPU" in md
    assert "| s | 1 | int8 | 1 (core 0) | 9.0 | 1.0 |" in md and "| 2 (all) |" in md
    assert "| 1.0 / 2.0 / 3.0 |" in md


def test_beside_counts_the_machines_busy_time_less_the_benchs_own(tmp_path, caplog):
    """Arithmetic on made-up counters: 30 s of the machine's busy time over 20 s of wall time,
    26 of them the bench's own: 0.2 cores beside it, more than a quiet machine has."""
    from seqkd.stages.bench.beside import Beside, machine_cpu_seconds, markdown_line

    readings = {"clock": iter([100.0, 120.0]), "machine": iter([1000.0, 1030.0]),
                "own": iter([5.0, 31.0])}
    beside = Beside(*(lambda k=k: next(readings[k]) for k in ("machine", "own", "clock")))
    assert beside.result() == {"seconds": 20.0, "other_cores": 0.2}
    assert "busy with other work: its speed figures come from a busy machine" in caplog.text
    assert "not a quiet machine" in markdown_line({"seconds": 20.0, "other_cores": 0.2})
    assert "(a quiet machine;" in markdown_line({"seconds": 900.0, "other_cores": 0.01})
    assert markdown_line(None) == ""  # a report made before it was measured
    # /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 10 20 5000 70 3 2 5 40 0\ncpu0 50 5 10 2500 35 1 1 2 20 0\n")
    hz = __import__("os").sysconf("SC_CLK_TCK")
    assert machine_cpu_seconds(stat) == pytest.approx(140 / hz)  # no idle, iowait or guest
    stat.write_text("intr 1 2 3\n")
    assert machine_cpu_seconds(stat) is None
    assert Beside(machine=lambda: None).result() is None


def test_beside_sees_a_process_that_spins_beside_it_and_not_its_own_work():
    """A real spinning process beside the watch is seen (about a core; trainings running on
    the machine only add to it), the watch's own spinning is not."""
    import subprocess
    import sys
    import time

    from seqkd.stages.bench.beside import Beside

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # started
        beside = Beside()
        time.sleep(1.5)
        seen = beside.result()
    finally:
        spinner.kill()
        spinner.wait()
    assert seen is not None and seen["other_cores"] > 0.5, seen
    # spinning here is this process's own time: it is taken out again
    own, machine = iter([0.0, 2.0]), iter([0.0, 2.0])
    assert Beside(machine=lambda: next(machine), own=lambda: next(own),
                  clock=iter([0.0, 2.0]).__next__).result()["other_cores"] == 0.0
