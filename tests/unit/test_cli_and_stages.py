"""Argument parsing, the CLI's error contract, stage stamps and checkpoint trust."""

import dataclasses
import pickle
import subprocess
import sys
from typing import ClassVar, List, Tuple

import pytest

from corpus import binarized
from seqkd.stages.bench import SystemSpec
from seqkd.stages.bench.report import markdown_report, percentile
from seqkd.cli import build_parser, main, parse_key_value
from seqkd.errors import SeqkdError
from seqkd.stage import Stage


def test_every_stage_has_a_subcommand():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"prepare", "train", "distill", "topk-cache", "export",
                                "translate", "bench", "run", "kd-gain", "scale-bench", "serve",
                                "serve-bench", "pack", "unpack", "compare", "choose"}


def test_distill_arguments_parse_into_settings():
    args = build_parser().parse_args(
        ["distill", "--data", "d", "--out", "o", "--teacher", "a.pt", "b.pt",
         "--method", "seq-inter", "--nbest", "4", "--num-shards", "3", "--shard-id", "2",
         "--decoder", "fairseq", "--filter", "drop", "--min-score", "-2.5"])
    assert args.teachers == ["a.pt", "b.pt"]
    assert (args.method, args.nbest, args.num_shards, args.shard_id) == ("seq-inter", 4, 3, 2)
    assert args.decoder == "fairseq" and args.filter == "drop" and args.min_score == -2.5
    assert args.beam == 5 and args.batch_tokens == 1024


def test_train_kd_arguments():
    args = build_parser().parse_args(
        ["train", "--role", "student", "--data", "d", "--out", "o", "--kd-teacher", "t.pt",
         "--kd-alpha", "0.7", "--kd-temperature", "2", "--preset", "deep-enc"])
    assert args.teachers == ["t.pt"] and args.kd_alpha == 0.7 and args.kd_temperature == 2.0


def test_bad_choice_exits_2():
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["distill", "--data", "d", "--out", "o", "--teacher", "t",
                                   "--method", "word-kd"])
    assert e.value.code == 2


def test_key_value_parsing():
    assert parse_key_value(["a=x", "b=y=z"], "--test") == {"a": "x", "b": "y=z"}
    for bad in (["novalue"], ["=x"], ["a=1", "a=2"]):
        with pytest.raises(SeqkdError):
            parse_key_value(bad, "--test")


