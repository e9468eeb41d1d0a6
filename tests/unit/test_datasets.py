"""Dataset manifests with archives and sacrebleu test sets (WMT-style), offline."""

import hashlib
import io
import tarfile

import pytest

from seqkd import datasets, manifests
from seqkd.errors import SeqkdError
from seqkd.stages.prepare.config import PrepareConfig
from seqkd.stages.prepare.sources import gather_sources
from seqkd.textio import read_lines


def _tgz(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def wmt_like(tmp_path, monkeypatch):
    """A registry with a two-archive training split and a sacrebleu test set; the
    archives only in the mirror, the network address unreachable."""
    archives = {
        "a.tgz": _tgz({"train/a.de-en.en": "one\ntwo\n", "train/a.de-en.de": "eins\nzwei\n"}),
        "b.tgz": _tgz({"b.de-en.en": "three\n", "b.de-en.de": "drei\n"}),
    }
    mirror = tmp_path / "mirror" / "toywmt"
    mirror.mkdir(parents=True)
    files = ""
    for name, blob in archives.items():
        (mirror / name).write_bytes(blob)
        files += (f"  {name}: {{url: 'http://127.0.0.1:9/{name}', "
                  f"sha256: {hashlib.sha256(blob).hexdigest()}}}\n")
    reg = tmp_path / "registry"
    reg.mkdir()
    (reg / "toywmt.yaml").write_text(
        "name: toywmt\nlangs: [en, de]\nfiles:\n" + files +
        "splits:\n"
        "  train:\n"
        "    - {file: a.tgz, member: 'train/a.de-en.{lang}'}\n"
        "    - {file: b.tgz, member: 'b.de-en.{lang}'}\n"
        "  valid: {sacrebleu: wmt13}\n"
        "  newstest2014: {sacrebleu: wmt14/full}\n")
    monkeypatch.setenv("SEQKD_REGISTRY", str(reg))
    monkeypatch.setenv("SEQKD_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("SEQKD_CACHE", str(tmp_path / "cache"))

    # sacrebleu would download; hand it files instead and record what was asked
    asked = []

    def fake_source(test_set, pair):
        asked.append((test_set, pair))
        p = tmp_path / f"{test_set.replace('/', '_')}.{pair}.src"
        p.write_text("a test\n")
        return str(p)

    def fake_refs(test_set, pair):
        p = tmp_path / f"{test_set.replace('/', '_')}.{pair}.ref"
        p.write_text("ein Test\n")
        return [str(p)]

    import sacrebleu.utils
    monkeypatch.setattr(sacrebleu.utils, "get_source_file", fake_source)
    monkeypatch.setattr(sacrebleu.utils, "get_reference_files", fake_refs)
    return tmp_path, asked


def test_archive_members_are_extracted_from_verified_archives(wmt_like):
    tmp_path, _ = wmt_like
    m = manifests.load_manifest("toywmt")
    parts = datasets.fetch_split(m, "train", "en", "de")
    assert [read_lines(p["en"]) for p in parts] == [["one", "two"], ["three"]]
    assert [read_lines(p["de"]) for p in parts] == [["eins", "zwei"], ["drei"]]
    assert all(p["en"].is_relative_to(tmp_path / "cache" / "toywmt") for p in parts)


def test_prepare_concatenates_parts_and_asks_sacrebleu_for_test_sets(wmt_like):
    tmp_path, asked = wmt_like
    sources = gather_sources(PrepareConfig(out_dir=str(tmp_path / "o"), dataset="toywmt"))
    assert list(sources) == ["train", "valid", "newstest2014"]
    assert len(sources["train"]) == 2
    assert asked == [("wmt13", "en-de"), ("wmt14/full", "en-de")]
    assert read_lines(sources["newstest2014"][0]["de"]) == ["ein Test"]


def test_archive_with_a_wrong_checksum_is_refused(wmt_like):
    tmp_path, _ = wmt_like
    (tmp_path / "mirror" / "toywmt" / "b.tgz").write_bytes(_tgz({"b.de-en.en": "x\n"}))
    m = manifests.load_manifest("toywmt")
    with pytest.raises(SeqkdError, match="checksum mismatch for b.tgz"):
        datasets.fetch_split(m, "train", "en", "de")


def test_missing_archive_member_names_the_member(wmt_like):
    tmp_path, _ = wmt_like
    m = manifests.load_manifest("toywmt")
    m.splits["train"][1]["member"] = "nope.{lang}"
    with pytest.raises(SeqkdError, match="has no file 'nope.en'"):
        datasets.fetch_split(m, "train", "en", "de")


def test_unknown_sacrebleu_test_set_or_pair_is_an_error():
    with pytest.raises(SeqkdError, match="no test set 'wmt99'"):
        datasets.fetch_sacrebleu("wmt99", "en", "de")
    with pytest.raises(SeqkdError, match="for en-xx"):
        datasets.fetch_sacrebleu("wmt14/full", "en", "xx")


def test_wmt14_manifest_is_complete():
    from sacrebleu.dataset import DATASETS

    m = manifests.load_manifest("wmt14-en-de")
    assert m.langs == ["en", "de"]
    for split in m.splits:
        for part in m.parts(split):
            if "sacrebleu" in part:
                assert "en-de" in DATASETS[part["sacrebleu"]].langpairs
            else:
                url, digest = m.source(part["file"])
                assert url.startswith("http") and len(digest) == 64
                int(digest, 16)
                assert "{lang}" in part["member"]
    assert {"train", "valid"} <= set(m.splits)


def test_failed_sacrebleu_download_says_how_to_work_offline(monkeypatch):
    import sacrebleu.utils

    def offline(test_set, pair):
        raise SystemExit(1)  # what sacrebleu does when a download fails

    monkeypatch.setattr(sacrebleu.utils, "get_source_file", offline)
    with pytest.raises(SeqkdError, match="SACREBLEU environment variable"):
        datasets.fetch_sacrebleu("wmt14/full", "en", "de")
