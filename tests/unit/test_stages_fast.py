"""Stage logic over a fake fairseq (tests/fixtures/fake_fairseq.py) and a fake decoder: the
exact fairseq command lines, resuming, averaging, failures, line alignment. Milliseconds to
seconds, no model is trained."""

import json
import logging
import re
import sys

import pytest
import torch

from conftest import HERE, seqkd

FAKE = HERE / "fixtures" / "fake_fairseq.py"


@pytest.fixture
def fake_fairseq(tmp_path, monkeypatch):
    log = tmp_path / "fake-fairseq.jsonl"
    monkeypatch.setenv("SEQKD_FAIRSEQ_ENTRY", f"{sys.executable} {FAKE}")
    monkeypatch.setenv("SEQKD_FAKE_LOG", str(log))

    def calls():
        return [json.loads(x) for x in log.read_text().splitlines()] if log.is_file() else []
    return calls


@pytest.fixture
def fake_data(corpus, tmp_path, fake_fairseq):
    """A prepared folder (real: cleaning, SentencePiece and binarizing take a second)."""
    out = tmp_path / "data"
    assert seqkd("prepare", "--out", out, "--train-prefix", corpus / "train",
                 "--valid-prefix", corpus / "valid", "--test", f"t1={corpus / 'test'}",
                 "--test", f"t2={corpus / 'test'}", "--vocab-size", "60", "-q") == 0
    return out


def test_prepare_binarizes_without_fairseq_preprocess(fake_data, fake_fairseq):
    assert fake_fairseq() == []  # SentencePiece and binaries in one pass of its own
    binaries = fake_data / "bin"
    assert json.loads((binaries / "splits.json").read_text()) == {
        "train": "train", "valid": "valid", "t1": "test", "t2": "test1"}
    for split in ("train", "valid", "test", "test1"):
        for lang in ("en", "de"):
            assert (binaries / f"{split}.en-de.{lang}.bin").stat().st_size > 0
    # the two test sets are one file: the same bytes under fairseq's two names
    assert (binaries / "test.en-de.de.bin").read_bytes() == \
        (binaries / "test1.en-de.de.bin").read_bytes()


def _train_args(data, out, *extra):
    return ["train", "--role", "student", "--data", data, "--out", out, "--preset",
            "enc6-dec1", "--max-epoch", "3", "--threads", "1", "-q", *extra]


def test_student_training_command_and_checkpoint_average(fake_data, fake_fairseq, tmp_path):
    out = tmp_path / "student"
    assert seqkd(*_train_args(fake_data, out, "--average-last", "2")) == 0
    call = fake_fairseq()[-1]
    save = str(out / "checkpoints")
    assert call["tool"] == "train" and call["trust"] == [save]
    from seqkd.fairseq_tools import PLUGIN_DIR
    assert call["argv"] == [
        str(fake_data / "bin"), "--source-lang", "en", "--target-lang", "de",
        "--user-dir", str(PLUGIN_DIR), "--arch",
        "seqkd_student_enc6_dec1", "--share-all-embeddings", "--optimizer", "adam",
        "--adam-betas", "(0.9,0.98)", "--clip-norm", "1.0", "--lr", "0.002",
        "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "400", "--dropout", "0.2",
        "--weight-decay", "0.0001", "--label-smoothing", "0.1", "--max-tokens", "8192",
        "--save-dir", save, "--seed", "1", "--num-workers", "0", "--patience", "5",
        "--log-format", "simple", "--log-interval", "10", "--keep-last-epochs", "2",
        "--attention-dropout", "0.1", "--encoder-normalize-before",
        "--decoder-normalize-before", "--cpu", "--criterion", "label_smoothed_cross_entropy",
        "--max-epoch", "3"]
    done = json.loads((out / "DONE.json").read_text())["summary"]
    assert done["averaged"] == ["checkpoint2.pt", "checkpoint3.pt"]
    assert done["checkpoint"] == str(out / "checkpoints" / "checkpoint_avg.pt")
    assert done["best_valid_loss"] == 3.5
    avg = torch.load(done["checkpoint"], weights_only=False)
    assert avg["model"]["w"].tolist() == [2.5, 2.5]


