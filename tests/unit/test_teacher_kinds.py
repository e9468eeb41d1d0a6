"""The table of teacher kinds: each kind is recognised from what the user gave, and a new kind
is one class and one table entry (here a file of ready translations, looked up line by line),
which distill then checks, stamps and decodes with, touching no other module."""

import json
from pathlib import Path

from conftest import seqkd
from test_stages_fast import fake_data, fake_fairseq  # noqa: F401 (fixtures)

from seqkd import teachers
from seqkd.teachers import TeacherKind, teacher_kind


def test_each_kind_is_recognised_from_what_was_given(tmp_path):
    folder = tmp_path / "ct2"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"x")
    assert teacher_kind([], "cat").name == "command"
    assert teacher_kind([str(folder)]).name == "ctranslate2 folder"
    assert teacher_kind([str(tmp_path / "a.pt"), str(tmp_path / "b.pt")]).name == "fairseq"
    assert teacher_kind([str(tmp_path / "teacher")]).distributions  # a folder trained later
    assert not teacher_kind([str(folder)]).distributions
    assert [k.text_space for k in teachers.TEACHER_KINDS] == [True, True, False]


class Table:
    def __init__(self, path):
        rows = (line.split("\t") for line in Path(path).read_text().splitlines())
        self.table = {src: tgt for src, tgt in rows}

    def hypotheses(self, lines, where):
        return [[(self.table.get(line, ""), 0.0)] for line in lines]


class TableTeacher(TeacherKind):
    """Ready translations in a .tsv file (source TAB translation), looked up line by line."""
    name, described, text_space = "translation table", "a translation table", True

    @staticmethod
    def recognise(given, command):
        return len(given) == 1 and given[0].endswith(".tsv")

    def input_files(self, cfg):
        return [Path(cfg.teachers[0])]

    def text_teacher(self, cfg, threads):
        return Table(cfg.teachers[0]), {"decoder": self.name, "command": cfg.teachers[0]}


def test_a_new_kind_is_one_class_and_one_table_entry(fake_data, tmp_path, monkeypatch):
    monkeypatch.setattr(teachers, "TEACHER_KINDS", [TableTeacher(), *teachers.TEACHER_KINDS])
    src = (fake_data / "text" / "train.en").read_text().splitlines()
    table = tmp_path / "ready.tsv"
    table.write_text("".join(f"{s}\t{s.upper()} !\n" for s in src))
    out = tmp_path / "d"
    assert seqkd("distill", "--data", fake_data, "--out", out, "--teacher", table,
                 "--chunk-size", "700", "-q") == 0
    assert (out / "hyp.de").read_text().splitlines() == [f"{s.upper()} !" for s in src]
    done = json.loads((out / "DONE.json").read_text())
    assert done["summary"]["decode"]["decoder"] == "translation table"
    assert str(table) in done["settings"]["input_files"]  # its file is in the stamp
