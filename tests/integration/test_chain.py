"""Teacher, distillation, word-level KD, export, translate and bench on tiny models."""

import gzip
import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import seqkd
from seqkd.errors import SeqkdError
from seqkd.textio import read_lines

pytestmark = pytest.mark.slow  # real fairseq training or decoding


def _distill(prepared, teacher, out, *extra):
    return seqkd("distill", "--data", prepared, "--out", out, "--teacher", teacher,
                 "--beam", "3", "--max-len", "30", "--chunk-size", "400", "-q", *extra)


@pytest.fixture(scope="module")
def distilled(prepared, teacher, tmp_path_factory):
    out = tmp_path_factory.mktemp("distill") / "d"
    assert _distill(prepared, teacher, out) == 0
    return out


def test_fairseq_decoder_keeps_input_order(prepared, teacher):
    from seqkd.decoders import FairseqDecoder

    dec = FairseqDecoder([teacher / "checkpoints" / "checkpoint_best.pt"], prepared / "bin",
                         beam=3, max_len=30, batch_tokens=64)
    lines = [p.split() for p in read_lines(prepared / "pieces" / "test.en")]
    together = [h[0][0] for h in dec.translate(lines)]       # batched, sorted by length inside
    alone = [dec.translate([x])[0][0][0] for x in lines]     # one by one
    assert together == alone
    assert len({" ".join(h) for h in together}) > len(lines) // 2  # outputs depend on inputs


def test_a_sentence_longer_than_the_batch_budget_is_a_batch_of_its_own(prepared, teacher):
    """--batch-tokens below a sentence's length: fairseq's batching stopped with an assertion
    and a traceback; the sentence is now decoded alone, as CTranslate2 does, to the same
    translation."""
    from seqkd.decoders import FairseqDecoder

    checkpoint = [teacher / "checkpoints" / "checkpoint_best.pt"]
    lines = [p.split() for p in read_lines(prepared / "pieces" / "test.en")][:20]
    assert max(len(x) for x in lines) > 4
    small = FairseqDecoder(checkpoint, prepared / "bin", beam=3, max_len=30, batch_tokens=4)
    large = FairseqDecoder(checkpoint, prepared / "bin", beam=3, max_len=30, batch_tokens=4096)
    assert [h[0][0] for h in small.translate(lines)] == [h[0][0] for h in large.translate(lines)]


def test_fairseq_decoder_takes_its_share_of_the_cores(prepared, teacher, monkeypatch):
    """threads 0 (distill's and export's automatic count): the process's share of the cores
    (SEQKD_CORE_SHARE, set by --jobs and by side-by-side lanes), not torch's every core,
    which oversubscribed a training beside a fairseq distillation."""
    import torch

    import seqkd.machine
    from seqkd.decoders import FairseqDecoder

    before = torch.get_num_threads()
    monkeypatch.setattr(seqkd.machine, "_machine_threads", lambda: 4)
    monkeypatch.setenv(seqkd.machine.SHARE_ENV, "2")
    try:
        torch.set_num_threads(4)
        FairseqDecoder([teacher / "checkpoints" / "checkpoint_best.pt"], prepared / "bin",
                       beam=2, max_len=10)
        assert torch.get_num_threads() == 2
        FairseqDecoder([teacher / "checkpoints" / "checkpoint_best.pt"], prepared / "bin",
                       beam=2, max_len=10, threads=3)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_distill_output_is_line_aligned(distilled, prepared):
    src = read_lines(prepared / "text" / "train.en")
    hyp = read_lines(distilled / "hyp.de")
    assert len(hyp) == len(src)
    assert len(read_lines(distilled / "text" / "train.de")) == len(src)  # flag mode keeps all
    report = json.loads((distilled / "report.json").read_text())
    assert report["lines"] == len(src) and report["decode"]["sentences_per_second"] > 0
    # the teacher learnt the word mapping: output lengths follow the source lengths
    same_len = sum(len(s.split()) == len(h.split()) for s, h in zip(src, hyp))
    assert same_len > 0.3 * len(src)
    assert (distilled / "bin" / "train.en-de.de.bin").is_file()


