"""Blind sets: source text with no reference in reach (a shared task's test set, one kept for
scoring elsewhere). The bench has every system translate each of them once, untimed, after
its timed runs, and writes the translations as ``outputs/SYSTEM.NAME.TGT.gz`` beside the
report: the same systems, settings and models as the measured rows, and no reference looked
for. Empty source lines stay empty in the output, so that it is line-aligned with the source."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

from seqkd.errors import SeqkdError
from seqkd.textio import SAFE_NAME, atomic_path, read_lines, sha256_file


@dataclass
class BlindSet:
    name: str
    path: Path
    #: every line of the file; the systems see the non-empty ones only
    lines: List[str]
    sha256: str

    @property
    def to_translate(self) -> List[str]:
        return [line for line in self.lines if line.strip()]

    def aligned(self, translated: Sequence[str], system: str) -> List[str]:
        """The system's translations of the non-empty lines, placed back among the empty."""
        if len(translated) != len(self.to_translate):
            raise SeqkdError(f"{system} returned {len(translated)} translations of blind set "
                             f"{self.name} for {len(self.to_translate)} lines; its output is "
                             "not written")
        it = iter(translated)
        return [next(it) if line.strip() else "" for line in self.lines]


def _read(entries: Iterable[str], files_there: bool) -> Tuple[Dict[str, Path], List[str]]:
    """``NAME=FILE`` entries as {name: file}, and every problem, each starting 'blind: '."""
    seen: Dict[str, Path] = {}
    found = [f"blind: {problem}" for entry in entries or []
             for problem in _entry_problems(entry, seen, files_there)]
    return seen, found


def problems(entries: Iterable[str], files_there: bool = True) -> List[str]:
    """Every problem of ``NAME=FILE`` entries; ``files_there``: a file that is not there is
    one too."""
    return _read(entries, files_there)[1]


def parse(entries: Iterable[str]) -> Dict[str, Path]:
    """``NAME=FILE`` entries as {name: file}; every problem in one error."""
    sets, found = _read(entries, files_there=True)
    if found:
        raise SeqkdError("bench " + "; ".join(found))
    return sets


def files(entries: Iterable[str]) -> List[Path]:
    """The files that ``NAME=FILE`` entries name, checked or not (a stage's inputs)."""
    return [Path(e.partition("=")[2]) for e in entries or []
            if isinstance(e, str) and e.partition("=")[2]]


def _entry_problems(entry: str, seen: Dict[str, Path], files_there: bool) -> List[str]:
    """What is wrong with one ``NAME=FILE`` entry (none: it is added to ``seen``)."""
    name, sep, file = entry.partition("=") if isinstance(entry, str) else ("", "", "")
    if not sep or not name or not file:
        return [f"{entry!r} is not NAME=FILE (e.g. test_2018_flickr=blind/test_2018.en)"]
    if not SAFE_NAME.fullmatch(name):
        return [f"name {name!r}: use letters, digits, '_', '-' and '.' only, starting with "
                "a letter or digit (it becomes part of a file name)"]
    if name in seen:
        return [f"name {name!r} is given twice"]
    if files_there and not Path(file).is_file():
        return [f"{name}: {file} is not a file"]
    seen[name] = Path(file)
    return []


def load(entries: Iterable[str], test_sets: Sequence[str]) -> List[BlindSet]:
    """The blind sets read: a name that is a test set of the data is refused (that set has
    references: bench it as a test set), and so is a file with no text."""
    sets = []
    for name, path in parse(entries).items():
        if name in test_sets:
            raise SeqkdError(f"bench blind: {name} is a test set of the data folder, with "
                             "references: name it in test_sets, or give the blind set "
                             "another name")
        lines = read_lines(path)
        if not any(line.strip() for line in lines):
            raise SeqkdError(f"bench blind: {name}: {path} has no text to translate")
        sets.append(BlindSet(name, path, lines, sha256_file(path)))
    return sets


def write_output(folder: Path, system: str, blind: BlindSet, tgt: str,
                 translated: Sequence[str]) -> Path:
    """``folder/SYSTEM.NAME.TGT.gz``, line-aligned with the blind source; gzip with no name
    or time in its header, so that the same translations give the same bytes."""
    lines = blind.aligned(translated, system)
    final = folder / f"{system}.{blind.name}.{tgt}.gz"
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                   mtime=0) as f:
            f.write("".join(line + "\n" for line in lines).encode("utf-8"))
    return final


def write_outputs(bench_dir: Path, system: str, sets: Sequence[BlindSet], tgt: str,
                  translated: Dict[str, List[str]], written: Dict[str, List[str]]) -> None:
    """Each blind set that ``system`` translated (``translated``: name -> lines) written under
    ``bench_dir/outputs``; the file names, relative to ``bench_dir``, added to ``written``."""
    for blind in sets:
        if blind.name in translated:
            path = write_output(bench_dir / "outputs", system, blind, tgt,
                                translated[blind.name])
            written.setdefault(blind.name, []).append(f"outputs/{path.name}")


def summary(sets: Sequence[BlindSet], outputs: Dict[str, List[str]]) -> List[Dict]:
    """What report.json says of each blind set: its source (path, digest, lines) and the
    output file of each system (names relative to the bench folder)."""
    return [{"name": b.name, "source": str(b.path), "source_sha256": b.sha256,
             "lines": len(b.lines), "outputs": outputs.get(b.name, [])} for b in sets]


def markdown_lines(blind: Sequence[Dict]) -> List[str]:
    """The report's lines on its blind sets."""
    return [f"- blind set {b['name']}: {b['source']} ({b['lines']:,} lines, sha256 "
            f"{b['source_sha256'][:12]}), translated once by each of {len(b['outputs'])} "
            f"systems into outputs/SYSTEM.{b['name']}.TGT.gz; no reference was read"
            for b in blind]
