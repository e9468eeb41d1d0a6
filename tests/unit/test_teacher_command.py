"""Any program as the seq-KD teacher (`seqkd distill --teacher-command`): lines in, lines out,
chunk by chunk, resumable; every way a program fails is one error naming it and the chunk."""

import json
import sys
import textwrap

import pytest
import yaml

from conftest import HERE, seqkd
from test_stages_fast import fake_data, fake_fairseq  # noqa: F401 (fixtures)

TEACHER = HERE / "fixtures" / "teacher_command.py"


def command(mode, log=None):
    return f"{sys.executable} {TEACHER} {mode}" + (f" {log}" if log else "")


def distill(data, out, cmd, *extra):
    return seqkd("distill", "--data", data, "--out", out, "--teacher-command", cmd,
                 "--chunk-size", "700", "--threads", "2", "-q", *extra)


def test_a_program_teaches_line_by_line_and_chunk_by_chunk(fake_data, tmp_path):
    out, log = tmp_path / "d", tmp_path / "calls.jsonl"
    assert distill(fake_data, out, command("good", log)) == 0
    src = (fake_data / "text" / "train.en").read_text().splitlines()
    hyp = (out / "hyp.de").read_text().splitlines()
    assert hyp == [" ".join(f"Z{w[1:]}x" for w in s.split()) for s in src]
    calls = [json.loads(x) for x in log.read_text().splitlines()]
    assert [c["lines"] for c in calls] == [700, 700, len(src) - 1400]
    assert {c["threads"] for c in calls} == {"2"}
    report = json.loads((out / "DONE.json").read_text())["summary"]
    assert report["decode"]["decoder"] == "command"
    assert "with the command" in (out / "log.txt").read_text()
    assert "teacher_command.py good" in yaml.safe_load(
        (out / "config.yaml").read_text())["teacher_command"]


def test_a_programs_byte_order_mark_and_crlf_line_ends_are_not_text():
    from seqkd.text_teachers import CommandTeacher

    lines = ["w1 w2", "w3"]
    assert CommandTeacher(command("windows"), 60).translate_text(lines, "a test") == \
        CommandTeacher(command("good"), 60).translate_text(lines, "a test") == ["Z1x Z2x", "Z3x"]


def test_a_failed_chunk_resumes_from_the_chunks_done(fake_data, tmp_path, capsys,
                                                     monkeypatch):
    out, log = tmp_path / "d", tmp_path / "calls.jsonl"
    monkeypatch.setenv("TEACHER_BROKEN", "1")
    assert distill(fake_data, out, command("fail-second", log)) == 1
    err = capsys.readouterr().err
    assert "failed (exit 3)" in err and "out of licences" in err and "chunk 1" in err
    assert not (out / "DONE.json").exists()
    log.write_text("")  # the rerun's calls only; the program works now
    monkeypatch.delenv("TEACHER_BROKEN")
    assert distill(fake_data, out, command("fail-second", log)) == 0
    n = len((fake_data / "text" / "train.en").read_text().splitlines())
    calls = [json.loads(x)["lines"] for x in log.read_text().splitlines()]
    assert calls == [700, n - 1400]  # chunk 0 was kept


@pytest.mark.parametrize("mode, extra, message", [
    ("short", [], "read 700 lines and wrote 699"),
    ("fail", [], "failed (exit 3); its last lines:\nteacher: out of licences"),
    ("hang", ["--command-timeout", "1"], "did not finish within 1 s for 700 lines"),
    ("latin1", [], "wrote bytes that are not UTF-8"),
])
def test_a_program_that_misbehaves_is_one_error_naming_it_and_the_chunk(
        fake_data, tmp_path, capsys, mode, extra, message):
    out = tmp_path / "d"
    assert distill(fake_data, out, command(mode), *extra) == 1
    err = capsys.readouterr().err
    assert message in err and "chunk 0, lines 1-700" in err and "teacher_command.py" in err
    assert "Traceback" not in err
    assert not (out / "DONE.json").exists() and not list((out / "chunks").glob("*.jsonl"))


@pytest.mark.parametrize("extra, message", [
    (["--method", "seq-inter", "--nbest", "2"], "use method seq-kd"),
    (["--min-score", "-2"], "leave min_score out"),
    (["--teacher", "x.pt"], "give one or the other"),
    (["--decoder", "fairseq"], "use decoder command, not fairseq"),
])
def test_settings_a_program_cannot_honour_are_refused(fake_data, tmp_path, capsys, extra,
                                                      message):
    assert distill(fake_data, tmp_path / "d", command("good"), *extra) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_a_config_with_a_teacher_command(tmp_path, corpus, capsys):
    cfg = tmp_path / "run.yaml"
    body = textwrap.dedent(f"""\
        work_dir: {tmp_path / 'w'}
        data: {{train_prefix: {corpus / 'train'}, valid_prefix: {corpus / 'valid'}}}
        teacher: {{command: "{command('good')}"}}
        distill: [{{name: kd}}]
        students:
          - {{name: s, data: kd, preset: tiny, max_updates: 1}}
        """)
    cfg.write_text(body)
    assert seqkd("run", cfg, "--check") == 0
    stages = json.loads(capsys.readouterr().out)
    assert stages["distill-kd"]["after"] == ["prepare"] and "teacher" not in stages
    cfg.write_text(body.replace("max_updates: 1}", "max_updates: 1, word_kd: {alpha: 0.5}}"))
    assert seqkd("run", cfg, "--check") == 1
    assert "a teacher command gives translations only" in capsys.readouterr().err
