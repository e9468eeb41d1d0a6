"""A new user's own language pair (xx -> yy) through `seqkd run`, from a copy of the shipped
pipelines/own-corpus.yaml with only paths and budgets changed."""

import json

import pytest
import yaml

from conftest import REPO, seqkd
from corpus import write_corpus

pytestmark = pytest.mark.slow  # real fairseq training and decoding (tiny models)


def test_own_corpus_config_runs_on_another_pair(tmp_path, capsys):
    """The codes hold a hyphen and an underscore (as zh-Hant, pt_BR): fairseq, left to read
    them from the file names, cuts a hyphenated one in two."""
    corpus = write_corpus(tmp_path / "corpus", n_train=1500, src="xx-Latn", tgt="yy_YY")
    cfg = yaml.safe_load((REPO / "pipelines" / "own-corpus.yaml").read_text())
    assert (cfg["data"]["src"], cfg["data"]["tgt"]) == ("xx", "yy")
    cfg["data"].update(src="xx-Latn", tgt="yy_YY")
    cfg["work_dir"] = str(tmp_path / "work")
    for key, name in (("train_prefix", "train"), ("valid_prefix", "valid")):
        cfg["data"][key] = str(corpus / name)
    cfg["data"]["test_prefixes"] = {"test": str(corpus / "test")}
    cfg["data"]["vocab_size"] = 100
    # budgets only: the tiny presets and a few hundred updates
    cfg["teacher"]["train"] = {"preset": "tiny", "max_updates": 300, "max_tokens": 1024,
                               "validate_interval_updates": 100}
    for entry in cfg["distill"]:
        entry["max_len"] = 30
    for s in cfg["students"]:
        s.update(preset="tiny", max_epoch=3, max_tokens=1024)
    cfg["bench"].update(repeats=1, warmup_sentences=5, latency_sentences=5)
    path = tmp_path / "my-corpus.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert seqkd("run", path, "-q") == 0
    status = json.loads(capsys.readouterr().out)
    assert set(status.values()) == {"ran"} and "bench" in status
    work = tmp_path / "work"
    assert (work / "distill-seqkd" / "hyp.yy_YY").is_file()
    assert (work / "student-seqkd" / "checkpoints" / "checkpoint_avg.pt").is_file()
    report = json.loads((work / "bench" / "report.json").read_text())
    systems = {r["system"] for r in report["results"]}
    assert {"teacher", "teacher-int8-b5", "teacher-int8-b1", "seqkd-b1", "baseline-b5"} <= systems
    assert all(r["test_set"] == "test" and r["sentences"] == 60 for r in report["results"])
    pinned = report["signature"]["pinned_cpu"]
    assert all(r["pinned_cpu"] == pinned for r in report["results"] if r["threads"] == 1)
    teacher = next(r for r in report["results"] if r["system"] == "teacher")
    # deployed size: float32 weights only, below the checkpoint file (optimizer state etc.)
    assert teacher["size_mb"] == round(4 * teacher["params"] / 1e6, 2)
    assert teacher["size_mb"] < teacher["disk_mb"]
    recorded = yaml.safe_load((work / "data" / "config.yaml").read_text())
    assert recorded["dataset"] is None and recorded["src"] == "xx-Latn"
