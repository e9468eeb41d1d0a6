"""Reliability, round three (issue 37): what the one-error cases of cases.py cannot show on
their own: every float setting refuses NaN and infinities (generated from the settings
themselves), the user's files stay as they were, and nothing a teacher command started
outlives distill after a timeout, an interrupt, SIGTERM or SIGKILL."""

import dataclasses
import importlib
import json
import math
import os
import pkgutil
import signal
import subprocess
import sys
import time
import typing

import pytest

import seqkd
from conftest import HERE, seqkd as run_seqkd
from test_processes import _alive
from seqkd.config import field_problems

TEACHER = HERE / "fixtures" / "teacher_command.py"


def settings_classes():
    """Every config dataclass of the package whose fields are declared with setting()."""
    found = {}
    for info in pkgutil.walk_packages(seqkd.__path__, "seqkd."):
        if "_plugins" in info.name or info.name.endswith("_guard"):
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and any(
                    "help" in f.metadata for f in dataclasses.fields(obj)):
                found[obj.__name__] = obj
    return found


def float_fields(cls):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        args = typing.get_args(tp)
        if tp is float or (typing.get_origin(tp) is typing.Union and float in args):
            yield f.name


def test_every_float_setting_of_every_stage_refuses_nan_and_infinities():
    classes = settings_classes()
    assert {"PrepareConfig", "TrainConfig", "DistillConfig", "TopkConfig", "ExportConfig",
            "BenchConfig", "TranslateConfig"} <= set(classes)
    checked = []
    for name, cls in sorted(classes.items()):
        for field in float_fields(cls):
            for bad in (math.nan, math.inf, -math.inf):
                _, problems = field_problems(cls, {field: bad}, name)
                assert any(f"{field} must be a finite number" in p for p in problems), (
                    name, field, bad, problems)
            checked.append(f"{name}.{field}")
    # the ones the issue names are among them
    assert {"TopkConfig.temperature", "DistillConfig.max_len_ratio", "DistillConfig.min_score",
            "DistillConfig.command_timeout", "TrainConfig.kd_alpha",
            "PrepareConfig.max_ratio"} <= set(checked)


def test_the_users_own_files_in_an_output_folder_stay_as_they_were(corpus, tmp_path, capsys):
    out = tmp_path / "data"
    out.mkdir()
    (out / "report.json").write_text('{"mine": true}\n')
    (out / "spm.model").write_bytes(b"my own model")
    assert run_seqkd("prepare", "--out", out, "--train-prefix", corpus / "train",
                     "--valid-prefix", corpus / "valid", "--vocab-size", "60", "-q") == 1
    assert "already holds files seqkd did not write" in capsys.readouterr().err
    assert (out / "report.json").read_text() == '{"mine": true}\n'
    assert (out / "spm.model").read_bytes() == b"my own model"
    assert sorted(p.name for p in out.iterdir()) == [".seqkd.lock", "report.json",
                                                     "spm.model"]
    # seqkd run into a work_dir whose data/ is the user's: the same
    (tmp_path / "run.yaml").write_text(
        f"work_dir: {tmp_path}\ndata: {{train_prefix: {corpus / 'train'}, valid_prefix: "
        f"{corpus / 'valid'}, vocab_size: 60}}\n"
        "teacher: {train: {preset: tiny, max_updates: 1}}\n")
    assert run_seqkd("run", tmp_path / "run.yaml", "--only", "prepare", "-q") == 1
    assert "seqkd did not write" in capsys.readouterr().err
    assert (out / "spm.model").read_bytes() == b"my own model"


def test_a_string_given_to_translate_is_one_sentence():
    from seqkd.corpus import text_batch
    from seqkd.errors import SeqkdError

    assert text_batch("A dog.") == (["A dog."], True)
    assert text_batch(["A dog.", "A cat."]) == (["A dog.", "A cat."], False)
    with pytest.raises(SeqkdError, match="a string or a list of strings, got list with items "
                                         "of int, str"):
        text_batch(["A dog.", 3])
    with pytest.raises(SeqkdError, match="got bytes"):
        text_batch(b"A dog.")
    # a lone surrogate (json.loads('"\\ud800"') makes one) is no text: an error, not
    # SentencePiece's "Unable to cast Python instance" from deep in the batch
    with pytest.raises(SeqkdError, match="text 2: character 5 is U[+]D800, half of a UTF-16 "
                                         "surrogate pair"):
        text_batch(["A dog.", "A ca\ud800t."])
    with pytest.raises(SeqkdError, match="the text: character 1 is U[+]DFFF"):
        text_batch("\udfff")
    assert text_batch("A \U0001F415.") == (["A \U0001F415."], True)  # a whole pair is a character


# ---------------------------------------------------------------- teacher commands' processes


def _distill(prepared, tmp_path, timeout="3600"):
    """A distill whose teacher command hangs in a grandchild of the shell (a pipeline), its
    pid written to the call log."""
    log = tmp_path / "calls.jsonl"
    command = f"{sys.executable} {TEACHER} hang {log} | cat"
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqkd", "distill", "--data", str(prepared), "--out",
         str(tmp_path / "out"), "--teacher-command", command, "--command-timeout", timeout,
         "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        # a shell's background job (CI) ignores SIGINT, and Python keeps an ignored SIGINT
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for _ in range(600):
        if log.is_file() and log.read_text().strip():
            return proc, json.loads(log.read_text().splitlines()[0])["pid"]
        if proc.poll() is not None:
            pytest.fail(f"distill ended early: {proc.stderr.read().decode()}")
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the teacher command never started")


