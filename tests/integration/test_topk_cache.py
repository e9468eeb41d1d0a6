"""Word-level KD from a top-k cache: the stored distributions are the teacher's, the loss
from the cache equals the live teacher's restricted to the same top-k, training reads it."""

import copy
import json
import shutil

import numpy as np
import pytest

from conftest import seqkd

pytestmark = pytest.mark.slow  # real fairseq forward passes and training (tiny models)

K = 4


@pytest.fixture(scope="module")
def cache(prepared, teacher, tmp_path_factory):
    out = tmp_path_factory.mktemp("topk") / "cache"
    assert seqkd("topk-cache", "--data", prepared, "--teacher", teacher, "--k", K,
                 "--temperature", "2", "--max-tokens", "512", "--out", out, "-q") == 0
    return out


def teacher_and_batch(prepared, teacher, subset, first, n):
    """The teacher loaded by fairseq and a batch of ``n`` sentences of ``subset`` (ids
    ``first``..), collated as fairseq-train does."""
    from fairseq import checkpoint_utils

    from seqkd.trust import trusted_checkpoints

    ckpt = teacher / "checkpoints" / "checkpoint_best.pt"
    with trusted_checkpoints([ckpt]):
        models, _, task = checkpoint_utils.load_model_ensemble_and_task(
            [str(ckpt)], arg_overrides={"data": str(prepared / "bin")})
    task.load_dataset(subset)
    ds = task.dataset(subset)
    sample = ds.collater([ds[i] for i in range(first, first + n)])
    models[0].eval()
    return models[0], task, sample


def test_stored_distributions_are_the_teachers_top_k(prepared, teacher, cache, plugin):
    import torch

    from seqkd.kd_loss import teacher_probs, topk_of
    from seqkd.topk_store import TopkCache

    done = json.loads((cache / "DONE.json").read_text())["summary"]
    assert done["k"] == K and done["sentences"]["train"] > 100 and done["bytes"] > 0
    stored = TopkCache(cache)
    for subset, first in (("train", 17), ("valid", 3)):
        model, task, sample = teacher_and_batch(prepared, teacher, subset, first, 6)
        pad = task.target_dictionary.pad()
        with torch.no_grad():
            p = teacher_probs([model(**sample["net_input"])[0]], 2.0)
        ids, probs = topk_of(p, K)
        target = sample["target"]
        lengths = target.ne(pad).sum(1).tolist()
        c_ids, c_probs = stored.batch(subset, sample["id"].tolist(), lengths, target.size(1),
                                      pad)
        mask = target.ne(pad).numpy()
        assert mask.sum() > 20
        # the most probable token is the same everywhere; the probabilities agree to float16
        assert (c_ids[..., 0][mask] == ids[..., 0].numpy()[mask]).all()
        assert np.allclose(c_probs[mask], probs.numpy()[mask], atol=2e-3)
        assert np.allclose(c_probs[mask].sum(-1), 1.0, atol=5e-3)


def test_loss_from_the_cache_equals_the_live_teacher_restricted_to_top_k(
        prepared, teacher, cache, plugin):
    import torch

    from seqkd.kd_loss import kd_kl, teacher_probs

    model, task, sample = teacher_and_batch(prepared, teacher, "train", 40, 8)
    crit = plugin.criterion.WordKDCriterion(task, False, 0.1, kd_cache=str(cache),
                                            kd_alpha=1.0, kd_temperature=2.0)
    student = copy.deepcopy(model)
    torch.manual_seed(0)
    with torch.no_grad():
        for prm in student.parameters():  # a student that is not the teacher
            prm.add_(0.05 * torch.randn_like(prm))
    student.eval()
    crit.train()  # the training subset's rows
    with torch.no_grad():
        loss, _, log = crit(student, sample)
        s_logits = student(**sample["net_input"])[0]
        p = teacher_probs([model(**sample["net_input"])[0]], 2.0)
    v = p.size(-1)
    # the live distribution restricted to the cache's top-k tokens, renormalized
    ids = crit._cached_topk(sample, sample["target"])[0]
    restricted = torch.zeros_like(p).scatter(-1, ids, p.gather(-1, ids))
    restricted = restricted / restricted.sum(-1, keepdim=True).clamp_min(1e-30)
    want = kd_kl(s_logits.view(-1, v), restricted.view(-1, v), sample["target"].view(-1), 2.0,
                 task.target_dictionary.pad())
    assert log["kd_loss"] > 0
    assert torch.allclose(loss, want, rtol=2e-3), (loss, want)