def test_sharded_and_interrupted_runs_are_byte_identical(prepared, teacher, distilled,
                                                         tmp_path, monkeypatch):
    sharded = tmp_path / "sharded"
    assert _distill(prepared, teacher, sharded, "--num-shards", "2", "--shard-id", "1") == 0
    assert not (sharded / "DONE.json").exists() and not (sharded / "hyp.de").exists()
    assert seqkd("distill", "--data", prepared, "--out", sharded, "--teacher", teacher,
                 "--beam", "3", "--max-len", "30", "--chunk-size", "400", "--merge-only",
                 "--num-shards", "2", "-q") == 1  # shard 0 still missing
    assert _distill(prepared, teacher, sharded, "--num-shards", "2", "--shard-id", "0") == 0
    assert (sharded / "hyp.de").read_bytes() == (distilled / "hyp.de").read_bytes()
    assert (sharded / "nbest.jsonl").read_bytes() == (distilled / "nbest.jsonl").read_bytes()

    # interrupt after the first chunk, then resume
    import seqkd.stages.distill.runner as d
    real = d._make_decoder
    calls = {"n": 0}

    def dying(*a, **k):
        dec = real(*a, **k)
        inner = dec.translate

        def translate(batch):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            return inner(batch)
        dec.translate = translate
        return dec

    monkeypatch.setattr(d, "_make_decoder", dying)
    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        d.distill(d.DistillConfig(data=str(prepared), out_dir=str(resumed),
                                  teachers=[str(teacher)], beam=3, max_len=30, chunk_size=400))
    assert (resumed / "chunks" / "000000.jsonl").is_file()
    assert not (resumed / "chunks" / "000001.jsonl").exists()
    assert [p.name for p in (resumed / "chunks").iterdir()] == ["000000.jsonl"]  # no partials
    assert not (resumed / "DONE.json").exists()
    monkeypatch.setattr(d, "_make_decoder", real)
    assert _distill(prepared, teacher, resumed) == 0
    assert (resumed / "hyp.de").read_bytes() == (distilled / "hyp.de").read_bytes()


def test_seq_inter_selects_closest_from_nbest(prepared, teacher, tmp_path):
    from seqkd.stages.distill.selection import sentence_similarity

    out = tmp_path / "inter"
    assert _distill(prepared, teacher, out, "--method", "seq-inter", "--nbest", "3",
                    "--select-metric", "chrf", "--decoder", "fairseq") == 0
    refs = read_lines(prepared / "text" / "train.de")
    hyp = read_lines(out / "hyp.de")
    rows = [json.loads(x)["hyps"] for x in read_lines(out / "nbest.jsonl")]
    assert len(rows) == len(refs) == len(hyp)
    for ref, h, row in list(zip(refs, hyp, rows))[:300]:
        assert len(row) == 3
        sims = [sentence_similarity(x, ref, "chrf") for x, _ in row]
        assert h in [x for x, _ in row]
        assert sentence_similarity(h, ref, "chrf") == max(sims)
    report = json.loads((out / "report.json").read_text())
    assert report["seq_inter_changed"] > 0  # some lines did not take the teacher's 1-best


def test_teacher_with_other_dictionary_is_refused(prepared, teacher, tmp_path, capsys):
    other = tmp_path / "other-teacher"
    shutil.copytree(teacher, other)
    lines = (other / "dict.txt").read_text().splitlines()
    (other / "dict.txt").write_text("\n".join(lines[1:] + lines[:1]) + "\n")
    rc = _distill(prepared, other, tmp_path / "x")
    err = capsys.readouterr().err
    assert rc == 1 and "does not match" in err and "--spm-model" in err
    rc = seqkd("train", "--role", "student", "--data", prepared, "--out", tmp_path / "s",
               "--max-updates", "2", "--kd-teacher", other, "-q")
    assert rc == 1 and "does not match" in capsys.readouterr().err