def _gone(pid: int) -> bool:
    for _ in range(100):
        if not _alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)  # do not leave it behind for the next test
    return False


@pytest.mark.parametrize("how", ["timeout", "SIGINT", "SIGTERM", "SIGKILL"])
def test_nothing_a_teacher_command_started_outlives_distill(how, prepared, tmp_path):
    proc, pid = _distill(prepared, tmp_path, timeout="3" if how == "timeout" else "3600")
    assert _alive(pid)
    if how != "timeout":
        proc.send_signal(getattr(signal, how))
    rc = proc.wait(timeout=60)
    err = proc.stderr.read().decode()
    assert rc != 0
    if how == "timeout":
        assert "did not finish within 3 s" in err and "Traceback" not in err
    assert _gone(pid), f"the teacher command's program (pid {pid}) outlived distill ({how})"
    assert not (tmp_path / "out" / "DONE.json").exists()


def test_a_full_disk_during_a_copy_names_the_file_being_written(tmp_path):
    """shutil's copies report the source as the file name and the destination second: the
    message names the destination and its disk (the export's spm.model, not the data's)."""
    import errno

    from seqkd.errors import machine_error_message

    src, dst = tmp_path / "data" / "spm.model", tmp_path / "export" / "spm.model"
    src.parent.mkdir()
    dst.parent.mkdir()
    e = OSError(errno.ENOSPC, "No space left on device", str(src), None, str(dst))
    message = machine_error_message(e)
    assert f"while writing {dst} (" in message and str(src) not in message


def test_a_top_k_cache_altered_after_it_was_made_is_refused_naming_it(tmp_path):
    """Ids replaced by other valid ids, truncated probabilities, random bytes: each trains
    silently or ends in a traceback deep in fairseq unless the cache is checked first."""
    import numpy as np

    from seqkd.errors import SeqkdError
    from seqkd.topk_store import META, cache_digests, check_cache_for, data_digests, files

    data = tmp_path / "data"
    (data / "bin").mkdir(parents=True)
    for subset in ("train", "valid"):
        for ext in ("idx", "bin"):
            (data / "bin" / f"{subset}.en-de.de.{ext}").write_bytes(b"targets " + subset.encode())
    cache = tmp_path / "cache"
    cache.mkdir()
    for subset in ("train", "valid"):
        paths = files(cache, subset)
        np.save(paths["offsets"], np.array([0, 3, 5], dtype=np.int64))
        np.save(paths["ids"], np.arange(5 * 4, dtype=np.uint16).reshape(5, 4))
        np.save(paths["probs"], np.full((5, 4), 0.25, dtype=np.float16))
    (cache / META).write_text(json.dumps({
        "k": 4, "temperature": 1.0, "data": data_digests(data), "subsets": ["train", "valid"],
        "files": cache_digests(cache, ["train", "valid"])}))
    (cache / "DONE.json").write_text("{}")
    assert check_cache_for(cache, data, 1.0).k == 4  # as made: accepted
    ids = np.load(files(cache, "train")["ids"])
    ids[0, 0] = 65535  # another id, same size
    np.save(files(cache, "train")["ids"], ids)
    with pytest.raises(SeqkdError, match="is damaged: train.ids.npy changed since it was made"):
        check_cache_for(cache, data, 1.0)
    probs = files(cache, "valid")["probs"]
    probs.write_bytes(probs.read_bytes()[:-8])  # truncated
    with pytest.raises(SeqkdError, match="train.ids.npy, valid.probs.npy changed"):
        check_cache_for(cache, data, 1.0)


def test_the_bench_plot_keeps_matplotlib_out_of_home(tmp_path):
    """matplotlib reads MPLCONFIGDIR once, when it is first imported: the plot sets it to a
    folder beside the plot before anything imports matplotlib."""
    home = tmp_path / "home"
    home.mkdir()
    code = ("from pathlib import Path; from seqkd.stages.bench.plot import plot; "
            "plot([{'system': 's', 'test_set': 't', 'bleu': 1.0, 'src_wps_median': 10.0, "
            "'threads': 1, 'inter_threads': 1, 'batch_tokens': 1024, 'beam': 1}], "
            f"Path({str(tmp_path / 'out' / 'plot.png')!r}))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPL", "XDG"))}
    subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(home)}, check=True)
    assert (tmp_path / "out" / "plot.png").is_file()
    assert list(home.iterdir()) == []


def test_a_config_run_from_another_folder_says_where_its_paths_are_found(tmp_path, monkeypatch,
                                                                         capsys):
    """A config's relative paths are read from the folder seqkd runs in. Run from elsewhere,
    they are not there: the error says from which folder they would be, and nothing is
    written where it was run."""
    from corpus import write_corpus

    proj = tmp_path / "proj"
    write_corpus(proj / "corpus", n_train=50, n_valid=10, n_test=10)
    (proj / "pipelines").mkdir()
    config = proj / "pipelines" / "c.yaml"
    config.write_text("work_dir: runs/c\ndata:\n  train_prefix: corpus/train\n"
                      "  valid_prefix: corpus/valid\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert run_seqkd("run", config, "-q") == 1
    err = capsys.readouterr().err
    assert "names files or folders that are not there; nothing was run" in err
    assert (f"relative paths in a config are read from the folder seqkd runs in ({elsewhere}); "
            f"from {proj}, corpus/train.") in err and "run seqkd in that folder" in err, err
    assert list(elsewhere.iterdir()) == []
    monkeypatch.chdir(proj)  # from there it runs
    assert run_seqkd("run", config, "--check") == 0
    assert "relative paths" not in capsys.readouterr().err