def test_a_training_that_validated_once_reports_its_validation_loss(fake_data, fake_fairseq,
                                                                      tmp_path):
    """fairseq's first validation carries no best_loss: the loss itself is the best."""
    out = tmp_path / "student"
    args = _train_args(fake_data, out)
    args[args.index("--max-epoch") + 1] = "1"
    assert seqkd(*args) == 0
    assert json.loads((out / "DONE.json").read_text())["summary"]["best_valid_loss"] == 4.5


def test_word_kd_student_trusts_its_teacher_and_names_it_once(fake_data, fake_fairseq, tmp_path):
    teacher = tmp_path / "teacher"
    (teacher / "checkpoints").mkdir(parents=True)
    torch.save({"model": {"w": torch.zeros(1)}, "cfg": {"model": {"arch": "transformer"}}},
               teacher / "checkpoints" / "checkpoint_best.pt")
    (teacher / "dict.txt").write_text((fake_data / "dict.txt").read_text())
    out = tmp_path / "s"
    assert seqkd(*_train_args(fake_data, out, "--kd-teacher", teacher, "--kd-alpha", "0.7")) == 0
    call = fake_fairseq()[-1]
    ckpt = str(teacher / "checkpoints" / "checkpoint_best.pt")
    assert call["trust"] == [str(out / "checkpoints"), ckpt]
    argv = call["argv"]
    assert argv[argv.index("--criterion") + 1:argv.index("--criterion") + 8] == [
        "seqkd_word_kd", "--kd-teachers", ckpt, "--kd-alpha", "0.7", "--kd-temperature", "1.0"]
    # the stamp records the teacher as given (the folder), with its content digest
    settings = json.loads((out / "DONE.json").read_text())["settings"]
    assert settings["kd_teachers"] == [str(teacher)] and ckpt in settings["input_files"]


def test_a_word_kd_weight_without_a_teacher_is_said_not_ignored(fake_data, fake_fairseq,
                                                               tmp_path, capsys):
    out = tmp_path / "s"
    assert seqkd(*_train_args(fake_data, out, "--kd-alpha", "0.3", "--kd-temperature", "2")) == 1
    err = capsys.readouterr().err
    assert "kd_alpha 0.3 is a setting of word-level KD, which needs a teacher (--kd-teacher) " \
           "or its top-k cache (--kd-cache): give one, or leave kd_alpha out" in err, err
    assert "kd_temperature 2 is a setting of word-level KD" in err
    assert not out.exists() and fake_fairseq() == []