def test_word_kd_criterion_alpha_zero_equals_label_smoothed_ce(prepared, teacher, plugin):
    import torch
    from fairseq import tasks
    from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq import options

    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [str(prepared / "bin"), "--arch",
                                                "seqkd_student_tiny", "--cpu"])
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    task.load_dataset("valid")
    model = task.build_model(cfg.model)
    ds = task.dataset("valid")
    sample = ds.collater([ds[i] for i in range(8)])
    ckpt = str(teacher / "checkpoints" / "checkpoint_best.pt")
    ls = LabelSmoothedCrossEntropyCriterion(task, False, 0.1)
    kd0 = plugin.criterion.WordKDCriterion(task, False, 0.1, kd_teachers=ckpt, kd_alpha=0.0)
    model.eval()
    with torch.no_grad():
        a = ls(model, sample)
        b = kd0(model, sample)
    assert torch.allclose(a[0], b[0]) and a[1] == b[1]
    kd1 = plugin.criterion.WordKDCriterion(task, False, 0.1, kd_teachers=ckpt, kd_alpha=1.0,
                                           kd_temperature=2.0)
    with torch.no_grad():
        c = kd1(model, sample)
    assert c[2]["kd_loss"] > 0 and torch.allclose(c[0], c[2]["kd_loss"])


def test_student_with_word_kd_trains_logs_both_parts_and_resumes(prepared, teacher, tmp_path):
    out = tmp_path / "student"
    args = ["train", "--role", "student", "--data", prepared, "--out", out,
            "--max-updates", "6", "--kd-teacher", teacher, "--kd-alpha", "0.5",
            "--kd-temperature", "2", "--validate-interval-updates", "3", "--max-tokens", "512",
            "-q"]
    assert seqkd(*args) == 0
    log = (out / "fairseq-train.log").read_text()
    assert "kd_loss" in log and "ls_loss" in log and "seqkd_word_kd" in log
    assert "versions" in (out / "train_command.txt").read_text()
    # a longer budget over a finished run needs --force; an interrupted run resumes: killed
    # after update 3 (its checkpoint_last.pt was the one of update 3, and no stamp)
    assert seqkd(*args[:-1], "--max-updates", "9", "-q") == 1
    (out / "DONE.json").unlink()
    ckpts = out / "checkpoints"
    shutil.copyfile(ckpts / "checkpoint_1_3.pt", ckpts / "checkpoint_last.pt")
    assert seqkd(*args) == 0
    log = (out / "fairseq-train.log").read_text()
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch 1 @ 3 updates\)", log)
    assert "num_updates 6" in log.split("Loaded checkpoint")[-1]


