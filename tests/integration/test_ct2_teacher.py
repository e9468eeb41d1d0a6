"""A CTranslate2 model folder as the seq-KD teacher, with its own tokenizer and a vocabulary
that differs from the student's: distillation in text space, and its refusals."""

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import seqkd
from seqkd.textio import read_lines

pytestmark = pytest.mark.slow  # real decoding


@pytest.fixture(scope="module")
def teacher_folder(prepared, teacher, tmp_path_factory):
    """The tiny teacher as a CTranslate2 folder with its own SentencePiece model (100 pieces)."""
    out = tmp_path_factory.mktemp("ct2-teacher") / "export"
    assert seqkd("export", teacher, "--data", prepared, "--out", out, "-q") == 0
    return out / "model"


@pytest.fixture(scope="module")
def other_vocab(corpus, tmp_path_factory):
    """The student's data: the same corpus in another vocabulary (SentencePiece characters)."""
    out = tmp_path_factory.mktemp("vocab-b") / "data"
    assert seqkd("prepare", "--out", out, "--train-prefix", corpus / "train", "--valid-prefix",
                 corpus / "valid", "--test", f"test={corpus / 'test'}", "--vocab-size", "70",
                 "--spm-model-type", "char", "-q") == 0
    return out


def test_a_ct2_folder_with_another_vocabulary_teaches_in_text_space(
        teacher_folder, other_vocab, prepared, tmp_path):
    assert (other_vocab / "dict.txt").read_text() != (prepared / "dict.txt").read_text()
    out = tmp_path / "d"
    assert seqkd("distill", "--data", other_vocab, "--out", out, "--teacher", teacher_folder,
                 "--beam", "2", "--chunk-size", "300", "-q") == 0
    src = read_lines(other_vocab / "text" / "train.en")
    hyps = read_lines(out / "hyp.de")
    # the teacher's own translations, detokenized: what `seqkd translate` gives for the lines
    served = subprocess.run([sys.executable, "-m", "seqkd", "translate", str(teacher_folder),
                             "--beam", "2", "-q"], input="".join(s + "\n" for s in src),
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(hyps) == len(src) == len(served)
    assert sum(h == s for h, s in zip(hyps, served)) >= 0.95 * len(src)
    report = json.loads((out / "report.json").read_text())
    assert report["decode"]["decoder"] == "ctranslate2 folder"
    assert report["decode"]["tokenizers"] == [str(teacher_folder / "spm.model")] * 2
    # the student's data is in the student's vocabulary
    assert (out / "dict.txt").read_bytes() == (other_vocab / "dict.txt").read_bytes()
    assert (out / "bin" / "train.en-de.de.bin").is_file()

    # OPUS-MT's layout: source.spm and target.spm instead of one model; the same output
    pair = tmp_path / "pair"
    shutil.copytree(teacher_folder, pair)
    (pair / "spm.model").rename(pair / "source.spm")
    shutil.copy(pair / "source.spm", pair / "target.spm")
    out2 = tmp_path / "d2"
    assert seqkd("distill", "--data", other_vocab, "--out", out2, "--teacher", pair,
                 "--beam", "2", "--chunk-size", "300", "-q") == 0
    assert (out2 / "hyp.de").read_bytes() == (out / "hyp.de").read_bytes()

    # seq-inter: n-best lists in text space, one entry chosen per line
    out3 = tmp_path / "d3"
    assert seqkd("distill", "--data", other_vocab, "--out", out3, "--teacher", teacher_folder,
                 "--beam", "3", "--method", "seq-inter", "--nbest", "3", "-q") == 0
    rows = [json.loads(x) for x in read_lines(out3 / "nbest.jsonl")]
    assert len(rows) == len(src) and all(1 <= len(r["hyps"]) <= 3 for r in rows)
    assert sum(len(r["hyps"]) == 3 for r in rows) > len(rows) // 2


def test_a_target_prefix_is_forced_and_removed(teacher_folder, other_vocab, tmp_path):
    from seqkd.text_teachers import Ct2FolderTeacher

    plain = Ct2FolderTeacher(teacher_folder, beam=1, nbest=1, batch_tokens=256, max_len=30,
                             threads=1, compute_type="int8")
    src = read_lines(other_vocab / "text" / "test.en")[:40]
    first = [plain.sp_tgt.encode(h[0][0], out_type=str)[:1] for h in plain.hypotheses(src, "t")]
    token = max({t[0] for t in first if t}, key=lambda t: sum(f == [t] for f in first))
    forced = Ct2FolderTeacher(teacher_folder, beam=1, nbest=1, batch_tokens=256, max_len=30,
                              threads=1, compute_type="int8", target_prefix=token)
    out = [h[0][0] for h in forced.hypotheses(src, "t")]
    # lines whose unforced output began with the token come out the same; the token itself
    # is never left at the start of a line it was forced onto (it is removed)
    assert any(f == [token] for f in first)
    for f, o, p in zip(first, out, plain.hypotheses(src, "t")):
        if f == [token]:
            assert plain.sp_tgt.decode(plain.sp_tgt.encode(p[0][0], out_type=str)[1:]) == o


def test_what_a_ct2_teacher_cannot_do_is_refused_with_what_to_do(teacher_folder, prepared,
                                                                 other_vocab, tmp_path,
                                                                 capsys):
    assert seqkd("train", "--role", "student", "--data", other_vocab, "--out", tmp_path / "s",
                 "--preset", "tiny", "--max-updates", "2", "--kd-teacher", teacher_folder,
                 "-q") == 1
    err = capsys.readouterr().err
    assert "is a CTranslate2 model folder, not a fairseq checkpoint" in err
    assert "word-level KD" in err and len(err.strip().splitlines()) == 1
    assert seqkd("distill", "--data", other_vocab, "--out", tmp_path / "x", "--teacher",
                  teacher_folder, "--decoder", "fairseq", "-q") == 1
    assert "decodes with decoder ctranslate2" in capsys.readouterr().err
    bare = tmp_path / "bare"
    shutil.copytree(teacher_folder, bare)
    (bare / "spm.model").unlink()
    assert seqkd("distill", "--data", other_vocab, "--out", tmp_path / "y", "--teacher", bare,
                 "-q") == 1
    err = capsys.readouterr().err
    assert "has no SentencePiece model" in err and "--teacher-spm" in err
    assert not (tmp_path / "y" / "DONE.json").exists()
    # a config: word-level KD with such a teacher is a planning error, before anything runs
    cfg = {"work_dir": str(tmp_path / "w"),
           "data": {"train_prefix": str(other_vocab / "text" / "train"),
                    "valid_prefix": str(other_vocab / "text" / "valid"), "vocab_size": 70},
           "teacher": {"ct2": str(teacher_folder)},
           "distill": [{"name": "kd", "beam": 2}],
           "students": [{"name": "s", "data": "kd", "preset": "tiny", "max_updates": 2,
                         "word_kd": {"alpha": 0.5}}]}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    assert seqkd("run", tmp_path / "run.yaml", "--check") == 1
    assert "given as a CTranslate2 folder gives translations only" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_configs_distil_with_a_foreign_ct2_teacher_and_a_command_train_and_bench(
        teacher_folder, corpus, tmp_path, capsys):
    """The whole chain from a config with a teacher in text space: an OPUS-MT-like CTranslate2
    folder (source.spm and target.spm, not an `seqkd export`) whose vocabulary is not the
    student's, benched with its own tokenizer; and a teacher command."""
    from conftest import HERE

    opus = tmp_path / "opus"
    shutil.copytree(teacher_folder, opus)
    (opus / "spm.model").rename(opus / "source.spm")
    shutil.copy(opus / "source.spm", opus / "target.spm")
    (opus / "card.json").unlink()
    student = {"name": "s", "data": "kd", "preset": "tiny", "max_updates": 4,
               "max_tokens": 1024}
    base = {"data": {"train_prefix": str(corpus / "train"),
                     "valid_prefix": str(corpus / "valid"),
                     "test_prefixes": {"test": str(corpus / "test")}, "vocab_size": 70,
                     "spm_model_type": "char"},
            "students": [student], "export": {"quantization": "int8"}}
    cfg = {**base, "work_dir": str(tmp_path / "w"), "teacher": {"ct2": str(opus)},
           "distill": [{"name": "kd", "beam": 2, "max_len": 30}],
           "bench": {"student_beams": [1], "beam": 2, "repeats": 1, "warmup_sentences": 0,
                     "latency_sentences": 0,
                     # a further system: the same folder with the loop guard
                     "systems": [f"opus-nr2=ct2:{opus},beam=2,norepeat=2,"
                                 f"spm={opus / 'source.spm'},target_spm={opus / 'target.spm'}"]}}
    (tmp_path / "ct2.yaml").write_text(yaml.safe_dump(cfg))
    assert seqkd("run", tmp_path / "ct2.yaml", "-q") == 0
    status = json.loads(capsys.readouterr().out)
    assert status == {"prepare": "ran", "distill-kd": "ran", "student-s": "ran",
                      "export-s": "ran", "bench": "ran"}
    w = tmp_path / "w"
    # the student's vocabulary (characters) is not the teacher's (unigram pieces)
    assert (w / "data" / "spm.model").read_bytes() != (opus / "source.spm").read_bytes()
    report = json.loads((w / "bench" / "report.json").read_text())
    rows = {r["system"]: r for r in report["results"]}
    assert set(rows) == {"teacher-ct2-b2", "s-b1", "opus-nr2"}
    assert "norepeat:2" in rows["opus-nr2"]["speed_signature"]
    import sentencepiece as spm

    target = spm.SentencePieceProcessor(model_file=str(opus / "target.spm"))
    for line in read_lines(w / "bench" / "outputs" / "opus-nr2.t1.test.txt"):
        pieces = target.encode(line, out_type=str)
        bigrams = [tuple(pieces[i:i + 2]) for i in range(len(pieces) - 1)]
        assert len(set(bigrams)) == len(bigrams), line  # no bigram of pieces twice
    # the teacher row: its own tokenizer, the same translations it taught with
    served = subprocess.run([sys.executable, "-m", "seqkd", "translate", str(teacher_folder),
                             "--beam", "2", "-q"],
                            input="".join(x + "\n" for x in read_lines(corpus / "test.en")),
                            capture_output=True, text=True, check=True).stdout.splitlines()
    benched = read_lines(w / "bench" / "outputs" / "teacher-ct2-b2.t1.test.txt")
    assert sum(a == b for a, b in zip(served, benched)) >= 0.95 * len(served)
    assert rows["teacher-ct2-b2"]["bleu"] > 0 and rows["teacher-ct2-b2"]["kind"] == "ct2"

    # a teacher command: distil, train, export (no teacher row: a program is not measured)
    command = f"{sys.executable} {HERE / 'fixtures' / 'teacher_command.py'} good"
    cfg2 = {**base, "work_dir": str(tmp_path / "w2"), "teacher": {"command": command},
            "distill": [{"name": "kd"}]}
    (tmp_path / "cmd.yaml").write_text(yaml.safe_dump(cfg2))
    assert seqkd("run", tmp_path / "cmd.yaml", "-q") == 0
    assert set(json.loads(capsys.readouterr().out).values()) == {"ran"}
    assert (tmp_path / "w2" / "export-s" / "model" / "model.bin").is_file()
