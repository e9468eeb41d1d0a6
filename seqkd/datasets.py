"""The dataset registry: manifests in ``data/``, fetched with checksums.

A manifest names a dataset's files (by URL) and their SHA-256, and says how
each split is made of them. A split is one or more parallel parts, each
either

* a pair of plain files ``PREFIX.LANG.gz`` (``splits: {train: PREFIX}``, the
  files under ``base_url``, their digests under ``sha256``);
* a pair of members of a downloaded archive
  (``{file: ARCHIVE, member: "path/name.{lang}"}``, the archive under
  ``files: {ARCHIVE: {url, sha256}}``); the parts of a split are concatenated;
* a test set that sacrebleu fetches and checks itself (``{sacrebleu: wmt14/full}``).

Files are looked up, in order, in the cache, in the mirror folder given by
``SEQKD_DATA_MIRROR`` (``<mirror>/<dataset>/<file>``) and on the network;
whatever the source, a file is used only when its checksum matches.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional, Tuple

from seqkd.config import field_problems
from seqkd.errors import SeqkdError
from seqkd.textio import SAFE_NAME, atomic_path, check_name, sha256_file
from seqkd.yaml_file import load_yaml

logger = logging.getLogger(__name__)

MIRROR_ENV = "SEQKD_DATA_MIRROR"
OWN_FILES_HINT = ("For your own files in any language pair: --train-prefix P --valid-prefix P "
                  "--src XX --tgt YY (files P.XX, P.YY), or a copy of pipelines/own-corpus.yaml; "
                  "see 'Your own corpus' in the README")
CACHE_ENV = "SEQKD_CACHE"


def registry_dir() -> Path:
    """The folder with the dataset manifests: ``$SEQKD_REGISTRY``, else the package's own
    ``seqkd/registry/`` (package data, so an installed wheel finds them too)."""
    env = os.environ.get("SEQKD_REGISTRY")
    if env:
        return Path(env)
    return Path(str(importlib.resources.files("seqkd") / "registry"))


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    path = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME",
                                                     Path.home() / ".cache")) / "seqkd"
    if path.exists() and not path.is_dir():
        raise SeqkdError(f"the download cache {path} is a file, not a folder: point "
                         f"{CACHE_ENV} at a folder")
    return path


@dataclass
class Manifest:
    name: str
    langs: List[str]
    splits: Dict[str, Any]
    #: plain files: BASE_URL + name, digests in ``sha256``
    base_url: str = ""
    sha256: Dict[str, Any] = field(default_factory=dict)
    #: files with their own URL (archives): name -> {url, sha256[, size]}
    files: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    homepage: str = ""

    def source(self, file_name: str) -> Tuple[str, str]:
        """The URL and SHA-256 of one of the dataset's files."""
        if file_name in self.files:
            entry = self.files[file_name]
            return entry["url"], entry["sha256"]
        if file_name in self.sha256:
            return self.base_url + file_name, str(self.sha256[file_name])
        raise SeqkdError(f"{file_name} is not in the manifest of {self.name}")

    def parts(self, split: str) -> List[Dict[str, str]]:
        """The parallel parts of a split, each a dict with ``file`` (and ``member``) or
        ``sacrebleu``; ``{lang}`` in names is left for the caller to fill in."""
        if split not in self.splits:
            raise SeqkdError(
                f"dataset {self.name} has no split {split!r}; it has: {', '.join(self.splits)}")
        spec = self.splits[split]
        if isinstance(spec, str):
            return [{"file": spec + ".{lang}.gz"}]
        parts = spec if isinstance(spec, list) else [spec]
        for part in parts:
            if not isinstance(part, dict) or not ({"file", "sacrebleu"} & set(part)):
                raise SeqkdError(f"dataset {self.name}, split {split}: a part needs `file` "
                                 f"(with `member` for an archive) or `sacrebleu`, got {part!r}")
        return parts

    def check_lang(self, lang: str) -> None:
        if lang not in self.langs:
            raise SeqkdError(
                f"dataset {self.name} has no language {lang!r}; it has: {', '.join(self.langs)}. "
                f"{OWN_FILES_HINT}")


def available() -> List[str]:
    return sorted(p.stem for p in registry_dir().glob("*.yaml"))


def load_manifest(name: str) -> Manifest:
    check_name(name, "dataset name")  # a path would read and write outside the registry
    path = registry_dir() / f"{name}.yaml"
    if not path.is_file():
        raise SeqkdError(
            f"unknown dataset {name!r}; registered: {', '.join(available()) or 'none'} "
            f"(manifests live in {registry_dir()}). {OWN_FILES_HINT}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SeqkdError(f"bad dataset manifest {path}: it is not UTF-8 text") from None
    raw = load_yaml(text, f"dataset manifest {path}")
    if not isinstance(raw, dict):
        raise SeqkdError(f"bad dataset manifest {path}: it must be a mapping of keys")
    values, problems = field_problems(Manifest, raw, "")
    if problems:  # keys and types first: the path checks below need the right types
        raise SeqkdError(f"bad dataset manifest {path}:\n  " + "\n  ".join(problems))
    manifest = Manifest(**values)
    problems = manifest_problems(manifest, name)
    if problems:
        raise SeqkdError(f"bad dataset manifest {path}:\n  " + "\n  ".join(problems))
    return manifest


def _formatted(name) -> str:
    """A file name template with the language filled in ('' when the template is broken)."""
    try:
        return str(name).format(lang="xx")
    except (KeyError, IndexError, ValueError):
        return ""


def _relative_member(member: str) -> bool:
    """An archive member path that stays inside the folder it is extracted to."""
    filled = _formatted(member)
    p = PurePosixPath(filled)
    return bool(filled) and not p.is_absolute() and ".." not in p.parts and "\\" not in member


def manifest_problems(m: Manifest, expected_name: str) -> List[str]:
    """Every reason a manifest could write outside the cache or break a path, at once."""
    problems = []
    if m.name != expected_name:
        problems.append(f"name {m.name!r} must be the manifest's file name ({expected_name!r})")
    for lang in m.langs:
        if not SAFE_NAME.fullmatch(str(lang)):
            problems.append(f"language code {lang!r} is not a plain name")
    files = set(m.sha256) | set(m.files)
    for f in sorted(files):
        if not SAFE_NAME.fullmatch(str(f)):
            problems.append(f"file name {f!r} must be a plain name (letters, digits, '_', "
                            "'-', '.'), not a path")
    if not isinstance(m.splits, dict):
        return problems + [f"splits must be a mapping of split names, got {m.splits!r}"]
    for split, spec in m.splits.items():
        if not SAFE_NAME.fullmatch(str(split)):
            problems.append(f"split name {split!r} must be a plain name")
        parts = [spec] if isinstance(spec, (str, dict)) else spec
        if not isinstance(parts, list):
            problems.append(f"split {split}: must be a prefix, a part (file/member or "
                            f"sacrebleu) or a list of parts, got {spec!r}")
            continue
        for part in parts:
            if isinstance(part, str):
                if not SAFE_NAME.fullmatch(part):
                    problems.append(f"split {split}: prefix {part!r} must be a plain name")
            elif isinstance(part, dict):
                if "file" in part and not SAFE_NAME.fullmatch(_formatted(part["file"])):
                    problems.append(f"split {split}: file {part['file']!r} must be a plain name")
                if "member" in part and not _relative_member(str(part["member"])):
                    problems.append(f"split {split}: member {part['member']!r} must be a "
                                    "relative path inside the archive (no '..', no leading '/')")
    return problems


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
