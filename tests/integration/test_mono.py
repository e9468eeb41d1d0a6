"""Monolingual source corpora: prepared beside the parallel data (cleaned with the one-side
rules, deduplicated within themselves and against the training source), and distilled
together with the training source by every kind of teacher, line-aligned, with per-source
counts."""

import gzip
import json
import sys

import pytest

from conftest import HERE, mirror, seqkd
from seqkd.textio import read_lines

TEACHER_COMMAND = HERE / "fixtures" / "teacher_command.py"


def write_mono(folder, corpus):
    """A monolingual file with every kind of line the cleaning rules name, and the counts
    prepare must report for it. A sentence of the validation set and one of the test set
    are among its lines: the student is scored on them, so they are dropped."""
    train = read_lines(corpus / "train.en")
    scored = [next(x for x in read_lines(corpus / f"{split}.en") if x not in set(train))
              for split in ("valid", "test")]
    new = [f"w{i % 30} w{(i * 7) % 30} w{(i * 11) % 30} w{(i * 13) % 30} w{i % 29}"
           for i in range(300)]
    new = list(dict.fromkeys(x for x in new if x not in set(train)))
    lines = (new[:100] + [train[0], "  " + train[1] + "\t"]  # in the training source
             + [new[0], new[1]]                                # repeats of earlier lines
             + ["", "   "]                                     # empty
             + [" ".join(["w1"] * 30)]                          # over --max-len 20 words
             + ["w1 \x07 w2", "w3 \ufffd w4"]                  # control / replacement chars
             + [scored[0], scored[1] + " "]                    # sentences of valid and test
             + new[100:150])
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "mono.en.gz", "wt", encoding="utf-8") as f:
        f.write("".join(x + "\n" for x in lines))
    kept = new[:150]
    counts = {"read": len(lines), "kept": len(kept), "dropped_empty": 2,
              "dropped_too_long": 1, "dropped_characters": 2, "dropped_duplicate": 2,
              "dropped_in_train": 2, "dropped_in_eval": 2}
    return folder / "mono", kept, counts


@pytest.fixture(scope="module")
def mono_data(corpus, prepared, tmp_path_factory):
    """The corpus prepared again in the same vocabulary (the tiny teacher's), with a
    monolingual corpus ``extra``."""
    root = tmp_path_factory.mktemp("mono")
    prefix, kept, counts = write_mono(root / "mono", corpus)
    out = root / "data"
    assert seqkd("prepare", "--out", out, "--train-prefix", corpus / "train", "--valid-prefix",
                 corpus / "valid", "--test", f"test={corpus / 'test'}", "--max-len", "20",
                 "--spm-model", prepared / "spm.model", "--dict", prepared / "dict.txt",
                 "--mono", f"extra={prefix}", "-q") == 0
    return out, kept, counts


def test_mono_prepare_cleans_dedups_against_train_and_counts(mono_data):
    out, kept, counts = mono_data
    report = json.loads((out / "report.json").read_text())
    assert report["mono"] == {"extra": counts}
    assert read_lines(out / "mono" / "text" / "extra.en") == kept
    pieces = read_lines(out / "mono" / "pieces" / "extra.en")
    assert len(pieces) == len(kept) and pieces[0].startswith("▁")
    assert (out / "mono" / "bin" / "extra.en.bin").stat().st_size > 0
    # the parallel splits are untouched: no mono split among fairseq's
    assert json.loads((out / "bin" / "splits.json").read_text()) == {
        "train": "train", "valid": "valid", "test": "test"}


