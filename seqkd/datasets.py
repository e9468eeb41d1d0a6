"""The dataset registry: manifests in ``data/``, fetched with checksums.

A manifest names a dataset's files (by URL) and their SHA-256. Files are
looked up, in order, in the cache, in the mirror folder given by
``SEQKD_DATA_MIRROR`` (``<mirror>/<dataset>/<file>``) and on the network;
whatever the source, a file is used only when its checksum matches.
"""

from __future__ import annotations

import logging
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from seqkd.errors import SeqkdError
from seqkd.textio import atomic_path, sha256_file

logger = logging.getLogger(__name__)

MIRROR_ENV = "SEQKD_DATA_MIRROR"
CACHE_ENV = "SEQKD_CACHE"


def registry_dir() -> Path:
    """The folder with the dataset manifests (``data/`` at the project root)."""
    env = os.environ.get("SEQKD_REGISTRY")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data"


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seqkd"


@dataclass
class Manifest:
    name: str
    base_url: str
    langs: List[str]
    splits: Dict[str, str]
    sha256: Dict[str, str]
    description: str = ""
    homepage: str = ""

    def file_name(self, split: str, lang: str) -> str:
        if split not in self.splits:
            raise SeqkdError(
                f"dataset {self.name} has no split {split!r}; it has: {', '.join(self.splits)}")
        if lang not in self.langs:
            raise SeqkdError(
                f"dataset {self.name} has no language {lang!r}; it has: {', '.join(self.langs)}")
        return f"{self.splits[split]}.{lang}.gz"


def available() -> List[str]:
    return sorted(p.stem for p in registry_dir().glob("*.yaml"))


def load_manifest(name: str) -> Manifest:
    path = registry_dir() / f"{name}.yaml"
    if not path.is_file():
        raise SeqkdError(
            f"unknown dataset {name!r}; registered: {', '.join(available()) or 'none'} "
            f"(manifests live in {registry_dir()}); for your own data give file paths instead")
    raw = yaml.safe_load(path.read_text())
    try:
        return Manifest(**raw)
    except TypeError as e:
        raise SeqkdError(f"bad dataset manifest {path}: {e}") from None


def _verify(path: Path, expected: str, source: str) -> None:
    got = sha256_file(path)
    if got != expected:
        raise SeqkdError(
            f"checksum mismatch for {path.name} from {source}: expected sha256 {expected}, "
            f"got {got}; the file is corrupt or not the registered version (delete it, or fix "
            "the mirror)")


def fetch_file(manifest: Manifest, file_name: str, cache: Optional[Path] = None) -> Path:
    """Return a verified local copy of one file of a dataset."""
    if file_name not in manifest.sha256:
        raise SeqkdError(f"{file_name} is not in the manifest of {manifest.name}")
    expected = manifest.sha256[file_name]
    dest = (cache or cache_dir()) / manifest.name / file_name
    if dest.is_file():
        if sha256_file(dest) == expected:
            return dest
        logger.warning("cached %s has a wrong checksum; fetching it again", dest)
        dest.unlink()
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        candidate = Path(mirror) / manifest.name / file_name
        if candidate.is_file():
            _verify(candidate, expected, f"mirror {candidate}")
            with atomic_path(dest) as tmp:
                shutil.copyfile(candidate, tmp)
            logger.info("copied %s from mirror %s", file_name, mirror)
            return dest
        logger.info("%s not in mirror %s; trying the network", file_name, mirror)
    url = manifest.base_url + file_name
    logger.info("downloading %s", url)
    with atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f)
        except (urllib.error.URLError, OSError) as e:
            raise SeqkdError(
                f"could not download {url}: {e}; without network, point {MIRROR_ENV} at a "
                f"folder holding {manifest.name}/{file_name}") from None
        _verify(tmp, expected, url)
    return dest


def fetch_split(manifest: Manifest, split: str, src: str, tgt: str,
                cache: Optional[Path] = None) -> Dict[str, Path]:
    return {lang: fetch_file(manifest, manifest.file_name(split, lang), cache)
            for lang in (src, tgt)}
