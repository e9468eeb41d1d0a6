"""The bad inputs that seqkd must answer with one clear error (exit 1, no traceback).

Each case builds its inputs in a temporary folder, runs one seqkd command in-process and
says what the message must contain. The same cases make docs/RELIABILITY.md (see
test_bad_inputs.py), so the table there is what the code does, not what someone wrote.
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from corpus import write_corpus


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


def _fake_export(d: Path, system: str) -> List[str]:
    (d / "model").mkdir()
    for f in ("model.bin", "spm.model"):
        (d / "model" / f).write_bytes(b"")
    return ["bench", "--data", str(d), "--out", str(d / "b"), "--system", system.format(d)]


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
    else:  # a torch file that is not a fairseq checkpoint
        torch.save({"weights": torch.zeros(3)}, p)
    shutil.copyfile(data / "dict.txt", d / "dict.txt")
    if command == "distill":
        return ["distill", "--data", str(data), "--out", str(d / "out"), "--teacher", str(p),
                "--decoder", decoder]
    return ["export", str(p), "--data", str(data), "--out", str(d / "out")]


EVIL_MEMBER = """name: evil
langs: [en, de]
files:
  a.tgz: {url: "file:///nowhere/a.tgz", sha256: "0"}
splits:
  train: {file: a.tgz, member: "../../outside.{lang}"}
  valid: {file: "../b.tgz"}
"""

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
]

DATA_SETUPS = {
    "checkpoint-truncated-ct2": lambda d, data: _checkpoint(d, "truncated", data, "distill",
                                                            "ctranslate2"),
    "checkpoint-truncated-fairseq": lambda d, data: _checkpoint(d, "truncated", data, "distill",
                                                                "fairseq"),
    "checkpoint-not-torch": lambda d, data: _checkpoint(d, "not-torch", data, "distill",
                                                        "ctranslate2"),
    "checkpoint-not-fairseq": lambda d, data: _checkpoint(d, "not-fairseq", data, "export"),
}
