"""A registered dataset's files, fetched and checked (their manifests: :mod:`seqkd.manifests`).

Files are looked up, in order, in the cache, in the mirror folder given by
``SEQKD_DATA_MIRROR`` (``<mirror>/<dataset>/<file>``) and on the network;
whatever the source, a file is used only when its checksum matches. A split's parts are
concatenated; a sacrebleu test set is fetched and checked by sacrebleu.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Optional, Tuple

from seqkd.errors import SeqkdError
from seqkd.manifests import Manifest
from seqkd.textio import atomic_path, sha256_file

logger = logging.getLogger(__name__)

MIRROR_ENV = "SEQKD_DATA_MIRROR"
CACHE_ENV = "SEQKD_CACHE"


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    path = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME",
                                                     Path.home() / ".cache")) / "seqkd"
    if path.exists() and not path.is_dir():
        raise SeqkdError(f"the download cache {path} is a file, not a folder: point "
                         f"{CACHE_ENV} at a folder")
    return path


def _verify(path: Path, expected: str, source: str) -> None:
    got = sha256_file(path)
    if got != expected:
        raise SeqkdError(
            f"checksum mismatch for {path.name} from {source}: expected sha256 {expected}, "
            f"got {got}; the file is corrupt or not the registered version (delete it, or fix "
            "the mirror)")


def fetch_file(manifest: Manifest, file_name: str, cache: Optional[Path] = None) -> Path:
    """Return a verified local copy of one file of a dataset."""
    url, expected = manifest.source(file_name)
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


def extract_member(archive: Path, member: str, dest: Path, root: Optional[Path] = None
                   ) -> Path:
    """One file out of a (verified) tar archive, written atomically to ``dest`` (which must
    lie under ``root``, when given)."""
    if root is not None and root.resolve() not in dest.resolve().parents:
        raise SeqkdError(f"archive member {member!r} would be extracted to {dest}, outside "
                         f"the cache folder {root}; fix the manifest")
    if dest.is_file():
        return dest
    logger.info("extracting %s from %s", member, archive.name)
    try:
        with tarfile.open(archive) as tar:
            try:
                f = tar.extractfile(member)
            except KeyError:
                f = None
            if f is None:
                raise SeqkdError(f"{archive} has no file {member!r}; the manifest's member "
                                 "name is wrong")
            with f, atomic_path(dest) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(f, out)
    except tarfile.TarError as e:
        raise SeqkdError(f"cannot read archive {archive}: {e}") from None
    return dest


def fetch_sacrebleu(test_set: str, src: str, tgt: str) -> Dict[str, Path]:
    """Source and reference of a test set, fetched (and checked) by sacrebleu."""
    from sacrebleu.dataset import DATASETS
    from sacrebleu.utils import get_reference_files, get_source_file

    pair = f"{src}-{tgt}"
    if test_set not in DATASETS or pair not in DATASETS[test_set].langpairs:
        raise SeqkdError(f"sacrebleu has no test set {test_set!r} for {pair} "
                         "(see `sacrebleu --list`)")
    try:
        source = get_source_file(test_set, pair)
        refs = get_reference_files(test_set, pair)
    except (Exception, SystemExit) as e:  # sacrebleu exits on a failed download
        raise SeqkdError(f"sacrebleu could not fetch {test_set} {pair}: {e}; offline, fill "
                         "its cache (the SACREBLEU environment variable names it) on a "
                         "machine with network access") from None
    return {src: Path(source), tgt: Path(refs[0])}


def fetch_split(manifest: Manifest, split: str, src: str, tgt: str,
                cache: Optional[Path] = None) -> List[Dict[str, Path]]:
    """Verified local files for each parallel part of a split, ``{lang: path}`` each."""
    return _fetch_parts(manifest, split, (src, tgt), cache)


def fetch_side(manifest: Manifest, split: str, lang: str,
               cache: Optional[Path] = None) -> List[Path]:
    """Verified local files of one side of a split, one per part (a monolingual corpus)."""
    if any("sacrebleu" in part for part in manifest.parts(split)):
        raise SeqkdError(f"dataset {manifest.name}, split {split}: a sacrebleu test set cannot "
                         "be read as a monolingual corpus")
    return [part[lang] for part in _fetch_parts(manifest, split, (lang,), cache)]


def _fetch_parts(manifest: Manifest, split: str, langs: Tuple[str, ...],
                 cache: Optional[Path]) -> List[Dict[str, Path]]:
    for lang in langs:
        manifest.check_lang(lang)
    root = (cache or cache_dir()) / manifest.name
    out: List[Dict[str, Path]] = []
    for part in manifest.parts(split):
        if "sacrebleu" in part:
            out.append(fetch_sacrebleu(part["sacrebleu"], *langs))
        elif "member" in part:
            archive = fetch_file(manifest, part["file"], cache)
            out.append({lang: extract_member(
                archive, part["member"].format(lang=lang),
                root / "extracted" / part["file"] / part["member"].format(lang=lang),
                root=root)
                for lang in langs})
        else:
            out.append({lang: fetch_file(manifest, part["file"].format(lang=lang), cache)
                        for lang in langs})
    return out
