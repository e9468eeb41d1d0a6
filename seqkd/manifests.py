"""The dataset registry: a manifest (``seqkd/registry/NAME.yaml``, or ``$SEQKD_REGISTRY``)
names a dataset's files (by URL) and their SHA-256, and says how each split is made of them
(:mod:`seqkd.datasets` fetches them). A split is one or more parallel parts, each either

* a pair of plain files ``PREFIX.LANG.gz`` (``splits: {train: PREFIX}``, the
  files under ``base_url``, their digests under ``sha256``);
* a pair of members of a downloaded archive
  (``{file: ARCHIVE, member: "path/name.{lang}"}``, the archive under
  ``files: {ARCHIVE: {url, sha256}}``);
* a test set that sacrebleu fetches and checks itself (``{sacrebleu: wmt14/full}``).

A manifest is checked in full before anything is fetched: nothing it names may lead outside
the download cache."""

from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Tuple

from seqkd.config import field_problems
from seqkd.errors import SeqkdError
from seqkd.textio import SAFE_NAME, check_name
from seqkd.yaml_file import load_yaml

OWN_FILES_HINT = ("For your own files in any language pair: --train-prefix P --valid-prefix P "
                  "--src XX --tgt YY (files P.XX, P.YY), or a copy of pipelines/own-corpus.yaml; "
                  "see 'Your own corpus' in the README")


def registry_dir() -> Path:
    """The folder with the dataset manifests: ``$SEQKD_REGISTRY``, else the package's own
    ``seqkd/registry/`` (package data, so an installed wheel finds them too)."""
    env = os.environ.get("SEQKD_REGISTRY")
    if env:
        return Path(env)
    return Path(str(importlib.resources.files("seqkd") / "registry"))


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
