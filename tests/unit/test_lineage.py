"""A rerun of prepare that leaves the training data as it was keeps the stages that read only
that (seqkd.lineage): a monolingual corpus added to a finished config keeps the trained
teacher, and the distillations of the other corpora with their students; a changed corpus
runs what distils it again, and a change to the parallel data runs them all again. Over a fake fairseq and an echoing teacher."""

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from seqkd import lineage
from conftest import seqkd
from test_stages_fast import EchoDecoder, fake_fairseq  # noqa: F401 (a fixture)


def _status(cfg, capsys):
    capsys.readouterr()
    assert seqkd("run", cfg, "--status") == 0
    lines = capsys.readouterr().out.splitlines()
    return {line.split()[0]: line.split(None, 1)[1] for line in lines}


def _stamps(work: Path):
    return {d.name: (d / "DONE.json").read_bytes() for d in work.iterdir()
            if (d / "DONE.json").is_file()}


@pytest.fixture
def echo_teacher(monkeypatch):
    import seqkd.stages.distill.runner as distill
    monkeypatch.setattr(distill, "_make_decoder", lambda cfg, prepared, out: EchoDecoder())


@pytest.mark.usefixtures("fake_fairseq", "echo_teacher")
def test_a_monolingual_corpus_added_keeps_what_reads_only_the_parallel_data(
        corpus, tmp_path, capsys, fake_fairseq):
    test_en = (corpus / "test.en").read_text().splitlines()
    (tmp_path / "more.en").write_text("".join(x + "\n" for x in test_en[:30]))
    (tmp_path / "extra.en").write_text("".join(x + "\n" for x in test_en[30:]))
    work, path = tmp_path / "w", tmp_path / "run.yaml"

    def write(mono, pairs=None):
        path.write_text(yaml.safe_dump({
            "work_dir": str(work),
            "data": {"train_prefix": str(corpus / "train"), "valid_prefix": str(corpus / "valid"),
                     "vocab_size": 60, "max_train_pairs": pairs,
                     "mono": {m: str(tmp_path / m) for m in mono}},
            "teacher": {"train": {"preset": "tiny", "max_epoch": 2}},
            "distill": [{"name": "kd", "sources": ["train"]},
                        {"name": "km", "sources": ["train", "more"]}],
            "students": [{"name": "a", "data": "kd", "preset": "tiny", "max_epoch": 1},
                         {"name": "b", "data": "km", "preset": "tiny", "max_epoch": 1}]}))

    write(["more"])
    stages = ["prepare", "teacher", "distill-kd", "distill-km", "student-a", "student-b"]
    assert seqkd("run", path, "--only", *stages, "-q") == 0
    trainings = len(fake_fairseq())
    before = _stamps(work)
    assert set(before) == {"data", "teacher", "distill-kd", "distill-km", "student-a",
                           "student-b"}

    # a corpus added: prepare runs again; all that was there is kept, the corpus distilled
    # by no one yet
    write(["more", "extra"])
    said = _status(path, capsys)
    assert said["prepare"].startswith("settings changed")
    assert said["teacher"] == "kept unless what it reads changes in prepare"
    for d in ("distill-kd", "distill-km"):
        assert said[d] == "kept unless what it reads changes in prepare, teacher"
    assert said["student-a"] == "kept unless what it reads changes in distill-kd"
    assert said["student-b"] == "kept unless what it reads changes in distill-km"
    assert seqkd("run", path, "--only", *stages, "-q") == 0
    after = _stamps(work)
    assert {n for n in after if after[n] == before[n]} == set(before) - {"data"}
    assert len(fake_fairseq()) == trainings  # nothing trained again
    prepared = json.loads((work / "data" / "DONE.json").read_text())
    old = before["data"]
    digest = f"{len(old)}:{hashlib.sha256(old).hexdigest()}"
    assert prepared["same_as"] == {"training": [digest], "tests": [digest],
                                   "mono:more": [digest], "mono:extra": []}
    assert all(_status(path, capsys)[s].startswith("done at") for s in stages)
    said = (work / "data" / "log.txt").read_text()
    assert "its training, tests and mono:more are those of the run before" in said

    # a distilled corpus changed (a line less): its distillation and student run again
    (tmp_path / "more.en").write_text("".join(x + "\n" for x in test_en[1:30]))
    said = _status(path, capsys)
    assert said["distill-km"] == "kept unless what it reads changes in prepare, teacher"
    assert seqkd("run", path, "--only", *stages, "-q") == 0
    now = _stamps(work)
    assert {n for n in now if now[n] == after[n]} == {"teacher", "distill-kd", "student-a"}
    assert len(fake_fairseq()) == trainings + 1  # student b only, not the teacher
    after = now

    # the training data changed (fewer pairs): everything runs again
    write(["more", "extra"], pairs=1500)
    assert _status(path, capsys)["teacher"] == "kept unless what it reads changes in prepare"
    assert seqkd("run", path, "--only", *stages, "-q") == 0
    again = _stamps(work)
    assert not {n for n in again if again[n] == after[n]}
    assert json.loads((work / "data" / "DONE.json").read_text())["same_as"]["training"] == []


class _Settings:
    """A stage kind's settings with two lineage parts, ``a/`` and ``b/``."""

    @staticmethod
    def lineage_parts(out_dir):
        return {p: [f for f in (out_dir / p).rglob("*") if f.is_file()] for p in ("a", "b")}


