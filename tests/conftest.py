import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import write_corpus  # noqa: E402

REPO = HERE.parent
SHARED = REPO.parent / "shared"
TEACHER_DIR = SHARED / "models" / "multi30k-en-de-teacher"


def mirror() -> Path | None:
    env = os.environ.get("SEQKD_DATA_MIRROR")
    # resolved: tests run seqkd from other folders, where a relative mirror would not resolve
    for candidate in ([Path(env).resolve()] if env else []) + [SHARED / "datasets"]:
        if (candidate / "multi30k" / "train.en.gz").is_file():
            return candidate
    return None


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SEQKD_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def seqkd(*args: str) -> int:
    from seqkd.cli import main
    return main([str(a) for a in args])


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def prepared(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "data"
    assert seqkd("prepare", "--out", out, "--train-prefix", corpus / "train",
                 "--valid-prefix", corpus / "valid", "--test", f"test={corpus / 'test'}",
                 "--vocab-size", "100", "-q") == 0
    return out


@pytest.fixture(scope="session")
def teacher(prepared, tmp_path_factory) -> Path:
    """A tiny teacher, trained for long enough that its outputs depend on the input."""
    out = tmp_path_factory.mktemp("teacher") / "teacher"
    assert seqkd("train", "--role", "teacher", "--data", prepared, "--out", out,
                 "--max-updates", "400", "--lr", "0.003", "--max-tokens", "1024",
                 "--validate-interval-updates", "400", "-q") == 0
    return out


@pytest.fixture(scope="session")
def plugin():
    """seqkd's fairseq plugin, imported the only allowed way (fairseq's user-dir import)."""
    import argparse

    from fairseq.utils import import_user_module

    from seqkd.fairseq_tools import PLUGIN_DIR
    import_user_module(argparse.Namespace(user_dir=str(PLUGIN_DIR)))
    return sys.modules["seqkd_fairseq_plugin"]