def test_mono_prepare_resumes_after_an_interruption(corpus, prepared, tmp_path, monkeypatch,
                                                   mono_data, capsys):
    from seqkd.stages.prepare import runner as prepare_stage

    prefix, _, _ = write_mono(tmp_path / "m", corpus)
    args = ["prepare", "--out", tmp_path / "data", "--train-prefix", corpus / "train",
            "--valid-prefix", corpus / "valid", "--test", f"test={corpus / 'test'}",
            "--max-len", "20", "--spm-model", prepared / "spm.model", "--dict",
            prepared / "dict.txt", "--mono", f"extra={prefix}", "-q"]

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_stage, "binarize_mono", killed)
    assert seqkd(*args) != 0  # the command says it was interrupted
    assert "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "data" / "DONE.json").exists()  # nothing looks finished
    monkeypatch.undo()
    assert seqkd(*args) == 0
    first = mono_data[0]
    for rel in ("mono/text/extra.en", "mono/pieces/extra.en", "mono/bin/extra.en.bin",
                "mono/bin/extra.en.idx", "report.json"):
        assert (tmp_path / "data" / rel).read_bytes() == (first / rel).read_bytes(), rel
    done = (tmp_path / "data" / "DONE.json").read_text()
    assert seqkd(*args) == 0  # finished: up to date, not redone
    assert (tmp_path / "data" / "DONE.json").read_text() == done


def test_mono_names_and_files_are_checked_before_anything_runs(corpus, tmp_path, capsys):
    base = ["prepare", "--out", tmp_path / "d", "--train-prefix", corpus / "train",
            "--valid-prefix", corpus / "valid", "-q"]
    assert seqkd(*base, "--mono", "train=x") == 1
    assert "'train' is reserved" in capsys.readouterr().err
    assert seqkd(*base, "--mono", f"m={tmp_path / 'nothing'}") == 1
    assert f"{tmp_path / 'nothing'}.en not found" in capsys.readouterr().err
    assert seqkd(*base, "--mono", "a=x", "--mono-dataset", "a=multi30k-captions") == 1
    assert "give each corpus its own name" in capsys.readouterr().err
    assert seqkd(*base, "--mono-dataset", "m=no-such-set") == 1
    assert "unknown dataset 'no-such-set'" in capsys.readouterr().err
    assert not (tmp_path / "d" / "DONE.json").exists()


@pytest.mark.slow
@pytest.mark.skipif(mirror() is None, reason="needs the Multi30k mirror (SEQKD_DATA_MIRROR)")
def test_the_registered_captions_are_prepared_through_the_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQKD_DATA_MIRROR", str(mirror()))
    if not (mirror() / "multi30k-captions" / "train.1.en.gz").is_file():
        pytest.skip("the mirror has no multi30k-captions")
    out = tmp_path / "data"
    assert seqkd("prepare", "--out", out, "--test-sets", "test_2016_flickr", "--vocab-size",
                 "2000", "--spm-sentences", "20000", "--mono-dataset",
                 "captions=multi30k-captions", "-q") == 0
    counts = json.loads((out / "report.json").read_text())["mono"]["captions"]
    # 145,000 descriptions; 115,555 distinct ones are not a task-1 training source, and two
    # more are kept because their training pairs were cleaned away (length ratio); four are
    # sentences of the sets scored on (three of valid, one of test_2016_flickr), dropped
    assert counts["dropped_in_eval"] == 4
    assert counts["read"] == 145_000 and counts["kept"] == 115_553
    assert counts["kept"] + sum(v for k, v in counts.items() if k.startswith("dropped")) \
        == counts["read"]
    assert len(read_lines(out / "mono" / "pieces" / "captions.en")) == 115_553


# ---------------------------------------------------------------- distillation over sources


def check_aligned(out, data, kept):
    """Every distilled pair's source is the line origin.tsv names; the report counts each
    source; what is written sums up."""
    report = json.loads((out / "report.json").read_text())
    per = report["sources"]
    train = read_lines(data / "text" / "train.en")
    assert per["train"]["lines"] == len(train) and per["extra"]["lines"] == len(kept)
    assert sum(c["pairs_written"] for c in per.values()) == report["pairs_written"]
    origin = [x.split("\t") for x in read_lines(out / "origin.tsv")[1:]]
    src = read_lines(out / "text" / "train.en")
    tgt = read_lines(out / "text" / "train.de")
    assert len(origin) == len(src) == len(tgt) == report["pairs_written"]
    lines = {"train": train, "extra": kept}
    assert all(lines[name][int(k) - 1] == s for (name, k), s in zip(origin, src))
    assert [n for n, _ in origin].count("extra") == per["extra"]["pairs_written"] > 0
    # the distilled corpus is binarized whole (both sources), the tests copied
    idx = (out / "bin" / "train.en-de.en.idx").stat().st_size
    assert idx > 0 and (out / "bin" / "test.en-de.de.bin").is_file()
    return report