def test_export_fidelity_translate_and_bench(prepared, teacher, tmp_path):
    exp = tmp_path / "export"
    assert seqkd("export", teacher, "--data", prepared, "--out", exp, "--fidelity-test", "test",
                 "--beam", "3", "-q") == 0
    card = json.loads((exp / "model" / "card.json").read_text())
    scores = card["scores"]
    assert card["quantization"] == "int8" and "unsafe_deserialization" in card["converter"]
    assert scores["fairseq_ct2_float32_agreement"] >= 0.9
    assert scores["passed"] == (scores["fairseq_ct2_float32_agreement"] >= 0.98)
    assert {"bleu_fairseq", "bleu_ct2_float32", "bleu_ct2_int8", "bleu_change_vs_float32"} <= set(scores)
    assert (exp / "model" / "spm.model").is_file()
    assert ("fidelity check on test: 60 lines at beam 3 with fairseq, then with CTranslate2 "
            "float32 and int8") in (exp / "log.txt").read_text()  # said before it decodes
    # the tiny teacher preset: 2+2 layers, width 64, feed-forward 128
    assert {k: card["shape"][k] for k in ("encoder_layers", "decoder_layers", "width",
                                          "encoder_ffn")} == {
        "encoder_layers": 2, "decoder_layers": 2, "width": 64, "encoder_ffn": 128}
    assert "- shape: encoder_layers 2" in (exp / "model" / "README.md").read_text()

    text = "w1 w2 w3\n\nw4 w5\n"
    out = subprocess.run([sys.executable, "-m", "seqkd", "translate", str(exp / "model"), "-q"],
                         input=text, capture_output=True, text=True, check=True)
    lines = out.stdout.split("\n")[:-1]
    assert len(lines) == 3 and lines[1] == "" and lines[0].startswith("Z1x")

    bench = tmp_path / "bench"
    # every member of an ensemble is checked before anything is measured
    assert seqkd("bench", "--data", prepared, "--out", bench, "--system",
                 f"ens=fairseq:{teacher},with={tmp_path / 'nowhere.pt'}", "-q") == 1
    assert not bench.exists()
    systems = ["--system", f"teacher=fairseq:{teacher}", "--system",
               f"int8=ct2:{exp / 'model'},beam=1",
               "--system", f"int8-x2=ct2:{exp / 'model'},beam=1,inter=2,batch=64",
               "--system", f"twice=fairseq:{teacher},with={teacher}"]
    # a declared comparison of a system the bench does not have: nothing measured
    assert seqkd("bench", "--data", prepared, "--out", bench, *systems,
                 "--compare", "int8,int4", "-q") == 1
    assert not bench.exists()
    # a blind set: the test source with an empty line in it
    test_src = read_lines(prepared / "text" / "test.en")
    (tmp_path / "blind.en").write_text("\n".join([test_src[0], ""] + test_src[1:]) + "\n")
    assert seqkd("bench", "--data", prepared, "--out", bench, *systems,
                 "--repeats", "2", "--warmup-sentences", "5", "--latency-sentences", "5",
                 "--beam", "3", "--compare", "int8,twice",
                 "--blind", f"held={tmp_path / 'blind.en'}", "-q") == 0
    report = json.loads((bench / "report.json").read_text())
    rows = {r["system"]: r for r in report["results"]}
    assert set(rows) == {"teacher", "int8", "int8-x2", "twice"}
    # every system's blind output: its timed output of the same lines, the empty line kept,
    # and no row, score or comparison of the blind set
    (held,) = report["blind"]
    assert held["lines"] == len(test_src) + 1 and len(held["outputs"]) == 4
    for name in rows:
        got = gzip.decompress((bench / "outputs" / f"{name}.held.de.gz").read_bytes())
        timed = read_lines(bench / "outputs" / f"{name}.t1.test.txt")
        assert got.decode().split("\n") == [timed[0], ""] + timed[1:] + [""]
    assert {r["test_set"] for r in report["results"]} == {"test"}
    assert "blind set held" in (bench / "report.md").read_text()
    declared = [c for c in report["comparisons"] if c["comparison"] == "declared"]
    assert [(c["system"], c["against"]) for c in declared] == [("int8", "twice")]
    assert "| int8 | twice |" in (bench / "report.md").read_text()
    # the report's differences come out of its outputs again
    assert seqkd("compare", bench / "report.json", "--outputs", bench / "outputs",
                 "--data", prepared, "-q") == 0
    # an ensemble of one model with itself: the mean of equal distributions, so the
    # teacher's own translations, from twice the parameters; no MACs for an ensemble
    assert read_lines(bench / "outputs" / "twice.t1.test.txt") == read_lines(
        bench / "outputs" / "teacher.t1.test.txt")
    assert rows["twice"]["params"] == 2 * rows["teacher"]["params"]
    assert rows["twice"]["path"] == f"{teacher} + {teacher}"
    assert rows["twice"]["macs_per_src_token"] is None
    # `seqkd translate` with fairseq checkpoints (the ensemble too) gives the bench's text
    src = (prepared / "text" / "test.en").read_text()
    for extra in ([], ["--ensemble", str(teacher)]):
        out = subprocess.run([sys.executable, "-m", "seqkd", "translate", str(teacher), "--data",
                              str(prepared), "--beam", "3", *extra, "-q"], input=src,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == read_lines(bench / "outputs" / "teacher.t1.test.txt")
    assert rows["int8"]["beam"] == 1 and rows["teacher"]["beam"] == 3
    # a system's own batch size and inter_threads; two workers are not pinned to one core
    x2 = rows["int8-x2"]
    assert (x2["batch_tokens"], x2["inter_threads"], x2["pinned_cpu"]) == (64, 2, None)
    assert x2["latency_p50_ms"] is None and "inter:2" in x2["speed_signature"]
    a, b = (read_lines(bench / "outputs" / f"{n}.t1.test.txt") for n in ("int8-x2", "int8"))
    # greedy output hardly depends on batching (int8 padding may flip a rare tie)
    assert len(a) == len(b) and sum(x == y for x, y in zip(a, b)) >= 0.9 * len(b)
    # costs from the shapes: the same model, the same MACs per token
    assert rows["int8"]["macs_per_src_token"] == rows["teacher"]["macs_per_src_token"] > 0
    assert rows["int8"]["macs_per_tgt_token"] == rows["teacher"]["macs_per_tgt_token"] > 0
    assert rows["int8"]["gmacs_per_s"] > 0
    assert rows["int8"]["compute_type"].startswith("int8")
    for r in rows.values():
        assert r["src_wps_min"] <= r["src_wps_median"] <= r["src_wps_max"]
        if r["latency_p50_ms"] is not None:
            assert r["latency_p50_ms"] <= r["latency_p95_ms"]
        assert r["peak_rss_mb"] > 0 and r["disk_mb"] > 0 and 0 <= r["bleu"] <= 100
    assert "BLEU" in report["signature"]["sacrebleu_bleu"] or "nrefs" in report["signature"]["sacrebleu_bleu"]
    assert (bench / "plot.png").stat().st_size > 1000
    assert "| teacher | fairseq |" in (bench / "report.md").read_text()
    hyps = read_lines(bench / "outputs" / "int8.t1.test.txt")
    assert len(hyps) == len(read_lines(prepared / "text" / "test.en"))

    # the WMT efficiency protocol: `seqkd translate` as whole processes on the test set
    # repeated to 250 sentences, one pinned core and all cores, then one sentence at a time
    eff = tmp_path / "bench-efficiency"
    assert seqkd("bench", "--data", prepared, "--out", eff, "--system",
                 f"teacher=fairseq:{teacher}", "--system", f"int8=ct2:{exp / 'model'},beam=1",
                 "--repeats", "1", "--warmup-sentences", "0", "--latency-sentences", "0",
                 "--efficiency", "--efficiency-sentences", "250",
                 "--efficiency-latency-sentences", "7", "-q") == 0
    report = json.loads((eff / "report.json").read_text())
    rows = report["efficiency"]
    # the fairseq system is skipped (the protocol runs the deployed path); int8 on one pinned
    # core, then on every core this process may use
    assert [(r["system"], r["pinned_cpu"] is not None) for r in rows] == [("int8", True),
                                                                        ("int8", False)]
    assert rows[0]["threads"] == 1 and rows[1]["threads"] >= 1
    src = read_lines(prepared / "text" / "test.en")
    words = sum(len(src[i % len(src)].split()) for i in range(250))
    for r in rows:
        assert (r["sentences"], r["src_words"], r["beam"], r["test_set"]) == (250, words, 1,
                                                                              "test")
        # two processes: on 250 sentences the whole run may even be quicker than a load
        assert r["wall_seconds"] > 0 and r["load_seconds"] > 0 and r["peak_rss_mb"] > 0
        assert r["wps"] == pytest.approx(words / r["wall_seconds"], rel=0.01)
        assert r["wps_without_load"] is None or r["wps_without_load"] > r["wps"]
        assert r["size_mb"] == report["results"][1]["size_mb"]
    one = rows[0]
    assert one["latency_sentences"] == 7
    assert 0 < one["latency_p50_ms"] <= one["latency_p90_ms"] <= one["latency_p99_ms"]
    assert rows[1]["latency_p50_ms"] is None
    assert "WMT efficiency protocol" in (eff / "report.md").read_text()
    assert not list((eff / "efficiency").iterdir())  # the repeated input and outputs removed


def test_ensemble_distill_and_ct2_refuses_ensembles(prepared, teacher, tmp_path):
    from seqkd.stages.distill.runner import DistillConfig, distill
    ckpts = [str(teacher / "checkpoints" / "checkpoint_best.pt"),
             str(teacher / "checkpoints" / "checkpoint_last.pt")]
    with pytest.raises(SeqkdError, match="ensemble"):
        distill(DistillConfig(data=str(prepared), out_dir=str(tmp_path / "e1"), teachers=ckpts))
    rep = distill(DistillConfig(data=str(prepared), out_dir=str(tmp_path / "e2"), teachers=ckpts,
                                decoder="fairseq", beam=2, max_len=30, chunk_size=2000))
    assert rep["lines"] == len(read_lines(prepared / "text" / "train.en"))


def test_two_shards_started_together_merge_like_one_run(prepared, teacher, distilled, tmp_path):
    """Both shards convert the teacher into the same folder at the same moment: one converts,
    the other waits and loads it; the merged result is the unsharded one, byte for byte."""
    out = tmp_path / "together"
    cmd = [sys.executable, "-m", "seqkd", "distill", "--data", str(prepared), "--out", str(out),
           "--teacher", str(teacher), "--beam", "3", "--max-len", "30", "--chunk-size", "400",
           "--num-shards", "2", "-q"]
    procs = [subprocess.Popen(cmd + ["--shard-id", str(i)], stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    if not (out / "DONE.json").exists():  # both finished decoding at once: merge now
        assert seqkd("distill", "--data", prepared, "--out", out, "--teacher", teacher,
                     "--beam", "3", "--max-len", "30", "--chunk-size", "400", "--merge-only",
                     "--num-shards", "2", "-q") == 0
    assert (out / "hyp.de").read_bytes() == (distilled / "hyp.de").read_bytes()
    assert (out / "nbest.jsonl").read_bytes() == (distilled / "nbest.jsonl").read_bytes()
    assert len(list(out.glob("teacher-ct2-*"))) == 1


def test_export_with_a_vocabulary_map_restricts_translate_and_bench(prepared, teacher, tmp_path):
    from seqkd.exported import ExportedModel
    from vmap_oracle import candidates

    out = tmp_path / "export"
    assert seqkd("export", teacher, "--data", prepared, "--out", out, "--vmap",
                 "--vmap-top-k", "2", "-q") == 0
    model = out / "model"
    # an int8-stored model gains little from a map: the log says how to export instead
    assert "export with --quantization float32" in (out / "log.txt").read_text()
    lines = (model / "vmap.txt").read_text().splitlines()
    card = json.loads((model / "card.json").read_text())
    assert card["vocabulary_map"]["top_k"] == 2 and card["vocabulary_map"]["entries"] == \
        len(lines) - 1
    # every output piece is one the map allows for that source
    src = read_lines(prepared / "text" / "test.en")
    m = ExportedModel(model, beam=1, use_vmap=True)
    for line in src[:20]:
        pieces = m.sp.encode(line, out_type=str)
        hyp = m.decoder.translate([pieces])[0][0][0]
        assert set(hyp) <= candidates(lines, pieces), (line, hyp)
    with pytest.raises(SeqkdError, match="no vocabulary map"):
        ExportedModel(_plain_export(prepared, teacher, tmp_path), use_vmap=True)
    bench = tmp_path / "bench"
    # valid, the development set, is measured when named (a decoding setting chosen on it)
    assert seqkd("bench", "--data", prepared, "--out", bench, "--test-sets", "test", "valid",
                 "--system", f"v=ct2:{model},beam=1,vmap=1", "--system", f"n=ct2:{model},beam=1",
                 "--system", f"g=ct2:{model},beam=1,norepeat=2",
                 "--repeats", "1", "--warmup-sentences", "2", "--latency-sentences", "2",
                 "-q") == 0
    found = json.loads((bench / "report.json").read_text())["results"]
    rows = {r["system"]: r for r in found if r["test_set"] == "test"}
    assert {r["test_set"] for r in found} == {"test", "valid"}
    assert rows["v"]["vmap"] is True and "vmap:1" in rows["v"]["speed_signature"]
    assert rows["n"]["vmap"] is False and "vmap:0" in rows["n"]["speed_signature"]
    assert rows["g"]["no_repeat_ngram"] == 2 and "norepeat:2" in rows["g"]["speed_signature"]
    assert "norepeat:0" in rows["n"]["speed_signature"]
    for line in read_lines(bench / "outputs" / "g.t1.valid.txt"):
        pieces = m.sp.encode(line, out_type=str)
        assert len({tuple(pieces[i:i + 2]) for i in range(len(pieces) - 1)}) == \
            len(pieces) - 1, line  # no bigram of pieces twice


def _plain_export(prepared, teacher, tmp_path):
    out = tmp_path / "plain"
    assert seqkd("export", teacher, "--data", prepared, "--out", out, "-q") == 0
    return out / "model"


def test_a_finished_training_goes_on_to_a_longer_budget(prepared, teacher, tmp_path,
                                                        monkeypatch):
    """continue_from with real fairseq: the copy of the teacher's last checkpoint is where
    fairseq resumes (its update count, Adam's state and schedule), and the teacher's own
    folder is left as it was. Nothing is left in $TMPDIR (torch's optimizer step would make
    an empty torchinductor_USER there)."""
    from seqkd.checkpoints import updates_done

    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    last = teacher / "checkpoints" / "checkpoint_last.pt"
    before = last.read_bytes()
    out = tmp_path / "longer"
    assert seqkd("train", "--role", "teacher", "--data", prepared, "--out", out,
                 "--max-updates", "440", "--lr", "0.003", "--max-tokens", "1024",
                 "--validate-interval-updates", "400", "--continue-from", teacher, "-q") == 0
    log = (out / "fairseq-train.log").read_text()
    assert re.search(r"Loaded checkpoint \S+/longer/checkpoints/checkpoint_last\.pt "
                     r"\(epoch \d+ @ 400 updates\)", log), log[-2000:]
    assert updates_done(out / "checkpoints" / "checkpoint_last.pt") == 440
    assert last.read_bytes() == before
    assert list((tmp_path / "tmp").iterdir()) == []
    # another learning rate is another training: refused, nothing made
    assert seqkd("train", "--role", "teacher", "--data", prepared, "--out", tmp_path / "x",
                 "--max-updates", "440", "--lr", "0.001", "--max-tokens", "1024",
                 "--validate-interval-updates", "400", "--continue-from", teacher, "-q") == 1
    assert not (tmp_path / "x").exists()


def test_a_checkpoint_without_the_args_entry_exports_as_fairseqs_own(prepared, teacher,
                                                                      tmp_path):
    """CTranslate2's converter reads a checkpoint's `args` entry, which fairseq writes (None
    when `cfg` holds the settings) and another tool may leave out: such a checkpoint exports
    to the same model, through a copy that is removed after."""
    import torch

    from seqkd.checkpoints import checkpoint_of

    original = checkpoint_of(teacher)
    state = torch.load(original, map_location="cpu", weights_only=False)
    assert "args" in state
    del state["args"]
    given = tmp_path / "given"
    given.mkdir()
    torch.save(state, given / "checkpoint.pt")
    shutil.copy(teacher / "dict.txt", given / "dict.txt")
    for name, checkpoint in (("original", original), ("bare", given / "checkpoint.pt")):
        assert seqkd("export", checkpoint, "--data", prepared, "--out", tmp_path / name,
                     "-q") == 0
    assert (tmp_path / "bare" / "model" / "model.bin").read_bytes() == (
        tmp_path / "original" / "model" / "model.bin").read_bytes()
    assert sorted(p.name for p in (tmp_path / "bare").iterdir()) == sorted(
        p.name for p in (tmp_path / "original").iterdir())