def test_library_errors_print_and_exit_1(tmp_path, capsys):
    rc = main(["prepare", "--out", str(tmp_path / "o"), "--train-prefix",
               str(tmp_path / "missing"), "--valid-prefix", str(tmp_path / "missing")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "seqkd prepare: error:" in err and "missing.en" in err
    rc = main(["prepare", "--out", str(tmp_path / "o"), "--train-prefix", str(tmp_path / "x")])
    assert rc == 1 and "--valid-prefix" in capsys.readouterr().err


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "seqkd", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "distill" in out.stdout


def test_system_spec_parsing():
    s = SystemSpec.parse("stu=ct2:/m/x,beam=1,compute_type=int8")
    assert (s.name, s.kind, s.path, s.beam, s.compute_type) == ("stu", "ct2", "/m/x", 1, "int8")
    s = SystemSpec.parse("p=ct2:/m/x,inter=2,threads=1,batch=256")
    assert (s.inter, s.threads, s.batch) == (2, 1, 256)
    for bad in ("nokind", "a=tf:/x", "a=ct2:/x,beam=two", "a=fairseq:/x,compute_type=int8",
                "a=ct2:/x,inter=0", "a=fairseq:/x,inter=2", "a=ct2:/x,batch=0",
                "a=ct2:/x,threads=two"):
        with pytest.raises(SeqkdError):
            SystemSpec.parse(bad)


def test_every_system_key_is_in_bench_help_and_an_unknown_one_names_them_all():
    """The keys are said once (systems.OPTIONS): `seqkd bench --help` once left norepeat=
    and the tokenizer keys out."""
    from seqkd.ct2_folder import TOKENIZER_OPTIONS
    from seqkd.stages.bench.systems import OPTIONS
    assert set(TOKENIZER_OPTIONS) <= {o.key for o in OPTIONS}
    out = subprocess.run([sys.executable, "-m", "seqkd", "bench", "--help"],
                         capture_output=True, text=True)
    help_text = " ".join(out.stdout.split())
    for option in OPTIONS:
        assert f"{option.key}=" in help_text, option.key
    with pytest.raises(SeqkdError) as e:
        SystemSpec.parse("a=ct2:/x,nrepeat=4")
    assert "unknown option 'nrepeat=4'" in str(e.value)
    assert all(o.key in str(e.value) for o in OPTIONS)
    with pytest.raises(SeqkdError, match="'norepeat=65' is not allowed: norepeat=N"):
        SystemSpec.parse("a=ct2:/x,norepeat=65")


@dataclasses.dataclass
class _Demo:
    VOLATILE: ClassVar[Tuple[str, ...]] = ("threads",)
    a: int
    threads: int = 2


def test_stage_skips_refuses_and_forces(tmp_path):
    st = Stage("demo", tmp_path, _Demo(a=1))
    assert st.begin()
    st.finish({"n": 1})
    assert (tmp_path / "config.yaml").is_file()
    # same settings (thread count is volatile): nothing to do
    assert not Stage("demo", tmp_path, _Demo(a=1, threads=8)).begin()
    with pytest.raises(SeqkdError, match="changed: a"):
        Stage("demo", tmp_path, _Demo(a=2)).begin()
    forced = Stage("demo", tmp_path, _Demo(a=2), force=True)
    assert forced.begin()
    assert not (tmp_path / "DONE.json").exists()
    forced.close()


def test_resumable_stage_refuses_other_settings_mid_run(tmp_path):
    st = Stage("r", tmp_path, {"a": 1}, resumable=True)
    assert st.begin()
    st.close()  # interrupted: no DONE
    again = Stage("r", tmp_path, {"a": 1}, resumable=True)
    assert again.begin() and again.resuming
    again.close()
    with pytest.raises(SeqkdError, match="unfinished run with other settings"):
        Stage("r", tmp_path, {"a": 3}, resumable=True).begin()


@pytest.mark.parametrize("damage", ['{"settings": ', "[1]", '{"stage": "demo"}', "\udcff"])
def test_a_damaged_done_record_is_one_error_and_deleting_it_resumes(tmp_path, damage):
    st = Stage("r", tmp_path, _Demo(a=1), resumable=True)
    assert st.begin()
    st.finish({"n": 1})
    (tmp_path / "DONE.json").write_bytes(damage.encode("utf-8", "surrogateescape"))
    again = Stage("r", tmp_path, _Demo(a=1), resumable=True)
    for ask in (again.is_current, again.begin):
        with pytest.raises(SeqkdError, match="DONE.json is damaged .*delete that file and run "
                                             "the stage again"):
            ask()
    (tmp_path / "DONE.json").unlink()
    assert again.begin() and again.resuming
    again.close()


@pytest.mark.parametrize("damage", ['{"stage": "prepare", "settings": ', '{"settings": "src"}'])
def test_a_prepare_folder_whose_done_record_is_damaged_is_the_same_one_error(tmp_path, damage):
    """What reads a prepare folder (distill, train, export, the bench) says it as the stage
    does (seqkd.recorded.read_done)."""
    from seqkd.corpus import Prepared
    (tmp_path / "DONE.json").write_text(damage)
    with pytest.raises(SeqkdError, match="DONE.json is damaged .*this prepare stage ran with: "
                                         "delete that file"):
        Prepared(tmp_path)


@pytest.mark.parametrize("damage", [b"a: [\n", b"\xff\xfe"])
def test_a_damaged_config_of_an_unfinished_run_is_not_resumed(tmp_path, damage, caplog):
    st = Stage("r", tmp_path, _Demo(a=1), resumable=True)
    assert st.begin()
    st.close()  # interrupted
    (tmp_path / "config.yaml").write_bytes(damage)
    with pytest.raises(SeqkdError, match="unfinished run with other settings"):
        Stage("r", tmp_path, _Demo(a=1), resumable=True).begin()
    assert caplog.text.count("config.yaml is damaged") == 1
    assert Stage("r", tmp_path, _Demo(a=1), resumable=True).unfinished_with_other_settings()
    assert caplog.text.count("config.yaml is damaged") == 1  # said once, however often asked
    over = Stage("r", tmp_path, _Demo(a=1), resumable=True, force=True)
    assert over.begin() and not over.resuming
    over.close()
    assert Stage("r", tmp_path, _Demo(a=1), resumable=True).started()["a"] == 1  # written anew


@dataclasses.dataclass
class _Newer:
    """_Demo of a later seqkd: two settings more, with defaults."""
    a: int
    threads: int = 1
    b: str = "x"
    c: List[int] = dataclasses.field(default_factory=lambda: [1, 2])
    VOLATILE: ClassVar[Tuple[str, ...]] = ("threads",)


def test_a_setting_added_later_at_its_default_keeps_finished_and_unfinished_runs(tmp_path):
    """Upgrading seqkd must not throw away finished stages (hours of training) because a
    setting was added: a record without it matches when the new setting is at its default."""
    st = Stage("demo", tmp_path / "done", _Demo(a=1))
    assert st.begin()
    st.finish()
    assert Stage("demo", tmp_path / "done", _Newer(a=1)).is_current()
    assert not Stage("demo", tmp_path / "done", _Newer(a=1)).begin()
    assert not Stage("demo", tmp_path / "done", _Newer(a=1, b="y")).is_current()
    assert not Stage("demo", tmp_path / "done", _Newer(a=1, c=[1])).is_current()
    assert not Stage("demo", tmp_path / "done", _Newer(a=2)).is_current()
    # an interrupted resumable run resumes under the newer code the same way
    half = Stage("r", tmp_path / "half", _Demo(a=1), resumable=True)
    assert half.begin()
    half.close()
    newer = Stage("r", tmp_path / "half", _Newer(a=1), resumable=True)
    assert not newer.unfinished_with_other_settings() and newer.begin() and newer.resuming
    newer.close()
    assert Stage("r", tmp_path / "half", _Newer(a=1, b="z"),
                 resumable=True).unfinished_with_other_settings()


class _NotWeights:
    pass


def test_trust_is_scoped_to_named_paths(tmp_path):
    import torch

    from seqkd.trust import trusted_checkpoints

    trusted, other = tmp_path / "run", tmp_path / "elsewhere"
    trusted.mkdir(), other.mkdir()
    for d in (trusted, other):
        torch.save({"cfg": _NotWeights()}, d / "ckpt.pt")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(trusted / "ckpt.pt")
    with trusted_checkpoints([trusted]):
        assert isinstance(torch.load(trusted / "ckpt.pt")["cfg"], _NotWeights)
        with open(trusted / "ckpt.pt", "rb") as f:  # fairseq passes open files
            assert isinstance(torch.load(f)["cfg"], _NotWeights)
        with pytest.raises(pickle.UnpicklingError):
            torch.load(other / "ckpt.pt")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(trusted / "ckpt.pt")


def test_percentile():
    assert percentile([3, 1, 2], 0.5) == 2
    assert percentile([0, 10], 0.95) == pytest.approx(9.5)


def test_trust_covers_fairseqs_rank_to_rank_broadcast_and_no_other_buffer(tmp_path):
    """Multi-process training: rank 0 loads the trusted checkpoint and fairseq sends it to the
    other ranks, which unpickle it from memory in fairseq.distributed.utils."""
    import io

    import torch

    from seqkd.trust import trusted_checkpoints

    buf = io.BytesIO()
    torch.save({"cfg": _NotWeights()}, buf)
    fake_fairseq = {"__name__": "fairseq.distributed.utils", "torch": torch}
    exec("def _broadcast_object_slow(buffer):\n    return torch.load(buffer)", fake_fairseq)
    elsewhere = {"__name__": "somewhere.else", "torch": torch}
    exec("def _broadcast_object_slow(buffer):\n    return torch.load(buffer)", elsewhere)
    with trusted_checkpoints([tmp_path]):
        buf.seek(0)
        assert isinstance(fake_fairseq["_broadcast_object_slow"](buf)["cfg"], _NotWeights)
        buf.seek(0)
        with pytest.raises(pickle.UnpicklingError):
            elsewhere["_broadcast_object_slow"](buf)
        buf.seek(0)
        with pytest.raises(pickle.UnpicklingError):
            torch.load(buf)
    buf.seek(0)  # outside a trusted block, not even fairseq's broadcast
    with pytest.raises(pickle.UnpicklingError):
        fake_fairseq["_broadcast_object_slow"](buf)


def test_markdown_report_has_one_row_per_result_and_the_signature():
    row = dict(system="s", kind="ct2", compute_type="int8", beam=1, threads=1, bleu=10.0,
               length_ratio=0.987, chrf=40.0, src_wps_median=100.0, src_wps_min=90.0,
               src_wps_max=110.0,
               tgt_wps_median=95.0, latency_p50_ms=1.0, latency_p95_ms=2.0, peak_rss_mb=50.0,
               disk_mb=3.0, test_set="t1")
    report = {"signature": {"sacrebleu_bleu": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0",
                            "sacrebleu_chrf": "chrf-sig", "batch_tokens": 1024, "repeats": 3,
                            "warmup_sentences": 100, "single_thread": "pinned",
                            "latency": "batch 1", "cpu": "cpu", "cores": 2,
                            "versions": {"seqkd": "0"}, "command": "seqkd bench"},
              "results": [row, {**row, "system": "t", "test_set": "t2"}]}
    md = markdown_report(report)
    assert md.count("| s | ct2 | int8 | 1 | 1 | 1024 | 10.0 | 0.987 | 40.0 | 100.0 [90.0–110.0]"
                    ) == 1
    # an older report without batch/cost fields still renders: the signature's batch, no MACs
    assert md.count("| 3.0 | – | – |") == 2
    # inter_threads and costs: "1×2", MMACs per source and target token, GMAC/s; the speed
    # ratio is taken against a row measured the same way
    fast = {**row, "system": "u", "inter_threads": 2, "batch_tokens": 256,
            "src_wps_median": 300.0, "macs_per_src_token": 2_500_000,
            "macs_per_tgt_token": 4_750_000, "gmacs_per_s": 1.25}
    md2 = markdown_report({**report, "results": [row, fast]})
    assert "| u | ct2 | int8 | 1 | 1×2 | 256 | 10.0 |" in md2
    assert "| 1.0 | 95.0 |" in md2.split("| u |")[1]  # its own setting's first row: itself
    assert "| 2.50, 4.75 | 1.25 |" in md2
    assert "### t1" in md and "### t2" in md
    assert "tok:13a" in md and "seqkd bench" in md


def test_arguments_become_stage_configs():
    from seqkd.cli import config_from
    from seqkd.stages.distill.runner import DistillConfig
    from seqkd.stages.prepare.config import PrepareConfig

    args = build_parser().parse_args(
        ["distill", "--data", "d", "--out", "o", "--teacher", "t.pt", "--chunk-size", "7",
         "--threads", "3"])
    cfg = config_from(DistillConfig, args, out_dir=args.out, num_shards=1, shard_id=0)
    assert (cfg.data, cfg.out_dir, cfg.teachers, cfg.chunk_size, cfg.threads) == (
        "d", "o", ["t.pt"], 7, 3)
    args = build_parser().parse_args(["prepare", "--out", "o", "--no-dedupe", "--max-ratio", "2",
                                      "--spm-model-type", "bpe"])
    cfg = config_from(PrepareConfig, args, out_dir=args.out)
    assert cfg.dedupe is False and cfg.max_ratio == 2.0 and cfg.dataset == "multi30k"
    assert cfg.spm_model_type == "bpe"


def test_arguments_are_checked_like_yaml_values():
    from seqkd.cli import config_from
    from seqkd.stages.distill.runner import DistillConfig

    args = build_parser().parse_args(
        ["distill", "--data", "d", "--out", "o", "--teacher", "t.pt", "--chunk-size", "0",
         "--beam", "-1"])
    with pytest.raises(SeqkdError) as e:
        config_from(DistillConfig, args, out_dir=args.out, num_shards=1, shard_id=0)
    assert "2 problems" in str(e.value) and "chunk_size must be at least 1" in str(e.value)
    assert "beam must be at least 1" in str(e.value)


def test_one_definition_per_setting_reaches_cli_and_yaml():
    """A field declared with setting() is a CLI option and a checked YAML key at once."""
    import dataclasses as dc

    from seqkd.config import Problems, setting
    from seqkd.options import add_arguments

    @dc.dataclass
    class Demo:
        out_dir: str = setting(help="where")
        widgets: int = setting(3, "how many widgets", min=1)
        colour: str = setting("red", "the colour", choices=("red", "blue"))

    import argparse
    p = argparse.ArgumentParser()
    add_arguments(p, Demo)
    assert p.parse_args(["--out-dir", "o", "--widgets", "5"]).widgets == 5
    for bad in (["--out-dir", "o", "--colour", "green"], ["--widgets", "2"]):  # out-dir needed
        with pytest.raises(SystemExit):
            p.parse_args(bad)
    problems = Problems("demo.yaml")
    assert problems.build(Demo, {"out_dir": "o", "widgets": 0, "colour": "green"}, "demo") is None
    assert problems.items == ["demo: widgets must be at least 1, got 0",
                              "demo: colour must be one of red, blue, got 'green'"]


def test_a_setting_of_the_wrong_type_says_what_it_must_be_in_words():
    import dataclasses as dc
    from typing import Dict, List, Optional

    from seqkd.config import Problems, setting

    @dc.dataclass
    class Demo:
        names: List[str] = setting(help="names", default_factory=list)
        sizes: List[int] = setting(help="sizes", default_factory=list)
        flags: List[bool] = setting(help="flags", default_factory=list)
        nested: List[List[str]] = setting(help="lists", default_factory=list)
        paths: Dict[str, str] = setting(help="paths", default_factory=dict)
        limit: Optional[float] = setting(None, "a limit")

    problems = Problems("demo.yaml")
    problems.build(Demo, {"names": ["a", 3], "sizes": [1.5], "flags": ["yes"], "nested": [1],
                          "paths": {"a": 1}, "limit": "x"}, "demo")
    assert [p.split(", got")[0] for p in problems.items] == [
        "demo: names must be a list of strings", "demo: sizes must be a list of whole numbers",
        "demo: flags must be a list of true or false values",
        "demo: nested must be a list of entries that are each a list of strings",
        "demo: paths must be a mapping of names to values, each a string",
        "demo: limit must be a number (or null)"]


def test_device_choice():
    from seqkd.machine import resolve_device

    assert resolve_device("auto", cuda_available=False) == "cpu"
    assert resolve_device("auto", cuda_available=True) == "cuda"
    assert resolve_device("cpu", cuda_available=True) == "cpu"
    with pytest.raises(SeqkdError, match="no CUDA GPU"):
        resolve_device("cuda", cuda_available=False)
    with pytest.raises(SeqkdError, match="device must be one of"):
        resolve_device("gpu", cuda_available=True)


def test_more_threads_than_cpus_are_warned_of(monkeypatch, caplog):
    import os

    from seqkd.machine import warn_oversubscribed

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    warn_oversubscribed(2)
    warn_oversubscribed(1, 2)
    assert not caplog.records
    warn_oversubscribed(999)
    warn_oversubscribed(2, 2)
    warn_oversubscribed(1, 3, "training processes")
    assert [r.getMessage() for r in caplog.records][2].startswith(
        "1 thread for each of 3 training processes on the 2 CPUs")
    assert [r.getMessage() for r in caplog.records][:2] == [
        "999 threads on the 2 CPUs this process may use: they take turns and slow each other; "
        "give at most 2 in all (threads 0: the physical cores)",
        "2 threads for each of 2 parallel batches on the 2 CPUs this process may use: they "
        "take turns and slow each other; give at most 2 in all (threads 0: the physical cores)"]


def test_device_reaches_fairseq_train_and_leaves_the_settings_hash_alone(tmp_path):
    from pathlib import Path

    from seqkd.cli import config_from
    from seqkd.stages.train.config import TrainConfig, fairseq_train_args

    args = build_parser().parse_args(
        ["train", "--role", "student", "--data", "d", "--out", "o", "--max-epoch", "1",
         "--device", "cuda", "--fairseq-args=--fp16"])
    cfg = config_from(TrainConfig, args, out_dir=args.out, extra_args=["--fp16"])
    assert cfg.device == "cuda"
    data = binarized(tmp_path)
    on_cpu = fairseq_train_args(cfg, data, Path("s"), device="cpu")
    on_gpu = fairseq_train_args(cfg, data, Path("s"), device="cuda")
    assert "--cpu" in on_cpu and "--cpu" not in on_gpu and on_gpu[-1] == "--fp16"
    # the device is recorded but is not a setting that makes a finished run stale
    a = Stage("train", tmp_path / "a", cfg)
    b = Stage("train", tmp_path / "b", dataclasses.replace(cfg, device="cpu"))
    assert a.hash == b.hash and a.config["device"] == "cuda" and "device" not in a.settings


def test_every_training_preset_names_an_architecture_the_plugin_registers():
    from pathlib import Path

    from seqkd.fairseq_tools import PLUGIN_DIR
    from seqkd.model_cost import ARCH_SHAPES
    from seqkd.stages.train.config import PRESETS

    archs = {p.arch for role in PRESETS.values() for p in role.values()}
    assert archs <= set(ARCH_SHAPES), archs - set(ARCH_SHAPES)
    assert ARCH_SHAPES["seqkd_teacher_wmt_base"] == (6, 6, 512, 2048, 8)
    # the plugin registers exactly that table (read without importing it: fairseq registers
    # an architecture only once per process)
    text = (Path(PLUGIN_DIR) / "architectures.py").read_text()
    assert "from seqkd.model_cost import ARCH_SHAPES as SHAPES" in text
    assert "for _name, _dims in SHAPES.items():" in text


def test_configs_built_in_code_are_checked_by_the_same_rules():
    """distill and export check a config made in Python like one from YAML or the CLI."""
    from seqkd.stages.distill.runner import DistillConfig, _validate

    cfg = DistillConfig(data="d", out_dir="o", teachers=["t.pt"], method="word-kd", beam=0)
    with pytest.raises(SeqkdError) as e:
        _validate(cfg)
    assert "2 problems" in str(e.value) and "method must be one of seq-kd, seq-inter" in \
        str(e.value) and "beam must be at least 1" in str(e.value)
    with pytest.raises(SeqkdError, match="loop_repeats must be 0"):
        DistillConfig(data="d", out_dir="o", teachers=["t.pt"], loop_repeats=1)
    with pytest.raises(SeqkdError, match="word_loop_repeats must be 0 .off. or at least 3"):
        DistillConfig(data="d", out_dir="o", teachers=["t.pt"], word_loop_repeats=2)