def test_training_reads_the_cache_and_refuses_a_mismatch(prepared, teacher, cache, tmp_path,
                                                         capsys):
    out = tmp_path / "student"
    args = ["train", "--role", "student", "--data", prepared, "--out", out,
            "--max-updates", "4", "--kd-cache", cache, "--kd-alpha", "0.5",
            "--kd-temperature", "2", "--validate-interval-updates", "2", "--max-tokens", "512"]
    assert seqkd(*args, "-q") == 0
    log = (out / "fairseq-train.log").read_text()
    assert "kd_loss" in log and "from the top-4 cache" in log
    assert "--kd-cache" in (out / "train_command.txt").read_text()
    assert "--kd-teachers" not in (out / "train_command.txt").read_text()
    # another temperature than the cache's
    rc = seqkd("train", "--role", "student", "--data", prepared, "--out", tmp_path / "t1",
               "--max-updates", "2", "--kd-cache", cache, "--kd-temperature", "1", "-q")
    err = capsys.readouterr().err
    assert rc == 1 and "temperature 2" in err and not (tmp_path / "t1" / "DONE.json").exists()
    # a cache of other data: the references of another prepare
    other = tmp_path / "other"
    shutil.copytree(prepared, other)
    from seqkd.corpus import bin_languages

    src, tgt = bin_languages(other / "bin")
    target = other / "bin" / f"train.{src}-{tgt}.{tgt}.bin"
    target.write_bytes(target.read_bytes()[::-1])  # other target sentences
    rc = seqkd("train", "--role", "student", "--data", other, "--out", tmp_path / "t2",
               "--max-updates", "2", "--kd-cache", cache, "--kd-temperature", "2", "-q")
    err = capsys.readouterr().err
    assert rc == 1 and "made for other data" in err
    # a cache and a live teacher at once
    rc = seqkd("train", "--role", "student", "--data", prepared, "--out", tmp_path / "t3",
               "--max-updates", "2", "--kd-cache", cache, "--kd-teacher", teacher, "-q")
    assert rc == 1 and "not both" in capsys.readouterr().err


def test_a_damaged_cache_is_one_error_naming_it(prepared, cache, tmp_path, capsys):
    """4 KB of ids replaced by other valid ids: training would run on wrong targets."""
    damaged = tmp_path / "cache"
    shutil.copytree(cache, damaged)
    ids = damaged / "train.ids.npy"
    raw = bytearray(ids.read_bytes())
    raw[-4096:] = bytes(reversed(raw[-4096:]))  # still ids of the dictionary
    ids.write_bytes(bytes(raw))
    rc = seqkd("train", "--role", "student", "--data", prepared, "--out", tmp_path / "s",
               "--max-updates", "2", "--kd-cache", damaged, "--kd-temperature", "2", "-q")
    err = capsys.readouterr().err
    assert rc == 1 and "is damaged: train.ids.npy changed since it was made" in err
    assert "Traceback" not in err and not (tmp_path / "s" / "DONE.json").exists()


def test_a_killed_cache_run_resumes(prepared, teacher, cache, tmp_path):
    from seqkd.topk_store import files

    out = tmp_path / "again"
    shutil.copytree(cache, out)
    # as a kill leaves it: no stamp, the progress mask with half the sentences done
    (out / "DONE.json").unlink()
    (out / "meta.json").unlink()
    filled = np.load(files(cache, "train")["ids"], mmap_mode="r").shape
    n = len(np.load(files(cache, "train")["offsets"])) - 1
    mask = np.zeros(n, dtype=np.uint8)
    mask[: n // 2] = 1
    ids = np.load(files(out, "train")["ids"])
    ids[np.load(files(out, "train")["offsets"])[n // 2]:] = 0  # the rest never written
    np.save(files(out, "train")["ids"], ids)
    np.save(files(out, "train")["filled"], mask)
    assert seqkd("topk-cache", "--data", prepared, "--teacher", teacher, "--k", K,
                 "--temperature", "2", "--max-tokens", "512", "--out", out, "-q") == 0
    log = (out / "topk.log").read_text()
    assert f"{n - n // 2} of {n} sentences to compute" in log
    assert np.array_equal(np.load(files(out, "train")["ids"]),
                          np.load(files(cache, "train")["ids"]))
    assert filled == np.load(files(out, "train")["ids"]).shape


def test_a_pair_longer_than_the_batch_budget_is_a_batch_of_its_own(prepared, teacher, cache,
                                                                   tmp_path):
    """--max-tokens below a pair's length: fairseq's batching stopped with an assertion; the
    pair is now a batch of its own, and the cache holds the same distributions."""
    out = tmp_path / "small"
    assert seqkd("topk-cache", "--data", prepared, "--teacher", teacher, "--k", K,
                 "--temperature", "2", "--max-tokens", "4", "--out", out, "-q") == 0
    for part in ("offsets", "probs"):
        ours, theirs = (np.load(d / f"valid.{part}.npy") for d in (out, cache))
        assert ours.shape == theirs.shape
        assert np.allclose(np.sort(ours, axis=-1), np.sort(theirs, axis=-1), atol=1e-3)
