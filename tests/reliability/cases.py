"""The bad inputs that seqkd must answer with one clear error (exit 1, no traceback).

Each case builds its inputs in a temporary folder, runs one seqkd command in-process and
says what the message must contain. The same cases make docs/RELIABILITY.md (see
test_bad_inputs.py), so the table there is what the code does, not what someone wrote.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

import pytest

from corpus import write_corpus
from seqkd.textio import count_lines


@dataclass
class Case:
    id: str
    issue_item: str
    what: str
    #: builds the inputs under a folder and returns the seqkd arguments
    setup: Callable[[Path], List[str]]
    #: substrings the error message must contain
    expect: List[str]
    #: a path (relative to the folder) that must not exist afterwards
    absent: Optional[str] = None
    #: the case needs the prepared tiny corpus (the `prepared` fixture), given as `data`
    needs_data: bool = False


def _corpus(d: Path) -> Path:
    return write_corpus(d / "c", n_train=60, n_valid=10, n_test=10)


def _prepare(d: Path, *extra: str) -> List[str]:
    c = _corpus(d)
    return ["prepare", "--out", str(d / "out"), "--train-prefix", str(c / "train"),
            "--valid-prefix", str(c / "valid"), "--vocab-size", "60", *extra]


def _many_characters(d: Path) -> List[str]:
    """A target side of 200 distinct Han characters, with --vocab-size 60."""
    args = _prepare(d, "--tgt", "zh")
    c = d / "c"
    lines = (c / "train.de").read_text(encoding="utf-8").splitlines()
    (c / "train.zh").write_text("".join(
        "".join(chr(0x4E00 + (7 * i + j) % 200) for j in range(len(x.split()))) + "\n"
        for i, x in enumerate(lines)), encoding="utf-8")
    (c / "valid.zh").write_text("一二三\n" * count_lines(c / "valid.de"), encoding="utf-8")
    return args


def _damaged_done(d: Path) -> List[str]:
    (d / "out").mkdir()
    (d / "out" / "config.yaml").write_text("src: en\n")
    (d / "out" / "DONE.json").write_text('{"stage": "prepare", "settings": {"src"')
    return _prepare(d)


def _gz(d: Path, damage: str) -> List[str]:
    c = _corpus(d)
    raw = (c / "train.en").read_bytes()
    if damage == "truncated":
        data = gzip.compress(raw)[:-20]
    elif damage == "corrupt":
        z = bytearray(gzip.compress(raw))
        z[len(z) // 2:len(z) // 2 + 8] = b"\x00" * 8
        data = bytes(z)
    else:
        data = raw
    (c / "train.en").unlink()
    (c / "train.en.gz").write_bytes(data)
    return ["prepare", "--out", str(d / "out"), "--train-prefix", str(c / "train"),
            "--valid-prefix", str(c / "valid"), "--vocab-size", "60"]


def _empty_valid(d: Path) -> List[str]:
    args = _prepare(d)
    (d / "c" / "valid.en").write_text("")
    (d / "c" / "valid.de").write_text("")
    return args


def _fake_model(d: Path) -> Path:
    (d / "model").mkdir()
    for f in ("model.bin", "spm.model"):
        (d / "model" / f).write_bytes(b"")
    return d / "model"


def _damaged_card(d: Path) -> List[str]:
    model = _fake_model(d)
    (model / "card.json").write_text('{"languages": ["en", ')
    return ["translate", str(model)]


def _fake_export(d: Path, system: str) -> List[str]:
    (d / "model").mkdir()
    for f in ("model.bin", "spm.model"):
        (d / "model" / f).write_bytes(b"")
    return ["bench", "--data", str(d), "--out", str(d / "b"), "--system", system.format(d)]


def _japanese_bleu(d: Path) -> List[str]:
    try:
        import MeCab  # noqa: F401
        pytest.skip("MeCab is installed here, so BLEU of Japanese is scored")
    except ImportError:
        pass
    c = _corpus(d)
    for split in ("train", "valid", "test"):
        (c / f"{split}.ja").write_text((c / f"{split}.de").read_text(encoding="utf-8"),
                                       encoding="utf-8")
    return _config(d, f"work_dir: {d / 'w'}\ndata: {{train_prefix: {c / 'train'}, "
                      f"valid_prefix: {c / 'valid'}, test_prefixes: {{t1: {c / 'test'}}}, "
                      "src: en, tgt: ja}\n"
                      "teacher: {train: {preset: tiny, max_updates: 1}}\n"
                      "distill: [{name: kd, select: mbr, mbr_metric: bleu, nbest: 2, beam: 2}]\n"
                      "students: [{name: s, data: kd, preset: tiny, max_updates: 1}, "
                      "{name: t, data: kd, preset: tiny, max_updates: 1}]\n"
                      "export: {fidelity_test: t1}\n"
                      "bench: {threads: [1]}\n")


def _config(d: Path, text: str) -> List[str]:
    (d / "run.yaml").write_text(text)
    return ["run", str(d / "run.yaml")]


def _manifest(d: Path, text: str) -> List[str]:
    reg = d / "registry"
    reg.mkdir()
    (reg / "evil.yaml").write_text(text)
    os.environ["SEQKD_REGISTRY"] = str(reg)  # restored by the test
    return ["prepare", "--out", str(d / "out"), "--dataset", "evil"]


def _checkpoint(d: Path, kind: str, data: Path, command: str, decoder: str = "") -> List[str]:
    import torch

    p = d / "teacher.pt"
    if kind == "truncated":
        torch.save({"model": {"w": torch.zeros(1000)}, "cfg": {}}, p)
        p.write_bytes(p.read_bytes()[:300])
    elif kind == "not-torch":
        p.write_text("this is not a checkpoint\n")
    elif kind == "no-settings":  # weights and a cfg without the model's settings
        torch.save({"model": {"w": torch.zeros(3)}, "cfg": {"task": {"_name": "translation"}},
                    "args": None}, p)
    else:  # a torch file that is not a fairseq checkpoint
        torch.save({"weights": torch.zeros(3)}, p)
    shutil.copyfile(data / "dict.txt", d / "dict.txt")
    if command == "distill":
        return ["distill", "--data", str(data), "--out", str(d / "out"), "--teacher", str(p),
                "--decoder", decoder]
    return ["export", str(p), "--data", str(data), "--out", str(d / "out")]


def _fake_teacher(d: Path, data: Path, rows: Optional[int] = None,
                  corrupt: bool = False) -> Path:
    """A torch file shaped like a fairseq checkpoint (weights only) with ``rows`` embedding
    rows (default: as many as the data's dictionary has entries), beside a copy of that
    dictionary; ``corrupt`` overwrites 4 KB of its tensor bytes as a damaged copy would."""
    import torch

    from seqkd.dictionaries import dictionary_size

    rows = rows or dictionary_size(data / "dict.txt")
    p = d / "teacher.pt"
    torch.save({"model": {"decoder.embed_tokens.weight": torch.ones(rows, 2048)},
                "cfg": {"model": {"arch": "transformer"}}}, p)
    if corrupt:
        b = bytearray(p.read_bytes())
        mid = len(b) // 2
        b[mid:mid + 4096] = b"\x01" * 4096
        p.write_bytes(bytes(b))
    shutil.copyfile(data / "dict.txt", d / "dict.txt")
    return p


def _unfinished(d: Path, data: Path) -> Path:
    """A training folder as a killed `seqkd train` leaves it: its config and a best checkpoint
    so far, no DONE.json."""
    folder = d / "teacher"
    (folder / "checkpoints").mkdir(parents=True)
    _fake_teacher(d, data).rename(folder / "checkpoints" / "checkpoint_best.pt")
    (folder / "config.yaml").write_text("role: teacher\n")
    shutil.copyfile(data / "dict.txt", folder / "dict.txt")
    return folder


def _finished_training(d: Path, settings: str) -> Path:
    """A finished `seqkd train` folder as far as continue_from looks: its settings, its
    stamp and a last checkpoint."""
    folder = d / "before"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint_last.pt").write_bytes(b"")
    (folder / "config.yaml").write_text("role: student\npreset: enc6-dec1\n" + settings)
    (folder / "DONE.json").write_text("{}")
    return folder


def _linked_stage(d: Path) -> List[str]:
    """`run --restart prepare` where the data folder is a link to the user's own folder."""
    args = _foreign_folder(d)[:2] + ["--restart", "prepare"]
    shutil.rmtree(d / "w" / "distill-kd")
    (d / "elsewhere").mkdir()
    (d / "elsewhere" / "config.yaml").write_text("mine: 1\n")
    (d / "w" / "data").symlink_to(d / "elsewhere")
    return args


def _foreign_folder(d: Path) -> List[str]:
    c = _corpus(d)
    (d / "w" / "distill-kd").mkdir(parents=True)
    (d / "w" / "distill-kd" / "notes.txt").write_text("mine\n")
    # a distillation reads all of what a teacher's new run changes (a stage that reads only
    # parts of the data folder is judged at its turn after a new prepare: seqkd.lineage)
    return _config(d, f"work_dir: {d / 'w'}\ndata:\n  train_prefix: {c / 'train'}\n"
                      f"  valid_prefix: {c / 'valid'}\n  vocab_size: 60\n"
                      "teacher: {train: {preset: tiny, max_updates: 1}}\n"
                      "distill: [{name: kd}]\n") + ["--only", "prepare", "teacher",
                                                     "--restart", "teacher"]


def _only_needs_not_done(d: Path) -> List[str]:
    c = _corpus(d)
    return _config(d, f"work_dir: {d / 'w'}\ndata:\n  train_prefix: {c / 'train'}\n"
                      f"  valid_prefix: {c / 'valid'}\n  vocab_size: 60\n"
                      "teacher: {train: {preset: tiny, max_updates: 1}}\n"
                      "students: [{name: s, preset: tiny, max_updates: 1}]\n") + [
        "--only", "export-s"]


def _input_not_there(d: Path) -> List[str]:
    c = _corpus(d)
    for name in ("spm.model", "dict.txt"):
        (d / name).write_text("")
    return _config(d, f"work_dir: {d / 'w'}\ndata:\n  train_prefix: {c / 'train'}\n"
                      f"  valid_prefix: {c / 'valid'}\n  spm_model: {d / 'spm.model'}\n"
                      f"  dictionary: {d / 'dict.txt'}\n"
                      f"teacher: {{checkpoints: [{d / 'teacher-v1.pt'}]}}\n"
                      "distill: [{name: kd}]\n")


ALIAS_BOMB = """work_dir: w
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]
"""

BAD_MANIFEST = """name: evil
langs: [en, de]
files:
  a.tgz: {url: "file:///nowhere/a.tgz", sha256: "0"}
splits:
  train: 5
  valid: {file: a.tgz, member: "x.{foo}"}
"""

CROSS_SETTINGS = """work_dir: {w}
data: {{train_prefix: {c}/train, valid_prefix: {c}/valid}}
teacher: {{train: {{preset: tiny, max_updates: 1}}}}
distill:
  - {{name: inter, method: seq-inter, nbest: 1, beam: 4}}
students:
  - {{name: a, preset: huge, max_updates: 1}}
  - {{name: b, preset: enc6-dec1, heads: 3, max_updates: 1}}
  - {{name: b, preset: tiny, max_updates: 1}}
"""

EVIL_MEMBER = """name: evil
langs: [en, de]
files:
  a.tgz: {url: "file:///nowhere/a.tgz", sha256: "0"}
splits:
  train: {file: a.tgz, member: "../../outside.{lang}"}
  valid: {file: "../b.tgz"}
"""


def _nan(stage: str, flag: str, value: str = "nan") -> Callable[[Path], List[str]]:
    """A stage given a non-finite number (its other arguments need not exist: settings are
    judged first)."""
    args = {"topk-cache": ["--data", "d", "--teacher", "t.pt"],
            "distill": ["--data", "d", "--teacher-command", "cat", "--decoder", "command"],
            "train": ["--role", "student", "--data", "d"]}[stage]
    return lambda d: [stage, *args, "--out", str(d / "out"), flag, value]


def _user_files(d: Path) -> List[str]:
    args = _prepare(d)
    (d / "out").mkdir()
    (d / "out" / "report.json").write_text('{"mine": true}\n')
    (d / "out" / "spm.model").write_bytes(b"my own model")
    return args


def _many_problems(d: Path) -> List[str]:
    c = _corpus(d)
    bad = ", ".join(f"{k}: {v}" for k, v in [
        ("max_len", 0), ("max_ratio", ".nan"), ("vocab_size", 1), ("workers", 0),
        ("spm_sentences", 1)])
    (d / "run.yaml").write_text(
        f"work_dir: {d / 'w'}\nextras: {{a: 1}}\n"
        f"data: {{train_prefix: {c / 'train'}, valid_prefix: {c / 'valid'}, "
        f"test_prefixes: {{t: {c / 'test'}}}, {bad}}}\n"
        "teacher: {train: {preset: tiny, max_updates: 0, lr: .inf}}\n"
        "distill: [{name: kd, beam: 0, max_len_ratio: .nan, chunk_size: 0}]\n"
        "students: [{name: s, data: kd, preset: tiny, max_updates: 1, kd_alpha: .nan}]\n"
        "export: {fidelity_test: nosuchset}\n"
        "bench: {threads: [-1]}\n")
    return ["run", str(d / "run.yaml"), "--check"]



def _empty_api_keys(d: Path) -> List[str]:
    (d / "keys").write_text("# none yet\n")
    return ["serve", str(_fake_model(d)), "--api-keys", str(d / "keys")]

def _escaping_archive(d: Path) -> List[str]:
    import io
    import tarfile

    with tarfile.open(d / "trip.tgz", "w:gz") as tar:
        member = tarfile.TarInfo("../escaped.txt")
        member.size = 3
        tar.addfile(member, io.BytesIO(b"hi\n"))
    return ["unpack", str(d / "trip"), "--into", str(d / "out")]


def _archive_into_other_stage(d: Path) -> List[str]:
    import io
    import tarfile

    config = f"out_dir: {d / 'student-a'}\n".encode()
    with tarfile.open(d / "trip.tgz", "w:gz") as tar:
        member = tarfile.TarInfo("config.yaml")
        member.size = len(config)
        tar.addfile(member, io.BytesIO(config))
    (d / "export-a").mkdir()
    (d / "export-a" / "config.yaml").write_text(f"out_dir: {d / 'export-a'}\n")
    return ["unpack", str(d / "trip"), "--into", str(d / "export-a")]


def _cut_archive(d: Path) -> List[str]:
    """`unpack` of an archive cut short on its way between machines."""
    import io
    import tarfile

    with tarfile.open(d / "trip.tgz", "w:gz") as tar:
        data = bytes(range(256)) * 400
        member = tarfile.TarInfo("config.yaml")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    whole = (d / "trip.tgz").read_bytes()
    (d / "trip.tgz").write_bytes(whole[: len(whole) // 2])
    return ["unpack", str(d / "trip"), "--into", str(d / "out")]


def _linking_archive(d: Path) -> List[str]:
    import tarfile

    with tarfile.open(d / "trip.tgz", "w:gz") as tar:
        member = tarfile.TarInfo("keys")
        member.type, member.linkname = tarfile.SYMTYPE, "/root/.ssh/id_rsa"
        tar.addfile(member)
    return ["unpack", str(d / "trip"), "--into", str(d / "out")]


CASES = [
    Case("test-name-train", "11.1", "a test set named `train` (it would replace the training set)",
         lambda d: _prepare(d, "--test", f"train={d / 'c' / 'test'}"), ["reserved"], "out"),
    Case("test-name-valid", "11.1", "a test set named `valid`",
         lambda d: _prepare(d, "--test", f"valid={d / 'c' / 'test'}"), ["reserved"], "out"),
    Case("test-name-path", "11.2", "a test set name that is a path (`../../X`)",
         lambda d: _prepare(d, "--test", f"../../X={d / 'c' / 'test'}"), ["not allowed"], "out"),
    Case("test-name-comma", "11.2", "a test set name with a comma",
         lambda d: _prepare(d, "--test", f"a,b={d / 'c' / 'test'}"), ["not allowed"], "out"),
    Case("test-name-yaml", "11.2", "a YAML `test_prefixes` name that is a path",
         lambda d: _config(d, f"work_dir: {d / 'w'}\ndata:\n  train_prefix: {_corpus(d) / 'train'}\n"
                              f"  valid_prefix: {d / 'c' / 'valid'}\n"
                              f"  test_prefixes: {{'../x': {d / 'c' / 'test'}}}\n"
                              "teacher: {train: {preset: tiny, max_updates: 1}}\n"),
         ["not allowed"], "w/data/DONE.json"),
    Case("gz-truncated", "11.3", "a truncated `.gz` corpus file", lambda d: _gz(d, "truncated"),
         ["train.en.gz", "truncated"], "out/DONE.json"),
    Case("gz-corrupt", "11.3", "a corrupt `.gz` corpus file", lambda d: _gz(d, "corrupt"),
         ["train.en.gz"], "out/DONE.json"),
    Case("gz-not-gzip", "11.3", "a `.gz` file that is not gzip", lambda d: _gz(d, "plain"),
         ["train.en.gz", "not a valid gzip file"], "out/DONE.json"),
    Case("empty-valid", "11.4", "an empty validation set", _empty_valid,
         ["valid.en", "is empty"], "out/DONE.json"),
    Case("config-type", "11.6", "a config value of the wrong type (`max_len: lots`), with "
         "another problem in the same file",
         lambda d: _config(d, f"work_dir: {d / 'w'}\ndata: {{max_len: lots, vocab_size: 1.5}}\n"
                              "teacher: {train: {preset: tiny, max_updates: 1}}\n"),
         ["2 problems", "max_len must be a whole number", "vocab_size must be a whole number"],
         "w"),
    Case("config-unknown", "11.6", "an unknown setting beside a wrong type",
         lambda d: _config(d, f"work_dir: {d / 'w'}\ndata: {{colour: red}}\n"
                              "teacher: {train: {preset: tiny, max_updates: x}}\n"),
         ["unknown setting(s) colour", "max_updates must be a whole number"], "w"),
    Case("config-list", "11.13", "a config file that is a YAML list",
         lambda d: _config(d, "- a\n- b\n"), ["a config is a mapping"]),
    Case("bench-empty-name", "11.7", "`bench --system =ct2:PATH` (no name)",
         lambda d: ["bench", "--data", str(d), "--out", str(d / "b"), "--system", "=ct2:x"],
         ["give the system a name"], "b"),
    Case("bench-empty-path", "11.7", "`bench --system s=ct2:` (no path)",
         lambda d: ["bench", "--data", str(d), "--out", str(d / "b"), "--system", "s=ct2:"],
         ["give the model path after 'ct2:'"], "b"),
    Case("bench-compute-type", "11.7", "`bench --system s=ct2:PATH,compute_type=float16` on a "
         "CPU (no float16 there)", lambda d: _fake_export(d, "s=ct2:{}/model,compute_type=float16"),
         ["compute_type float16 is not supported on this CPU"], "b"),
    Case("manifest-escape", "11.11", "a dataset manifest whose member or file names leave the "
         "cache (`../`)", lambda d: _manifest(d, EVIL_MEMBER),
         ["bad dataset manifest", "member '../../outside.{lang}'", "file '../b.tgz'"], "out"),
    Case("checkpoint-truncated-ct2", "11.5", "a truncated teacher checkpoint (CTranslate2 "
         "decoder)", None, ["cannot be read as a torch checkpoint", "truncated"], "out/DONE.json",
         needs_data=True),
    Case("checkpoint-truncated-fairseq", "11.5", "a truncated teacher checkpoint (fairseq "
         "decoder)", None, ["cannot be read as a torch checkpoint"], "out/DONE.json",
         needs_data=True),
    Case("checkpoint-not-torch", "11.5", "a text file given as the teacher", None,
         ["cannot be read as a torch checkpoint"], "out/DONE.json", needs_data=True),
    Case("checkpoint-not-fairseq", "11.5", "a torch file that is not a fairseq checkpoint, "
         "given to export", None, ["not a fairseq checkpoint"], "out", needs_data=True),
    # issue 20
    Case("checkpoint-no-model-settings", "36", "a torch file with weights but without the "
         "model's settings (no cfg.model, args None), given to export", None,
         ["not a fairseq checkpoint", "the model's settings, in 'cfg' (its 'model' entry) or "
          "'args'"], "out", needs_data=True),
    Case("run-foreign-folder", "20.4", "`seqkd run --restart teacher` where a stage folder it "
         "would clear (a distillation by that teacher) holds the user's own files",
         _foreign_folder, ["w/distill-kd must be cleared", "holds files seqkd did not write"],
         "w/data/DONE.json"),
    Case("run-only-needs-not-done", "36", "`seqkd run --only export-s` before the student "
         "it exports (and the data that student reads) has run", _only_needs_not_done,
         ["nothing was run or cleared", "export-s reads student-s: waits for prepare",
          "student-s reads prepare: not started", "--only prepare student-s export-s"], "w"),
    Case("run-input-not-there", "36", "`seqkd run` of a config whose teacher checkpoint is "
         "not there (a typo): said before prepare runs", _input_not_there,
         ["names files or folders that are not there; nothing was run",
          "teacher-v1.pt: not found"], "w"),
    Case("restart-linked-stage", "20.14", "`run --restart prepare` where the stage folder is "
         "a symlink", _linked_stage, ["w/data must be cleared", "it is a link"],
         "elsewhere/DONE.json"),
    Case("dataset-name-path", "20.5", "`prepare --dataset ../../x/esc` (a path, not a name)",
         lambda d: ["prepare", "--out", str(d / "out"), "--dataset", "../../x/esc"],
         ["dataset '../../x/esc' is not allowed"], "out"),
    Case("manifest-malformed", "20.5", "a dataset manifest with a split that is a number and "
         "a member template with an unknown field", lambda d: _manifest(d, BAD_MANIFEST),
         ["bad dataset manifest", "split train: must be a prefix", "member 'x.{foo}'"], "out"),
    Case("manifest-python-tag", "20.5", "a dataset manifest with a `!!python/object` tag",
         lambda d: _manifest(d, "name: !!python/object/apply:os.system ['true']\n"),
         ["not valid YAML"], "out"),
    Case("config-cross-settings", "20.8", "a config with an unknown student preset, seq-inter "
         "with `nbest: 1`, heads 3 at width 256 and two students of one name",
         lambda d: _config(d, CROSS_SETTINGS.format(w=d / "w", c=_corpus(d))),
         ["4 problems", "student a: preset must be one of", "seq-inter needs an n-best list",
          "heads 3 does not divide the width 256", "two entries are named 'b'"], "w"),
    Case("config-alias-bomb", "20.9", "a config with nested YAML aliases (\"billion laughs\")",
         lambda d: _config(d, ALIAS_BOMB), ["YAML aliases (*a) are not allowed"], "w"),
    Case("config-duplicate-key", "36", "a config that gives one setting twice (`max_len`, "
         "lines 3 and 4; YAML would keep the second without a word)",
         lambda d: _config(d, "work_dir: w\ndata:\n  max_len: 100\n  max_len: 50\n")
         + ["--check"],
         ["'max_len' is given twice in one mapping (lines 3 and 4)", "keep one"], "w"),
    Case("config-duplicate-key-one-line", "36", "a student entry written on one line that "
         "gives `max_epoch` twice", lambda d: _config(
             d, "work_dir: w\nstudents:\n  - {name: a, max_epoch: 3, max_epoch: 5}\n")
         + ["--check"],
         ["'max_epoch' is given twice in one mapping (on line 3)"], "w"),
    Case("config-list-repeat", "36", "a config whose lists give one entry twice (a test set "
         "in data and in bench, a thread count): each would be done again, or overwrite the "
         "first", lambda d: _config(d, "work_dir: w\ndata: {dataset: multi30k, test_sets: "
                                     "[test_2016_flickr, test_2016_flickr]}\nbench: {threads: "
                                     "[1, 1]}\n") + ["--check"],
         ["2 problems", "data: test_sets holds 'test_2016_flickr' twice", "give each once",
          "bench: threads holds 1 twice, got [1, 1]"], "w"),
    Case("bench-system-named-twice", "36", "a bench system named like a student's system "
         "(`s-b1`): said by the config check, not by the bench after the trainings",
         lambda d: _config(d, "work_dir: w\ndata: {dataset: multi30k}\nstudents:\n  - {name: s, "
                              "data: references, max_epoch: 1}\nbench:\n  student_beams: [1]\n"
                              "  systems: [s-b1=ct2:x,beam=1]\n") + ["--check"],
         ["bench: two systems are named 's-b1'", "rename one"], "w"),
    Case("train-seed-huge", "36", "`train --seed 5000000000` (numpy, which fairseq seeds, "
         "takes 0 .. 2**32 - 1; fairseq failed with a traceback)",
         lambda d: ["train", "--role", "student", "--data", str(d), "--out", str(d / "t"),
                    "--max-epoch", "1", "--seed", "5000000000"],
         ["seed must be at most 2147483647, got 5000000000"], "t"),
    Case("train-zero-rate-and-temperature", "36", "`train --lr 0 --kd-temperature 0` (no "
         "learning at all; a division by zero inside the KD loss, which failed in fairseq with "
         "a traceback)", lambda d: ["train", "--role", "student", "--data", str(d), "--out",
                                    str(d / "t"), "--max-epoch", "1", "--lr", "0",
                                    "--kd-teacher", str(d / "t.pt"), "--kd-temperature", "0"],
         ["2 problems", "lr must be above 0.0, got 0.0",
          "kd_temperature must be above 0.0, got 0.0"], "t"),
    Case("train-no-warmup", "36", "`train --warmup-updates 0` (fairseq's inverse-square-root "
         "schedule divided by it: a ZeroDivisionError)", lambda d: [
             "train", "--role", "student", "--data", str(d), "--out", str(d / "t"),
             "--max-epoch", "1", "--warmup-updates", "0"],
         ["warmup_updates must be at least 1, got 0"], "t"),
    Case("translate-beam", "20.10", "`translate --beam 100000`",
         lambda d: ["translate", str(d), "--beam", "100000"], ["beam must be at most 64"]),
    Case("translate-fairseq-no-data", "19.2", "`translate CHECKPOINT.pt --vmap` (a fairseq "
         "checkpoint without its data, with a CTranslate2 option)",
         lambda d: (d / "t.pt").write_bytes(b"x") and ["translate", str(d / "t.pt"), "--vmap"],
         ["is a fairseq checkpoint: give the `seqkd prepare` folder", "--vmap: options of an "
          "exported (CTranslate2) model"]),
    Case("translate-export-ensemble", "19.2", "`translate EXPORT --data D --ensemble X.pt`",
         lambda d: (d / "m").mkdir() or (d / "m" / "model.bin").write_bytes(b"x") and [
             "translate", str(d / "m"), "--data", str(d), "--ensemble", str(d / "x.pt")],
         ["leave out --data", "an exported model translates alone"]),
    Case("bench-beam-zero", "20.10", "`bench --system s=ct2:PATH,beam=0`",
         lambda d: ["bench", "--data", str(d), "--out", str(d / "b"), "--system",
                    f"s=ct2:{d},beam=0"], ["'beam=0' is not allowed", "N from 1 to 64"], "b"),
    Case("translate-bounds", "20.14", "`translate --max-len 0 --threads -1`",
         lambda d: ["translate", str(d), "--max-len", "0", "--threads", "-1"],
         ["2 problems", "max_len must be at least 1", "threads must be at least 0"]),
    Case("out-is-a-file", "20.14", "`prepare --out` naming an existing file",
         lambda d: (d / "f").write_text("x") and _prepare(d)[:1] + ["--out", str(d / "f")]
         + _prepare(d)[3:], ["cannot write to", "File exists"]),
    Case("out-under-a-file", "20.14", "`prepare --out FILE/sub` (a folder that cannot be made)",
         lambda d: (d / "f").write_text("x") and _prepare(d)[:1] + ["--out", str(d / "f" / "s")]
         + _prepare(d)[3:], ["cannot write to", "Not a directory"]),
    Case("spm-not-spm", "20.14", "`prepare --spm-model` given a file that is not a "
         "SentencePiece model", lambda d: (d / "x.model").write_text("hello\n") and _prepare(
             d, "--spm-model", str(d / "x.model")), ["is not a SentencePiece model"], "out"),
    Case("cache-is-a-file", "20.14", "`SEQKD_CACHE` naming a file",
         lambda d: _cache_file(d), ["the download cache", "is a file, not a folder"]),
    Case("lang-code-path", "20.15", "`--src \"d/../../../../X\"` (a language code that is a "
         "path)", lambda d: _prepare(d, "--src", "d/../../../../X"),
         ["src 'd/../../../../X' is not allowed"], "out"),
    Case("teacher-unfinished", "36", "a `seqkd train` folder whose training has not finished "
         "(no DONE.json) named as the teacher", None,
         ["whose training has not finished (no DONE.json)", "name one of its checkpoint files"],
         "out/DONE.json", needs_data=True),
    Case("train-continue-other-settings", "36.5", "`train --continue-from` a finished training "
         "with another seed and learning rate", None,
         ["it was trained with other settings (lr 0.001 there, unset (the preset's) here; "
          "seed 2 there, 1 here)", "only max_epoch, max_updates, patience"], "out",
         needs_data=True),
    Case("dict-wrong-size", "20.12", "a `dict.txt` beside the teacher with fewer entries than "
         "its embeddings have rows", None, ["embeddings have", "rows but the dictionary"],
         "out/DONE.json", needs_data=True),
    Case("checkpoint-corrupt-bytes", "20.7", "4 KB overwritten inside a checkpoint's tensor "
         "data, given to export", None, ["is corrupt", "fails its checksum (CRC)"], "out",
         needs_data=True),
    Case("data-is-not-prepare", "20.14", "`distill --data` given a folder of another stage",
         None, ["is not a prepare folder"], "out", needs_data=True),
    Case("chunk-damaged", "20.14", "a damaged chunk file in a distill folder", None,
         ["chunk", "is damaged", "delete it"], "out/DONE.json", needs_data=True),
    Case("teacher-command-short", "23.2", "a teacher command that writes fewer lines than it "
         "read", None, ["(chunk 0, lines 1-", "lines and wrote", "exactly one line per input"],
         "out/DONE.json", needs_data=True),
    Case("teacher-command-fails", "23.2", "a teacher command that exits non-zero", None,
         ["(chunk 0, lines 1-", "failed (exit 3)", "out of licences"], "out/DONE.json",
         needs_data=True),
    Case("teacher-command-hangs", "23.2", "a teacher command that hangs past "
         "`--command-timeout`", None, ["(chunk 0, lines 1-", "did not finish within 1 s"],
         "out/DONE.json", needs_data=True),
    Case("teacher-command-not-utf8", "23.2", "a teacher command that writes Latin-1", None,
         ["wrote bytes that are not UTF-8"], "out/DONE.json", needs_data=True),
    Case("teacher-command-word-kd", "23.1", "word-level KD in a config whose teacher is a "
         "command", lambda d: _command_config(d),
         ["word-level KD needs the teacher's token distributions"], "w"),
    Case("ct2-teacher-no-spm", "23.1", "a CTranslate2 model folder as the teacher with no "
         "SentencePiece model in it or named", None,
         ["has no SentencePiece model", "--teacher-spm"], "out", needs_data=True),
    Case("ct2-teacher-word-kd", "23.1", "a CTranslate2 model folder as the word-level KD "
         "teacher (`train --kd-teacher FOLDER`)", None,
         ["is a CTranslate2 model folder, not a fairseq checkpoint", "word-level KD"],
         "out/DONE.json", needs_data=True),
    Case("ct2-teacher-options", "23.1", "`distill --target-prefix` with a fairseq teacher",
         None, ["target_prefix: only for a teacher that is a CTranslate2 model folder"], "out",
         needs_data=True),
    # issue 37
    Case("ct2-teacher-target-prefix", "37.1", "a CTranslate2 teacher given `--target-prefix "
         "__xx__`, a token not in its vocabulary", None,
         ["target_prefix token(s) '__xx__' are not in the model's target vocabulary",
          "check the language code"], "out", needs_data=True),
    Case("ct2-teacher-source-prefix", "37.1", "a CTranslate2 teacher given `--source-prefix "
         "__en__`, not in its vocabulary", None,
         ["source_prefix token(s) '__en__' are not in the model's source vocabulary"], "out",
         needs_data=True),
    Case("ct2-teacher-other-spm", "37.1", "`--teacher-spm` from another vocabulary (a "
         "character model)", None,
         ["does not belong to the model", "of its pieces are in the model's source "
          "vocabulary", "--teacher-spm"], "out", needs_data=True),
    Case("out-holds-user-files", "37.2", "`prepare --out DIR` where DIR holds the user's own "
         "report.json and spm.model", _user_files,
         ["already holds files seqkd did not write (report.json, spm.model", "no config.yaml",
          "give a new or empty output folder"], "out/DONE.json"),
    Case("teacher-command-empty", "37.3", "a teacher command that prints only empty lines",
         None, ["of the teacher's", "outputs are empty (100%, over max_empty 50%)",
                "the teacher does not translate"], "out/DONE.json", needs_data=True),
    Case("topk-temperature-nan", "37.4", "`topk-cache --temperature nan`", _nan(
        "topk-cache", "--temperature"), ["temperature must be a finite number, got nan"],
         "out"),
    Case("distill-ratio-nan", "37.4", "`distill --max-len-ratio nan`", _nan(
        "distill", "--max-len-ratio"), ["max_len_ratio must be a finite number, got nan"],
         "out"),
    Case("distill-timeout-inf", "37.4", "`distill --command-timeout inf`", _nan(
        "distill", "--command-timeout", "inf"),
         ["command_timeout must be a finite number, got inf"], "out"),
    Case("train-kd-alpha-nan", "37.4", "`train --kd-alpha nan`", _nan("train", "--kd-alpha"),
         ["kd_alpha must be a finite number, got nan"], "out"),
    Case("prepare-ratio-nan", "37.4", "`prepare --max-ratio nan`", lambda d: _prepare(
        d, "--max-ratio", "nan"), ["max_ratio must be a finite number, got nan"], "out"),
    Case("bench-threads-negative", "37.8", "`bench --threads -1`", lambda d: _fake_export(
        d, "s=ct2:{}/model") + ["--threads", "-1"],
         ["threads must be at least 0, got -1 in [-1]"], "b"),
    Case("bench-efficiency-huge", "37.7", "`bench --efficiency --efficiency-sentences "
         "100000000000`", None, ["the efficiency protocol on 100,000,000,000 sentences needs "
                               "about", "GB free", "lower --efficiency-sentences"], "b",
         needs_data=True),
    Case("config-problems-at-once", "37.9", "a config with an unknown section, 12 bad values "
         "and a test set no stage prepares (`run --check`)", _many_problems,
         ["14 problems; nothing was run", "unknown section(s) extras",
          "export fidelity_test: no test set 'nosuchset' is prepared",
          "bench: threads must be at least 0, got -1 in [-1]"], "w"),
    Case("config-problems-status", "36", "the same config asked where its stages stand "
         "(`run --status`)", lambda d: _many_problems(d)[:2] + ["--status"],
         ["14 problems; nothing was run", "unknown section(s) extras"], "w"),
    Case("scale-bench-huge", "37.7", "`scale-bench --pairs 1000000000000`", lambda d: [
        "scale-bench", "--out", str(d / "sb"), "--pairs", "1000000000000"],
         ["scale-bench of 1,000,000,000,000 pairs needs about", "GB free",
          "ask for fewer --pairs"], "sb/corpus"),
    Case("distill-named-references", "37.5", "a config distill entry named `references`",
         lambda d: _config(d, f"work_dir: {d / 'w'}\ndata: {{dataset: multi30k}}\n"
                              "teacher: {train: {preset: tiny, max_updates: 1}}\n"
                              "distill: [{name: references}]\n") + ["--check"],
         ["the name 'references' is reserved", "give the entry another name"], "w"),
    Case("serve-not-an-export", "38.4", "`serve` given a folder that is not an export",
         lambda d: ["serve", str(d)], ["seqkd serve takes an `seqkd export` folder",
                                        "export it with `seqkd export`"], None),
    Case("serve-empty-api-keys", "38.4", "`serve --api-keys FILE` whose file holds no key",
         _empty_api_keys,
         ["--api-keys", "holds no key"], None),
    Case("serve-cors-not-an-origin", "38.4", "`serve --cors-origins` given a URL with a path "
         "(a browser sends an origin: scheme://host[:port])",
         lambda d: ["serve", str(_fake_model(d)), "--cors-origins", "https://app.example.com/"],
         ["--cors-origins: 'https://app.example.com/' is not an origin",
          "without a path (e.g. https://app.example.com)"], None),
    Case("serve-host-not-here", "38.4", "`serve --host` an address no interface of the "
         "machine has", lambda d: ["serve", str(_fake_model(d)), "--host", "192.0.2.1"],
         ["cannot listen on 192.0.2.1", "give one it has as --host"], None),
    Case("ct2-folder-no-model-bin", "37.10", "a CTranslate2 folder without model.bin as the "
         "teacher", None, ["looks like a CTranslate2 model folder without its model.bin",
                           "convert the model again"], "out", needs_data=True),
    Case("translate-prepare-folder", "37.10", "`translate` (and `seqkd.load`) given a "
         "prepare folder", None, ["is the folder of a prepare stage, not an export"], None,
         needs_data=True),
    Case("unpack-escaping-archive", "39.5", "`unpack` of an archive whose member would land "
         "outside the folder (`../escaped.txt`)", _escaping_archive,
         ["would land outside", "nothing was unpacked"], "out"),
    Case("unpack-cut-short", "39.5", "`unpack` of an archive cut short on its way",
         _cut_archive, ["trip.tgz cannot be read as an archive", "copy it again"], "out"),
    Case("unpack-link", "39.5", "`unpack` of an archive holding a symbolic link",
         _linking_archive, ["not a plain file or folder", "nothing was unpacked"], "out"),
    Case("unpack-into-other-stage", "39.5", "`unpack` into a folder that holds another "
         "stage (their files would mix)", _archive_into_other_stage,
         ["their files would mix", "nothing was unpacked"], "export-a/DONE.json"),
    Case("pack-not-a-stage", "39.5", "`pack` of a folder that is not a stage folder",
         lambda d: ["pack", str(d), "--out", str(d / "x")],
         ["is not a stage folder (no config.yaml)"], "x.tgz"),
    Case("compare-not-a-report", "36.4", "`compare` given a JSON file that is not a bench "
         "report", lambda d: _json_file(d, [1, 2], "compare"),
         ["r.json is not a bench report.json (no list of results)"], "again.json"),
    Case("choose-set-not-in-report", "36.4", "`choose --on t16 valid` over a report that "
         "measured no valid set",
         lambda d: _choose(d, "--on", "t16", "valid", "--min-speedup", "30"),
         ["--on valid: the report has no such test set"], "choice"),
    Case("choose-too-slow", "36.4", "`choose --min-speedup 30` where no candidate is that fast",
         lambda d: _choose(d, "--on", "t16", "--min-speedup", "30"),
         ["no candidate can be chosen; the fastest, s-b1: 20.0x teacher's words/s on t16, "
          "under 30x"], "choice"),
    Case("choose-on-every-set", "36.4", "`choose --on t16 t17` over a report that measured "
         "only those two (nothing is left to claim on)",
         lambda d: _choose(d, "--on", "t16", "t17"),
         ["--on names every set the report measured: leave out at least one for the claims"],
         "choice"),
    Case("kd-gain-row-without-fields", "36.4", "`kd-gain` given a report whose row has no "
         "test set or thread count",
         lambda d: _json_file(d, {"results": [{"system": "baseline-x", "bleu": 1, "beam": 1}]},
                              "kd-gain"),
         ["result 1 has no valid test_set, threads"], "again.json"),
    Case("kd-gain-beam-absent", "36.4", "`kd-gain --beam 5` over a report whose pairs are "
         "all at beam 1",
         lambda d: [*_json_file(d, {"results": [
             {"system": n, "test_set": "t16", "threads": 1, "beam": 1, "bleu": b,
              "src_wps_median": 9000} for n, b in (("baseline-x", 30.0), ("seqkd-x", 32.0))]},
             "kd-gain"), "--beam", "5"],
         ["no KD/baseline pair at beam 5; its pairs are at beam 1: give --beam 1"],
         "again.json"),
    Case("bench-compare-unknown-system", "36.4", "`bench --compare` naming a system the "
         "bench does not have", None, ["compare 's,nobody': no system named nobody"], "b",
         needs_data=True),
    Case("bench-blind-bad", "36.4", "`bench --blind` given an entry that is not NAME=FILE "
         "and a file that is not there", None,
         ["'oops' is not NAME=FILE", "held: ", "is not a file"], "b", needs_data=True),
    Case("translate-norepeat-negative", "36.4", "`translate --no-repeat-ngram -1`",
         lambda d: ["translate", str(d), "--no-repeat-ngram", "-1"],
         ["no_repeat_ngram must be at least 0"]),
    Case("distill-word-loop-two", "36.4", "`distill --word-loop-repeats 2` (real words double "
         "letters and syllables)", _nan("distill", "--word-loop-repeats", "2"),
         ["word_loop_repeats must be 0 (off) or at least 3"], "out"),
    Case("distill-mbr-metric-unused", "36.3", "`distill --mbr-metric bleu` without `--select "
         "mbr` (the utility of a choice that is not made)", _nan("distill", "--mbr-metric",
                                                                 "bleu"),
         ["mbr_metric bleu is the utility of select mbr, and select is best"], "out"),
    Case("prepare-mono-not-there", "36.1", "`prepare --mono captions=PREFIX` where PREFIX.en "
         "is not there", lambda d: _prepare(d, "--mono", f"captions={d / 'caps'}"),
         ["monolingual corpus captions:", "caps.en not found (nor", "caps.en.gz)",
          "PREFIX.en (the source language, --src)"], "out"),
    Case("prepare-prefix-half-there", "36", "`prepare --test t=PREFIX` where PREFIX.en is "
         "there and PREFIX.de is not: said before the stage folder is made",
         lambda d: (d / "t.en").write_text("a\n") and _prepare(d, "--test", f"t={d / 't'}"),
         ["de file for prefix", "t.de not found (nor", "a prefix stands for PREFIX.SRC and "
          "PREFIX.TGT"], "out"),
    Case("lang-code-same", "36", "`prepare --src pt_BR --tgt pt_br` (one code for both "
         "sides: each side's files are named by its code, so one overwrote the other)",
         lambda d: _prepare(d, "--src", "pt_BR", "--tgt", "pt_br"),
         ["src and tgt are both 'pt_BR'", "give each side its own code"], "out"),
    Case("prepare-vocab-under-characters", "36", "`prepare --vocab-size 60` of a Chinese "
         "target with 200 distinct characters (SentencePiece's own check ended in a "
         "RuntimeError traceback)", _many_characters,
         ["the training text has 2", "characters that SentencePiece keeps each as a piece of "
          "its own at character coverage 1, more than the vocabulary size 60",
          "raise --vocab-size well above", "or lower --character-coverage"], "out/DONE.json"),
    Case("lang-code-dot", "36", "`prepare --src en.x` (a '.' in a language code, which "
         "fairseq's file names cannot hold)", lambda d: _prepare(d, "--src", "en.x"),
         ["src 'en.x' is not allowed: use letters, digits, '_' and '-' only"], "out"),
    Case("prepare-mono-folder", "36.1", "`prepare --mono captions=PREFIX` where PREFIX.en is a "
         "folder", lambda d: (d / "caps.en").mkdir() or _prepare(d, "--mono",
                                                               f"captions={d / 'caps'}"),
         ["monolingual corpus captions:", "caps.en is a folder, not a file"], "out"),
    Case("bench-norepeat-word", "36.4", "a bench system's `norepeat=` that is not a number",
         lambda d: ["bench", "--data", str(d), "--out", str(d / "b"), "--system",
                    f"s=ct2:{d},beam=1,norepeat=four"],
         ["'norepeat=four' is not allowed", "N from 0 to 64"], "b"),
    Case("bench-path-comma", "36", "a bench system whose model path holds a comma (the "
         "comma ends the path in NAME=KIND:PATH,OPTIONS)",
         lambda d: ["bench", "--data", str(d), "--out", str(d / "b"), "--system",
                    f"s=ct2:{d}/runs,v2/export,beam=1"],
         ["'v2/export' is not an option (KEY=VALUE)", "give a path without one"], "b"),
    Case("bench-option-twice", "36", "a bench system that gives one option twice "
         "(`beam=1,beam=5`: the last one was taken without a word)",
         lambda d: ["bench", "--data", str(d), "--out", str(d / "b"), "--system",
                    f"s=ct2:{d},beam=1,beam=5"],
         ["--system s: beam is given twice ('beam=1' and 'beam=5'); keep one"], "b"),
    Case("config-bleu-without-mecab", "36", "a config into Japanese whose MBR selection, "
         "export fidelity check and bench score BLEU, which sacrebleu tokenizes with MeCab, "
         "not installed (said before anything runs, not after the trainings)", _japanese_bleu,
         ["3 problems; nothing was run", "distill kd: BLEU of 'ja' text is tokenized by MeCab",
          ".venv/bin/pip install 'sacrebleu[ja]'), or set mbr_metric chrf",
          "export fidelity_test: BLEU of 'ja' text", "or leave fidelity_test out",
          "bench: BLEU of 'ja' text"], "w"),
    Case("bench-system-given-twice", "36", "`bench` with two `--system` of one name (each "
         "writes the same report row and output files)",
         lambda d: _fake_export(d, "s=ct2:{0}/model") + ["--system", f"s=ct2:{d}/model,beam=5"],
         ["two systems are named 's': give each --system a name of its own"], "b"),
    Case("config-mono-list", "36.1", "a config whose `data.mono` is a list of files, not NAME: "
         "PREFIX", lambda d: _config(d, f"work_dir: {d / 'w'}\ndata: {{mono: [caps, more]}}\n"
                                        "teacher: {train: {preset: tiny, max_updates: 1}}\n"),
         ["mono must be a mapping of names to values, each a string"], "w"),
    Case("done-record-damaged", "36", "`prepare --out DIR` where DIR's `DONE.json` (seqkd's record "
         "of a finished stage) was cut short", _damaged_done,
         ["out/DONE.json is damaged (JSONDecodeError", "cannot tell what this prepare stage ran "
          "with: delete that file and run the stage again"]),
    Case("export-card-damaged", "36", "`translate` (and `serve`, `seqkd.load`) given an export "
         "whose `card.json` was cut short", _damaged_card,
         ["model/card.json is damaged (JSONDecodeError", "export the model again"]),
    Case("config-work-dir-file", "36", "`run --check` of a config whose `work_dir` is a file",
         lambda d: (d / "w").write_text("mine") and _config(
             d, f"work_dir: {d / 'w'}\nteacher: {{train: {{preset: tiny, max_updates: 1}}}}\n")
         + ["--check"], ["work_dir", "is a file, not a folder"]),
    Case("config-deep-nesting", "36", "a config whose value nests lists 20,000 deep (the YAML "
         "parser's recursion)", lambda d: _config(d, "work_dir: " + "[" * 20_000 + "]" * 20_000),
         ["lists or mappings nest too deeply to read"]),
    Case("report-deep-nesting", "36", "`kd-gain` given a JSON file whose arrays nest 100,000 deep",
         lambda d: _json_file(d, "[" * 100_000 + "]" * 100_000, "kd-gain"),
         ["r.json is not a bench report.json (RecursionError)"], "again.json"),
    Case("export-ct2-folder", "36", "`export` given an exported model (a CTranslate2 folder), not "
         "a checkpoint", lambda d: ["export", str(_fake_model(d)), "--data", str(d), "--out",
                                    str(d / "out")],
         ["model is a CTranslate2 model folder, not a fairseq checkpoint: it is exported "
          "already"], "out"),
    Case("bench-fairseq-ct2-folder", "36", "`bench --system s=fairseq:EXPORT` (a CTranslate2 "
         "folder given as the fairseq kind)", lambda d: _fake_export(d, "s=fairseq:{}/model"),
         ["model is a CTranslate2 model folder, not a fairseq checkpoint: measure it as "
          "s=ct2:"], "b"),
    Case("export-data-is-distill", "36", "`export --data` given the distillation folder a "
         "student was trained on (export needs the prepare folder it was distilled from)", None,
         ["is not a prepare folder (it holds a finished distill stage)",
          "data: give that"], "out", needs_data=True),
]


def _choose(d: Path, *args: str) -> List[str]:
    import json

    rows = [{"system": n, "test_set": t, "threads": 1, "beam": 1, "bleu": b,
             "src_wps_median": w}
            for n, b, w in (("teacher", 38.0, 500), ("s-b1", 36.0, 10000))
            for t in ("t16", "t17")]
    (d / "r.json").write_text(json.dumps({"results": rows}))
    return ["choose", str(d / "r.json"), "--out", str(d / "choice"), *args]


def _json_file(d: Path, content, command: str) -> List[str]:
    import json

    (d / "r.json").write_text(content if isinstance(content, str) else json.dumps(content))
    if command == "compare":
        return ["compare", str(d / "r.json"), "--outputs", str(d), "--data", str(d),
                "--json", str(d / "again.json")]
    return ["kd-gain", str(d / "r.json"), "--out", str(d / "again.json")]


def _ct2_teacher_fake(d: Path, data: Path, *extra: str, spm: str = "") -> List[str]:
    """A CTranslate2 teacher folder whose vocabulary is the data's (the model itself is never
    loaded: the checks come first)."""
    import json

    import sentencepiece as sp_lib

    f = d / "ct2"
    f.mkdir()
    sp = sp_lib.SentencePieceProcessor(model_file=str(data / "spm.model"))
    vocab = ["<s>", "<blank>", "</s>", "<unk>"] + [sp.id_to_piece(i)
                                                   for i in range(1, sp.get_piece_size())]
    (f / "shared_vocabulary.json").write_text(json.dumps(vocab))
    (f / "model.bin").write_bytes(b"not loaded")
    shutil.copy(data / "spm.model", f / "spm.model")
    args = ["distill", "--data", str(data), "--out", str(d / "out"), "--teacher", str(f), *extra]
    if spm:
        args += ["--teacher-spm", spm]
    return args


def _other_spm(d: Path, data: Path) -> List[str]:
    """A character-level SentencePiece model: another vocabulary than the teacher's."""
    import sentencepiece as sp_lib

    text = d / "chars.txt"
    text.write_text("".join(f"zq{i} xj{i} Öä{i}\n" for i in range(200)))
    sp_lib.SentencePieceTrainer.train(input=str(text), model_prefix=str(d / "chars"),
                                      vocab_size=40, model_type="char", minloglevel=2)
    return _ct2_teacher_fake(d, data, spm=str(d / "chars.model"))


def _ct2_no_model_bin(d: Path, data: Path) -> List[str]:
    args = _ct2_teacher_fake(d, data)
    (d / "ct2" / "model.bin").unlink()
    return args


def _ct2_folder(d: Path) -> Path:
    """A CTranslate2 model folder as a converter leaves it, without a SentencePiece model."""
    f = d / "ct2"
    f.mkdir()
    for name in ("model.bin", "config.json", "shared_vocabulary.json"):
        (f / name).write_bytes(b"")
    return f


def _teacher_command(d: Path, data: Path, mode: str, *extra: str) -> List[str]:
    import sys

    script = Path(__file__).resolve().parent.parent / "fixtures" / "teacher_command.py"
    return ["distill", "--data", str(data), "--out", str(d / "out"), "--teacher-command",
            f"{sys.executable} {script} {mode}", *extra]


def _command_config(d: Path) -> List[str]:
    c = _corpus(d)
    (d / "run.yaml").write_text(
        f"work_dir: {d / 'w'}\n"
        f"data: {{train_prefix: {c / 'train'}, valid_prefix: {c / 'valid'}}}\n"
        "teacher: {command: 'cat'}\n"
        "distill: [{name: kd}]\n"
        "students: [{name: s, data: kd, preset: tiny, max_updates: 1, "
        "word_kd: {alpha: 0.5}}]\n")
    return ["run", str(d / "run.yaml")]


def _cache_file(d: Path) -> List[str]:
    (d / "cache").write_text("x")
    os.environ["SEQKD_CACHE"] = str(d / "cache")  # restored by the test
    return ["prepare", "--out", str(d / "out"), "--test-sets", "test_2016_flickr"]


def _data_is_not_prepare(d: Path, data: Path) -> List[str]:
    other = d / "student"
    other.mkdir()
    (other / "DONE.json").write_text('{"stage": "train (student)", "settings": {}}')
    return ["distill", "--data", str(other), "--out", str(d / "out"), "--teacher",
            str(_fake_teacher(d, data))]


def _export_data_is_distill(d: Path, data: Path) -> List[str]:
    distilled = d / "distill"
    distilled.mkdir()
    (distilled / "DONE.json").write_text(json.dumps(
        {"stage": "distill", "settings": {"data": str(data)}}))
    return ["export", str(_fake_teacher(d, data)), "--data", str(distilled), "--out",
            str(d / "out")]


def _chunk_damaged(d: Path, data: Path) -> List[str]:
    """A fake teacher makes decoding fail, so the damaged chunk must be met at the merge:
    every chunk is there, one of them is not JSON."""
    from seqkd.stages.distill.merge import chunk_path

    n = sum(1 for _ in open(data / "text" / "train.en", encoding="utf-8"))
    out = d / "out"
    args = ["distill", "--data", str(data), "--out", str(out), "--teacher",
            str(_fake_teacher(d, data)), "--merge-only", "--chunk-size", str(n)]
    # the folder as a killed distill leaves it: started by seqkd (its config.yaml), one
    # chunk written, here damaged
    from seqkd.cli import main
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(args + ["-q"]) == 1  # no chunk yet: nothing to merge
    chunk_path(out, 0).parent.mkdir(parents=True)
    chunk_path(out, 0).write_text("{not json\n")
    return args

DATA_SETUPS = {
    "checkpoint-truncated-ct2": lambda d, data: _checkpoint(d, "truncated", data, "distill",
                                                            "ctranslate2"),
    "checkpoint-truncated-fairseq": lambda d, data: _checkpoint(d, "truncated", data, "distill",
                                                                "fairseq"),
    "checkpoint-not-torch": lambda d, data: _checkpoint(d, "not-torch", data, "distill",
                                                        "ctranslate2"),
    "checkpoint-not-fairseq": lambda d, data: _checkpoint(d, "not-fairseq", data, "export"),
    "checkpoint-no-model-settings": lambda d, data: _checkpoint(d, "no-settings", data,
                                                                "export"),
    "teacher-unfinished": lambda d, data: ["distill", "--data", str(data), "--out",
                                           str(d / "out"), "--teacher", str(_unfinished(d, data))],
    "train-continue-other-settings": lambda d, data: [
        "train", "--role", "student", "--preset", "enc6-dec1", "--data", str(data), "--out",
        str(d / "out"), "--max-epoch", "6", "--continue-from",
        str(_finished_training(d, "seed: 2\nlr: 0.001\nmax_epoch: 3\n"))],
    "dict-wrong-size": lambda d, data: ["distill", "--data", str(data), "--out",
                                        str(d / "out"), "--teacher",
                                        str(_fake_teacher(d, data, 7))],
    "checkpoint-corrupt-bytes": lambda d, data: ["export", str(_fake_teacher(
        d, data, corrupt=True)), "--data", str(data), "--out", str(d / "out")],
    "data-is-not-prepare": _data_is_not_prepare,
    "chunk-damaged": _chunk_damaged,
    "export-data-is-distill": _export_data_is_distill,
    "ct2-teacher-target-prefix": lambda d, data: _ct2_teacher_fake(d, data, "--target-prefix",
                                                                   "__xx__"),
    "ct2-teacher-source-prefix": lambda d, data: _ct2_teacher_fake(d, data, "--source-prefix",
                                                                   "__en__"),
    "ct2-teacher-other-spm": _other_spm,
    "ct2-folder-no-model-bin": _ct2_no_model_bin,
    "teacher-command-empty": lambda d, data: _teacher_command(d, data, "empty"),
    "bench-efficiency-huge": lambda d, data: ["bench", "--data", str(data), "--out",
                                              str(d / "b"), "--system",
                                              f"s=ct2:{_fake_model(d)}", "--efficiency",
                                              "--efficiency-sentences", "100000000000"],
    "translate-prepare-folder": lambda d, data: ["translate", str(data)],
    "bench-compare-unknown-system": lambda d, data: ["bench", "--data", str(data), "--out",
                                                     str(d / "b"), "--system",
                                                     f"s=ct2:{_fake_model(d)}", "--compare",
                                                     "s,nobody"],
    "bench-blind-bad": lambda d, data: ["bench", "--data", str(data), "--out", str(d / "b"),
                                        "--system", f"s=ct2:{_fake_model(d)}", "--blind",
                                        "oops", f"held={d / 'nowhere.en'}"],
    "teacher-command-short": lambda d, data: _teacher_command(d, data, "short"),
    "teacher-command-fails": lambda d, data: _teacher_command(d, data, "fail"),
    "teacher-command-hangs": lambda d, data: _teacher_command(d, data, "hang",
                                                              "--command-timeout", "1"),
    "teacher-command-not-utf8": lambda d, data: _teacher_command(d, data, "latin1"),
    "ct2-teacher-no-spm": lambda d, data: ["distill", "--data", str(data), "--out",
                                           str(d / "out"), "--teacher", str(_ct2_folder(d))],
    "ct2-teacher-word-kd": lambda d, data: ["train", "--role", "student", "--data", str(data),
                                            "--out", str(d / "out"), "--preset", "tiny",
                                            "--max-updates", "2",
                                            "--kd-teacher", str(_ct2_folder(d))],
    "ct2-teacher-options": lambda d, data: ["distill", "--data", str(data), "--out",
                                            str(d / "out"), "--teacher",
                                            str(_fake_teacher(d, data)), "--target-prefix",
                                            "deu_Latn"],
}
