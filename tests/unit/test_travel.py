"""`seqkd pack` / `seqkd unpack`: a stage folder travels and comes back whole, its checkpoint
rebuilt from float16 weights and JSON settings; an archive that would write outside the folder,
a link, an archive over the bound and a weights file holding more than weights are refused
before anything is written, and nothing that travelled is unpickled."""

import argparse
import io
import json
import os
import pickle
import tarfile

import pytest
import torch

from conftest import seqkd
from seqkd.errors import SeqkdError
from seqkd.travel import unpack


def training_folder(root):
    d = root / "student-x"
    (d / "checkpoints").mkdir(parents=True)
    (d / "config.yaml").write_text("role: student\n")
    (d / "DONE.json").write_text('{"summary": {}}')
    (d / "sub").mkdir()
    (d / "sub" / "notes.txt").write_text("é\n")
    emb = torch.randn(6, 4)
    state = {"args": None, "model": {"enc.embed": emb, "dec.embed": emb.clone(),
                                     "steps": torch.tensor([3])},
             "cfg": {"model": argparse.Namespace(arch="t", layers=[1, 2], drop=0.1),
                     "task": {"source_lang": "en"}},
             "optimizer_history": [{"num_updates": 9}], "last_optimizer_state": {"x": 1},
             "extra_state": {"meter": torch.zeros(2)}}
    torch.save(state, d / "checkpoints" / "checkpoint_best.pt")
    torch.save(state, d / "checkpoints" / "checkpoint_last.pt")
    return d, state


def test_a_folder_travels_and_comes_back_whole(tmp_path):
    folder, state = training_folder(tmp_path)
    assert seqkd("pack", folder, "--out", tmp_path / "trip" / "x", "-q") == 0
    back = tmp_path / "back" / "student-x"
    assert seqkd("unpack", tmp_path / "trip" / "x", "--into", back, "-q") == 0
    for name in ("config.yaml", "DONE.json", "sub/notes.txt"):
        assert (back / name).read_bytes() == (folder / name).read_bytes()
    assert sorted(p.name for p in (back / "checkpoints").iterdir()) == ["checkpoint_best.pt"]
    got = torch.load(back / "checkpoints" / "checkpoint_best.pt", weights_only=False)
    assert torch.allclose(got["model"]["enc.embed"], state["model"]["enc.embed"], atol=1e-2)
    assert got["model"]["enc.embed"].dtype == torch.float32
    assert got["model"]["steps"].tolist() == [3]
    assert got["cfg"]["model"] == state["cfg"]["model"]  # a Namespace again
    assert got["optimizer_history"] == [{"num_updates": 9}]
    assert "last_optimizer_state" not in got and "extra_state" not in got


def bad_archive(path, member: tarfile.TarInfo, data=b"x"):
    with tarfile.open(path, "w:gz") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)


def link(name, target, kind=tarfile.SYMTYPE):
    m = tarfile.TarInfo(name)
    m.type, m.linkname = kind, target
    return m


@pytest.mark.parametrize("member, message", [
    (tarfile.TarInfo("/tmp/evil.txt"), "would land outside"),
    (tarfile.TarInfo("../evil.txt"), "would land outside"),
    (tarfile.TarInfo("a/../../evil.txt"), "would land outside"),
    (link("ok.txt", "/etc/passwd"), "not a plain file or folder"),
    (link("ok.txt", "config.yaml", tarfile.LNKTYPE), "not a plain file or folder"),
], ids=["absolute", "dotdot", "nested-dotdot", "symlink", "hardlink"])
def test_an_archive_that_would_write_outside_is_refused_whole(tmp_path, member, message):
    bad_archive(tmp_path / "t.tgz", member)
    into = tmp_path / "into"
    with pytest.raises(SeqkdError, match=message):
        unpack(tmp_path / "t", into)
    assert not into.exists() and not (tmp_path / "evil.txt").exists()


def test_an_archive_over_the_bound_is_refused(tmp_path):
    bad_archive(tmp_path / "t.tgz", tarfile.TarInfo("big.bin"), b"0" * 5000)
    with pytest.raises(SeqkdError, match="over the bound of 4,096"):
        unpack(tmp_path / "t", tmp_path / "into", max_bytes=4096)
    assert not (tmp_path / "into").exists()


class _Boom:
    def __reduce__(self):
        return (os.mkdir, (os.environ["SEQKD_TEST_PWNED"],))


def test_weights_holding_more_than_weights_are_never_unpickled(tmp_path, monkeypatch):
    pwned = tmp_path / "pwned"
    monkeypatch.setenv("SEQKD_TEST_PWNED", str(pwned))
    folder, _ = training_folder(tmp_path)
    assert seqkd("pack", folder, "--out", tmp_path / "x", "-q") == 0
    evil = {"model": {"w": torch.zeros(1)}, "settings": "{}", "name": _Boom()}
    torch.save(evil, tmp_path / "x.pt")
    with pytest.raises(SeqkdError, match="not loaded"):
        unpack(tmp_path / "x", tmp_path / "into")
    assert not pwned.exists()
    pickle.loads(pickle.dumps(_Boom()))  # the payload is real: unpickling it would act
    assert pwned.exists()


@pytest.mark.parametrize("cut", ["x.tgz", "x.pt"])
def test_an_archive_or_weights_cut_short_on_the_way_is_one_error_and_nothing_is_unpacked(
        tmp_path, cut):
    folder, _ = training_folder(tmp_path)
    assert seqkd("pack", folder, "--out", tmp_path / "x", "-q") == 0
    whole = (tmp_path / cut).read_bytes()
    (tmp_path / cut).write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SeqkdError, match="cut short or damaged on its way: copy it again"):
        unpack(tmp_path / "x", tmp_path / "into")
    assert not (tmp_path / "into").exists()


def test_pack_needs_a_stage_folder(tmp_path, capsys):
    assert seqkd("pack", tmp_path, "--out", tmp_path / "x") == 1
    assert "is not a stage folder (no config.yaml)" in capsys.readouterr().err
    assert seqkd("unpack", tmp_path / "none", "--into", tmp_path / "i") == 1
    assert "none.tgz not found" in capsys.readouterr().err
    json.dumps({})


def test_a_folder_that_holds_something_else_does_not_take_the_archive(tmp_path, capsys):
    folder, _ = training_folder(tmp_path)
    (folder / "config.yaml").write_text(f"role: student\nout_dir: {folder}\n")
    assert seqkd("pack", folder, "--out", tmp_path / "trip" / "x", "-q") == 0
    # the stage's own folder (the way back from a GPU machine), again and again: taken
    assert seqkd("unpack", tmp_path / "trip" / "x", "--into", folder, "-q") == 0
    assert seqkd("unpack", tmp_path / "trip" / "x", "--into", folder, "-q") == 0
    # another stage's folder: the two would mix; the user's own files: never touched
    other = tmp_path / "export-x"
    other.mkdir()
    (other / "config.yaml").write_text(f"out_dir: {other}\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    capsys.readouterr()
    for into, message in ((other, f"holds the stage made in {other}, and the archive the "
                                  f"one made in {folder}: their files would mix"),
                          (mine, "holds files seqkd did not write (no config.yaml)")):
        before = sorted(p.name for p in into.iterdir())
        assert seqkd("unpack", tmp_path / "trip" / "x", "--into", into) == 1
        err = capsys.readouterr().err
        assert message in err and "nothing was unpacked" in err, err
        assert sorted(p.name for p in into.iterdir()) == before