TEACHER_KINDS = {
    "fairseq": lambda t, f: ["--teacher", t / "checkpoints" / "checkpoint_best.pt",
                             "--decoder", "fairseq"],
    "ensemble": lambda t, f: ["--teacher", t / "checkpoints" / "checkpoint_best.pt",
                              t / "checkpoints" / "checkpoint_last.pt", "--decoder", "fairseq"],
    "ctranslate2": lambda t, f: ["--teacher", t / "checkpoints" / "checkpoint_best.pt"],
    "ct2-folder": lambda t, f: ["--teacher", f],
    "command": lambda t, f: ["--decoder", "command", "--teacher-command",
                             f"{sys.executable} {TEACHER_COMMAND} good"],
}


@pytest.fixture(scope="module")
def ct2_folder(prepared, teacher, tmp_path_factory):
    out = tmp_path_factory.mktemp("ct2-folder") / "export"
    assert seqkd("export", teacher, "--data", prepared, "--out", out, "-q") == 0
    return out / "model"


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(TEACHER_KINDS))
def test_every_teacher_kind_distils_two_sources_line_aligned(kind, mono_data, teacher,
                                                             ct2_folder, tmp_path):
    data, kept, _ = mono_data
    out = tmp_path / "d"
    beam = [] if kind == "command" else ["--beam", "2"]  # a command decodes as it does itself
    assert seqkd("distill", "--data", data, "--out", out, *TEACHER_KINDS[kind](teacher, ct2_folder),
                 "--sources", "train", "extra", *beam, "--chunk-size", "500",
                 "--max-len", "40", "-q") == 0
    report = check_aligned(out, data, kept)
    if kind == "command":  # the program's word map: every line translated exactly
        from corpus import TGT_WORDS
        src, tgt = read_lines(out / "text" / "train.en"), read_lines(out / "text" / "train.de")
        assert all(t == " ".join(TGT_WORDS[w] for w in s.split()) for s, t in zip(src, tgt))
    assert report["selection"] == "best"


@pytest.mark.slow
def test_mbr_over_two_sources_and_sampled_candidates(mono_data, teacher, tmp_path):
    data, kept, _ = mono_data
    ckpt = teacher / "checkpoints" / "checkpoint_best.pt"
    out = tmp_path / "mbr"
    assert seqkd("distill", "--data", data, "--out", out, "--teacher", ckpt, "--sources",
                 "extra", "train", "--beam", "4", "--select", "mbr", "--max-len", "40",
                 "-q") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["selection"] == "mbr (chrf)" and report["lines"] == len(kept) + len(
        read_lines(data / "text" / "train.en"))
    rows = [json.loads(x)["hyps"] for x in read_lines(out / "nbest.jsonl")]
    assert sum(len(r) == 4 for r in rows) > len(rows) // 2  # the beam's 4-best kept
    hyps = read_lines(out / "hyp.de")
    changed = sum(h != r[0][0] for h, r in zip(hyps, rows))
    assert changed == report["selection_changed"] == sum(
        c["selection_changed"] for c in report["sources"].values())
    # sampled candidates (CTranslate2 and fairseq): reproducible with the seed
    for decoder in ("ctranslate2", "fairseq"):
        runs = []
        for n in (1, 2):
            o = tmp_path / f"sample-{decoder}-{n}"
            assert seqkd("distill", "--data", data, "--out", o, "--teacher", ckpt, "--decoder",
                         decoder, "--sources", "extra", "--select", "mbr", "--sample", "5",
                         "--max-len", "40", "-q") == 0
            runs.append((o / "nbest.jsonl").read_bytes())
            rows = [json.loads(x)["hyps"] for x in read_lines(o / "nbest.jsonl")]
            assert all(len(r) == 5 for r in rows)
        assert runs[0] == runs[1], decoder