def test_what_a_rerun_stands_for_survives_a_kill_and_holds_part_by_part(tmp_path):
    out = tmp_path / "data"
    for part in ("a", "b", "mono"):
        (out / part).mkdir(parents=True)
        (out / part / "x.bin").write_bytes(b"one")
    (out / "DONE.json").write_text(json.dumps({"stage": "prepare", **lineage.stamp(
        out, _Settings)}) + "\n")
    old = lineage.file_digest(out / "DONE.json")

    previous = lineage.previous_run(out, _Settings)  # the run replacing it starts...
    (out / "DONE.json").unlink()
    lineage.keep(out, previous)  # ...and is killed; a new process finishes it
    (out / "mono" / "x.bin").write_bytes(b"two")  # not a part: no reader of parts reads it
    (out / "b" / "x.bin").write_bytes(b"two")
    assert lineage.stamp(out, _Settings)["same_as"] == {"a": [old], "b": []}
    assert not (out / lineage.PREVIOUS_FILE).exists()
    # a stamp written before part b was told apart: b is digested from the folder as it is
    (out / "DONE.json").write_text(json.dumps({"lineage": {"a": "x"}}))
    assert lineage.previous_run(out, _Settings)["lineage"] == {
        "a": "x", "b": lineage.files_digest([out / "b" / "x.bin"], out)}
    # the digest a part stands for is as good as the current one for a reader of that part
    (out / "DONE.json").write_text(json.dumps({"same_as": {"a": [old], "b": []}}))
    done = str(out / "DONE.json")
    recorded = {"input_files": {done: old}}
    current = {"input_files": {done: lineage.file_digest(out / "DONE.json")}}
    assert lineage.through_lineage(recorded, current, {done: ("a",)})[0] == current
    assert lineage.through_lineage(recorded, current, {done: ("a", "b")})[0] == recorded
    assert lineage.through_lineage(recorded, current, {})[0] == recorded


def _teacher_config(corpus: Path, tmp_path: Path, mono, epochs: int, tests=(),
                    distill=()) -> Path:
    """A config of prepare (with the corpora ``mono`` of ``tmp_path`` and the test sets
    ``tests``, each the corpus's test set) and a teacher."""
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({
        "work_dir": str(tmp_path / "w"),
        "data": {"train_prefix": str(corpus / "train"), "valid_prefix": str(corpus / "valid"),
                 "vocab_size": 60, "mono": {m: str(tmp_path / m) for m in mono},
                 "test_prefixes": {t: str(corpus / "test") for t in tests}},
        "teacher": {"train": {"preset": "tiny", "max_epoch": epochs}},
        "distill": [{"name": d, "sources": ["train"]} for d in distill],
        "students": [{"name": "a", "preset": "tiny", "max_epoch": 1}]}))
    return path


@pytest.mark.usefixtures("fake_fairseq")
def test_side_by_side_children_keep_the_teacher_too(corpus, tmp_path):
    # with --jobs, prepare runs again in a child: what the parent learnt of the run it
    # replaced reaches that child through the folder
    (tmp_path / "more.en").write_text((corpus / "test.en").read_text())
    work = tmp_path / "w"
    path = _teacher_config(corpus, tmp_path, [], epochs=1)
    assert seqkd("run", path, "--only", "prepare", "teacher", "-q") == 0
    teacher = (work / "teacher" / "DONE.json").read_bytes()
    _teacher_config(corpus, tmp_path, ["more"], epochs=1)
    assert seqkd("run", path, "--only", "prepare", "teacher", "--jobs", "2", "-q") == 0
    assert (work / "teacher" / "DONE.json").read_bytes() == teacher
    assert len(json.loads((work / "data" / "DONE.json").read_text())["same_as"]["training"]) == 1
    assert not (work / "data" / lineage.PREVIOUS_FILE).exists()


@pytest.mark.usefixtures("fake_fairseq")
def test_an_interrupted_teacher_resumes_after_a_corpus_is_added(corpus, tmp_path, capsys,
                                                                monkeypatch):
    (tmp_path / "more.en").write_text((corpus / "test.en").read_text())
    work = tmp_path / "w"
    path = _teacher_config(corpus, tmp_path, [], epochs=3)
    monkeypatch.setenv("SEQKD_FAKE_STOP_AFTER_EPOCH", "1")  # killed in its second epoch
    assert seqkd("run", path, "--only", "prepare", "teacher", "-q") == 1
    monkeypatch.delenv("SEQKD_FAKE_STOP_AFTER_EPOCH")
    _teacher_config(corpus, tmp_path, ["more"], epochs=3)
    assert _status(path, capsys)["teacher"].startswith(
        "kept unless what it reads changes in prepare")
    assert seqkd("run", path, "--only", "prepare", "teacher", "-q") == 0
    log = (work / "teacher" / "fairseq-train.log").read_text()
    assert "loaded checkpoint" in log and "(epoch 1)" in log  # resumed, not started over


@pytest.mark.usefixtures("fake_fairseq", "echo_teacher")
def test_a_test_set_added_keeps_the_teacher_and_distils_again(corpus, tmp_path, capsys):
    # a distillation copies the test sets for its student: it runs again, the teacher not
    work = tmp_path / "w"
    path = _teacher_config(corpus, tmp_path, [], epochs=1, tests=["t1"], distill=["kd"])
    stages = ["prepare", "teacher", "distill-kd"]
    assert seqkd("run", path, "--only", *stages, "-q") == 0
    before = _stamps(work)
    _teacher_config(corpus, tmp_path, [], epochs=1, tests=["t1", "t2"], distill=["kd"])
    said = _status(path, capsys)
    assert said["teacher"] == "kept unless what it reads changes in prepare"
    # what changes is known when prepare has run: the test sets, which the teacher does
    # not read and the distillation does
    assert said["distill-kd"] == "kept unless what it reads changes in prepare, teacher"
    assert seqkd("run", path, "--only", *stages, "-q") == 0
    after = _stamps(work)
    assert {n for n in after if after[n] == before[n]} == {"teacher"}
    assert (work / "distill-kd" / "bin" / "test1.en-de.en.bin").is_file()