def test_a_full_disk_in_fairseq_is_one_error_naming_the_stage_folder(fake_data, fake_fairseq,
                                                                     tmp_path, monkeypatch,
                                                                     capsys):
    out = tmp_path / "s"
    monkeypatch.setenv("SEQKD_FAKE_DISK_FULL", "train")
    assert seqkd(*_train_args(fake_data, out)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"no space left on the device while writing into {out} (" in err
    assert "MB free there now" in err and not (out / "DONE.json").exists()


def test_an_average_of_fewer_epochs_than_asked_is_warned_of(fake_data, fake_fairseq, tmp_path,
                                                           caplog):
    """--average-last 5 over a 3-epoch budget: the average is of the 3 there are, and the
    warning says so (it went to log.txt only)."""
    caplog.set_level(logging.WARNING)
    out = tmp_path / "s"
    assert seqkd(*_train_args(fake_data, out, "--average-last", "5")) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("--average-last 5: the training left 3 epoch checkpoint(s)" in w
               for w in warned), warned
    done = json.loads((out / "DONE.json").read_text())["summary"]
    assert done["averaged"] == ["checkpoint1.pt", "checkpoint2.pt", "checkpoint3.pt"]


def test_a_diverged_training_says_so_and_what_to_change(fake_data, fake_fairseq, tmp_path,
                                                       monkeypatch, capsys):
    """fairseq's last lines after a divergence are a StopIteration inside its NaN detector;
    the FloatingPointError that says what happened is 40 lines above them."""
    out = tmp_path / "s"
    monkeypatch.setenv("SEQKD_FAKE_DIVERGE", "train")
    assert seqkd(*_train_args(fake_data, out)) == 1
    err = capsys.readouterr().err.strip()
    assert "fairseq-train failed (exit 1): the training diverged: its gradients became NaN " \
           "or infinite; lower the learning rate (--lr" in err, err
    assert "StopIteration" not in err and "fairseq-train.log" in err
    assert not (out / "DONE.json").exists()


def test_failed_training_leaves_no_stamp_and_a_rerun_resumes(fake_data, fake_fairseq,
                                                            tmp_path, monkeypatch, capsys):
    out = tmp_path / "s"
    monkeypatch.setenv("SEQKD_FAKE_FAIL", "train")
    assert seqkd(*_train_args(fake_data, out)) == 1
    err = capsys.readouterr().err
    assert "fairseq-train failed (exit 1)" in err and "told to fail" in err
    assert "fairseq-train.log" in err and not (out / "DONE.json").exists()
    # as if it had been killed after epoch 1
    (out / "checkpoints").mkdir(exist_ok=True)
    torch.save({"model": {"w": torch.ones(2)}, "cfg": {"epoch": 1}},
               out / "checkpoints" / "checkpoint_last.pt")
    monkeypatch.delenv("SEQKD_FAKE_FAIL")
    assert seqkd(*_train_args(fake_data, out)) == 0
    assert "resuming from" in (out / "log.txt").read_text()
    assert "loaded checkpoint" in (out / "fairseq-train.log").read_text()
    assert (out / "DONE.json").is_file()


class EchoDecoder:
    """Implements seqkd.decoders.Decoder: the n-best are the input and its reverse."""

    name = "echo"

    def translate(self, batch):
        return [[(list(p), -0.1), (list(reversed(p)), -0.2)] if p else [([], 0.0)]
                for p in batch]


def test_distill_logic_with_a_fake_decoder(fake_data, fake_fairseq, tmp_path, monkeypatch):
    import seqkd.stages.distill.runner as distill

    teacher = tmp_path / "t.pt"
    torch.save({"model": {}, "cfg": {"model": {"arch": "transformer"}}}, teacher)
    (tmp_path / "dict.txt").write_text((fake_data / "dict.txt").read_text())
    monkeypatch.setattr(distill, "_make_decoder", lambda cfg, prepared, out: EchoDecoder())
    out = tmp_path / "d"
    assert seqkd("distill", "--data", fake_data, "--out", out, "--teacher", teacher,
                 "--method", "seq-inter", "--nbest", "2", "--beam", "2", "--chunk-size", "333",
                 "-q") == 0
    src = (fake_data / "text" / "train.en").read_text().splitlines()
    hyp = (out / "hyp.de").read_text().splitlines()
    assert len(hyp) == len(src) and hyp[:50] == src[:50]   # echo: line i is source line i
    assert len(list((out / "chunks").glob("*.jsonl"))) == -(-len(src) // 333)
    report = json.loads((out / "report.json").read_text())
    assert report["lines"] == len(src) and report["empty_outputs"]["replaced_by_reference"] == 0
    # the distilled pairs binarized; validation and test sets are the prepared ones
    for name in ("train.en-de.de.bin", "valid.en-de.de.bin", "test1.en-de.en.idx"):
        assert (out / "bin" / name).stat().st_size > 0
    assert (out / "bin" / "valid.en-de.de.bin").read_bytes() == \
        (fake_data / "bin" / "valid.en-de.de.bin").read_bytes()
    assert json.loads((out / "bin" / "splits.json").read_text()) == {
        "train": "train", "valid": "valid", "t1": "test", "t2": "test1"}


def test_both_decoders_follow_the_protocol_on_empty_input():
    from seqkd.decoders import CT2Decoder, FairseqDecoder

    for cls in (CT2Decoder, FairseqDecoder):
        dec = cls.__new__(cls)  # no model: empty inputs must not reach it
        if cls is CT2Decoder:
            dec.translator = None
        assert dec.translate([]) == []
        assert dec.translate([[], []]) == [[([], 0.0)], [([], 0.0)]]


def test_quiet_means_nothing_on_stderr(corpus, tmp_path, fake_fairseq, capsys):
    """-q: no progress bars, no info lines; the stage's log.txt still has everything."""
    out = tmp_path / "q"
    assert seqkd("prepare", "--out", out, "--train-prefix", corpus / "train", "--valid-prefix",
                 corpus / "valid", "--vocab-size", "60", "-q") == 0
    assert capsys.readouterr().err == ""
    assert "prepare: starting in" in (out / "log.txt").read_text()


def test_a_new_setting_reaches_cli_yaml_stamp_and_sentencepiece(corpus, tmp_path, fake_fairseq):
    """character_coverage was added as one field: it is a CLI option, a checked YAML key, part
    of the stamp and reaches SentencePiece's trainer."""
    from seqkd.cli import build_parser
    from seqkd.config import Problems
    from seqkd.stages.prepare.config import PrepareConfig

    args = build_parser().parse_args(["prepare", "--out", "o", "--character-coverage", "0.99"])
    assert args.character_coverage == 0.99
    problems = Problems("x.yaml")
    problems.build(PrepareConfig, {"out_dir": "o", "character_coverage": 2}, "data")
    assert problems.items == ["data: character_coverage must be at most 1.0, got 2.0"]
    models = {}
    for cc in ("1.0", "0.99"):
        out = tmp_path / f"cc{cc}"
        assert seqkd("prepare", "--out", out, "--train-prefix", corpus / "train",
                     "--valid-prefix", corpus / "valid", "--vocab-size", "60",
                     "--character-coverage", cc, "-q") == 0
        settings = json.loads((out / "DONE.json").read_text())["settings"]
        assert settings["character_coverage"] == float(cc)
        models[cc] = (out / "spm.model").read_bytes()
    assert models["1.0"] != models["0.99"]  # the trainer got it (it is stored in the model)


def test_nproc_on_cpu_starts_one_rank_each_with_its_share_of_the_batch(fake_data, fake_fairseq,
                                                                       tmp_path):
    out = tmp_path / "student"
    assert seqkd(*_train_args(fake_data, out, "--nproc", "3", "--threads", "6")) == 0
    calls = [c for c in fake_fairseq() if c["tool"] == "train"]
    assert len(calls) == 3
    ranks, inits = [], set()
    for c in calls:
        a = c["argv"]
        pairs = dict(zip(a, a[1:]))
        assert pairs["--max-tokens"] == "2731"  # ceil(8192 / 3): an update still ~8192 tokens
        assert pairs["--distributed-world-size"] == "3"
        assert pairs["--distributed-backend"] == "gloo"
        assert pairs["--ddp-backend"] == "legacy_ddp" and "--distributed-no-spawn" in a
        ranks.append(pairs["--distributed-rank"])
        inits.add(pairs["--distributed-init-method"])
    assert sorted(ranks) == ["0", "1", "2"]
    (init,) = inits  # one rendezvous for all
    assert init.startswith("tcp://127.0.0.1:")
    assert (out / "checkpoints" / "checkpoint_best.pt").is_file()
    assert (out / "fairseq-train.rank1.log").is_file()
    # nproc is where the run happens, not what is trained: a rerun with 1 process is finished
    before = len(fake_fairseq())
    assert seqkd(*_train_args(fake_data, out)) == 0
    assert len(fake_fairseq()) == before


def test_a_failed_rank_stops_the_others_and_is_named(fake_data, fake_fairseq, tmp_path,
                                                     monkeypatch, capsys):
    import time

    monkeypatch.setenv("SEQKD_FAKE_FAIL_RANK", "1")
    out = tmp_path / "student"
    t = time.monotonic()
    assert seqkd(*_train_args(fake_data, out, "--nproc", "2")) == 1
    assert time.monotonic() - t < 30  # rank 0 (waiting 60 s for its peer) was stopped
    err = capsys.readouterr().err
    assert "rank 1 of 2" in err and "fairseq-train.rank1.log" in err
    assert not (out / "DONE.json").exists()


def test_a_run_killed_after_fairseqs_last_save_finishes_without_training_again(
        fake_data, fake_fairseq, tmp_path):
    """fairseq started on a checkpoint already at --max-update trains one update more before
    it checks the budget (seen as 61 of 60 in the fault-injection test); seqkd does not
    start it then."""
    out = tmp_path / "student"
    args = _train_args(fake_data, out, "--max-updates", "30")  # the fake saves 10 per epoch
    assert seqkd(*args) == 0
    calls = len(fake_fairseq())
    (out / "DONE.json").unlink()  # killed after fairseq's final save, before the stamp
    assert seqkd(*args) == 0
    assert len(fake_fairseq()) == calls  # not started again
    log = (out / "log.txt").read_text()
    assert "is at 30 updates, the budget (--max-updates 30): fairseq is not started again" in log
    assert (out / "DONE.json").is_file()
    # below the budget it does resume
    (out / "DONE.json").unlink()
    assert seqkd(*_train_args(fake_data, out, "--max-updates", "40", "--force")) == 0
    assert len(fake_fairseq()) == calls + 1


def test_a_missing_plugin_folder_is_one_error_before_anything_runs(fake_data, fake_fairseq,
                                                                  tmp_path, monkeypatch,
                                                                  capsys):
    import seqkd.fairseq_tools as ft

    monkeypatch.setattr(ft, "PLUGIN_DIR", tmp_path / "gone" / "seqkd_fairseq_plugin")
    assert seqkd(*_train_args(fake_data, tmp_path / "s")) == 1
    err = capsys.readouterr().err
    assert "fairseq plugin is missing" in err and "reinstall" in err
    assert "Traceback" not in err and not (tmp_path / "s").exists()
    assert [c for c in fake_fairseq() if c["tool"] == "train"] == []


def test_quiet_keeps_library_warnings_off_the_terminal_and_in_the_log(tmp_path, capsys):
    import logging
    import warnings

    from seqkd.cli import setup_logging

    log = tmp_path / "log.txt"
    handler = logging.FileHandler(log)
    logging.getLogger().addHandler(handler)
    try:
        for quiet in (True, False):
            setup_logging(quiet)
            warnings.warn(f"a library deprecation (quiet={quiet})", UserWarning)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
        logging.captureWarnings(False)
        setup_logging(False)
    err = capsys.readouterr().err
    assert "quiet=True" not in err and "quiet=False" in err
    assert "quiet=True" in log.read_text()


def test_run_jobs_runs_independent_stages_side_by_side(corpus, tmp_path, fake_fairseq,
                                                      monkeypatch, capsys):
    """`seqkd run --jobs 2`: two students that need only the prepared data start together, each
    in a child under the parent's lock; a second run finds them up to date; a failing child is
    named and stops the other."""
    import yaml

    def config(work):
        return {"work_dir": str(work),
                "data": {"train_prefix": str(corpus / "train"),
                         "valid_prefix": str(corpus / "valid"), "vocab_size": 60},
                "teacher": {"train": {"preset": "tiny", "max_updates": 5}},
                "students": [{"name": n, "preset": "tiny", "max_updates": 5}
                             for n in ("a", "b")]}
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(config(tmp_path / "w")))
    only = ["--only", "prepare", "student-a", "student-b", "--jobs", "2"]
    assert seqkd("run", cfg, *only) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"prepare": "ran", "teacher": "not selected",
                               "student-a": "ran", "student-b": "ran",
                               "export-a": "not selected", "export-b": "not selected"}
    assert "=== student-b (side by side with student-a)" in err
    assert all((tmp_path / "w" / f"student-{n}" / "DONE.json").is_file() for n in "ab")
    # two stages side by side: each takes its share of the cores (its thread count is
    # automatic)
    from seqkd.machine import _machine_threads

    share = max(1, _machine_threads() // 2)
    for n in "ab":
        log = (tmp_path / "w" / f"student-{n}" / "log.txt").read_text()
        assert f"training on cpu ({share} CPU threads)" in log, log
    assert [c["tool"] for c in fake_fairseq()] == ["train", "train"]
    assert seqkd("run", cfg, *only, "-q") == 0
    assert set(json.loads(capsys.readouterr().out).values()) == {"up to date", "not selected"}

    cfg.write_text(yaml.safe_dump(config(tmp_path / "w2")))
    monkeypatch.setenv("SEQKD_FAKE_FAIL", "train")
    assert seqkd("run", cfg, *only, "-q") == 1
    err = capsys.readouterr().err
    assert re.search(r"stage student-[ab] failed \(exit 1; its error is above, its log in "
                     r".*/w2/student-[ab]/log.txt\); the stages beside it were stopped", err)
    assert not list((tmp_path / "w2").glob("student-*/DONE.json"))


def test_jobs_run_a_measurement_alone_and_tell_each_stage_its_share(tmp_path, monkeypatch):
    """`seqkd run --jobs 3`: a bench (a kind that runs alone) waits until the stages beside
    it end and none starts beside it; each child is told how many stages share the machine."""
    import seqkd.run as run_module
    from seqkd.machine import SHARE_ENV
    from seqkd.stages.base import Step

    def step(name, kind, deps=()):
        return Step(name, tmp_path / name, None, lambda: None, list(deps), kind)

    steps = [step("prepare", "prepare"), step("a", "student", ["prepare"]),
             step("b", "student", ["prepare"]), step("bench", "bench", ["prepare"]),
             step("c", "student", ["prepare"])]
    started = []

    class Child:
        def __init__(self, cmd, env, preexec_fn):
            self.name, self.returncode = cmd[cmd.index("--only") + 1], None
            started.append((self.name, env[SHARE_ENV]))

        def poll(self):
            return self.returncode

        def terminate(self):
            self.returncode = -15

        def wait(self):
            return self.returncode

    monkeypatch.setattr("subprocess.Popen", Child)
    monkeypatch.setattr(run_module, "_must_run", lambda s, steps, ran: True)
    side = run_module._SideBySide(steps, None, "cfg.yaml", 3, None)

    def finish(*names):
        for n in names:
            side.running[n].returncode = 0
        side.collect()

    side.start()
    assert started == [("prepare", "1")]  # alone in the queue: the whole machine
    finish("prepare")
    side.start()  # a and b start side by side, each told so; the bench waits
    assert started[1:] == [("a", "2"), ("b", "2")] and set(side.running) == {"a", "b"}
    finish("a")
    side.start()
    assert set(side.running) == {"b"}  # the bench waits for b; c waits behind the bench
    finish("b")
    side.start()
    assert started[3:] == [("bench", "1")] and set(side.running) == {"bench"}
    side.start()
    assert set(side.running) == {"bench"}  # nothing beside a measurement
    finish("bench")
    side.start()
    assert started[4:] == [("c", "1")]
    finish("c")
    assert side.status == {n: "ran" for n in ("prepare", "a", "b", "bench", "c")}
