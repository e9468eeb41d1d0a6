"""Reading and writing text corpora safely.

Every corpus is read as strict UTF-8, line by line, so that a bad byte is
reported with its file and line number. Every output is written to a
temporary name in the same folder and renamed when complete, so that an
interrupted run never leaves a file that a later run takes as finished.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import itertools
import logging
import os
import shutil
import re
import tempfile
import zlib
from pathlib import Path
from typing import IO, Iterable, Iterator, List, Optional, Sequence, Tuple

from seqkd.errors import SeqkdError

logger = logging.getLogger(__name__)


def _open_binary(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


def _broken_gzip(path: Path, e: Exception) -> SeqkdError:
    what = "truncated" if isinstance(e, EOFError) else "not a valid gzip file"
    return SeqkdError(f"{path}: {what} ({type(e).__name__}: {e}); download or copy it again, "
                      "or give the uncompressed file")


def _raw_lines(path: Path) -> Iterator[bytes]:
    """The raw lines of a file (``.gz`` decompressed); a broken archive names the file."""
    try:
        with _open_binary(path) as f:
            yield from f
    except _GZIP_ERRORS as e:
        raise _broken_gzip(path, e) from None


def first_line_without_bom(line: str, lineno: int) -> str:
    """``line`` (number ``lineno`` of a file or stream) without the byte order mark that
    Windows editors put before a UTF-8 file's first line: it marks the file, it is not text."""
    return line[1:] if lineno == 1 and line.startswith("\ufeff") else line


def iter_lines(path: str | os.PathLike) -> Iterator[str]:
    """Yield the lines of a UTF-8 text file (``.gz`` too) without their newline.

    Raises :class:`SeqkdError` naming the file and line on undecodable bytes, and naming
    the file when a ``.gz`` is truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise SeqkdError(f"file not found: {path}")
    for lineno, raw in enumerate(_raw_lines(path), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SeqkdError(
                f"{path}, line {lineno}: bytes that are not valid UTF-8 "
                f"({raw[max(0, e.start - 10):e.end + 10]!r}); convert the file to UTF-8 "
                "(e.g. with iconv) or remove the line"
            ) from None
        yield first_line_without_bom(line.rstrip("\n").rstrip("\r"), lineno)


def read_lines(path: str | os.PathLike) -> List[str]:
    return list(iter_lines(path))


def count_lines(path: str | os.PathLike) -> int:
    path = Path(path)
    if not path.is_file():
        raise SeqkdError(f"file not found: {path}")
    return sum(1 for _ in _raw_lines(path))


def read_parallel(src: str | os.PathLike, tgt: str | os.PathLike) -> tuple[List[str], List[str]]:
    """Read two line-aligned files; fail clearly when their line counts differ."""
    s, t = read_lines(src), read_lines(tgt)
    if len(s) != len(t):
        raise SeqkdError(
            f"parallel files have different line counts: {src} has {len(s)} lines, "
            f"{tgt} has {len(t)}; they must be line-aligned (one sentence pair per line)"
        )
    return s, t


def iter_parallel(parts: Sequence[Tuple[str | os.PathLike, str | os.PathLike]]
                  ) -> Iterator[Tuple[str, str]]:
    """The line pairs of one or more (source, target) file pairs, read as they stream; one
    clear error when a pair of files differs in length."""
    for src, tgt in parts:
        for pair in itertools.zip_longest(iter_lines(src), iter_lines(tgt)):
            if pair[0] is None or pair[1] is None:
                raise SeqkdError(
                    f"parallel files have different line counts: {src} has "
                    f"{count_lines(src)} lines, {tgt} has {count_lines(tgt)}; they must be "
                    "line-aligned (one sentence pair per line)")
            yield pair


def write_pairs(src_path: str | os.PathLike, tgt_path: str | os.PathLike,
                pairs: Iterable[Tuple[str, str]]) -> int:
    """Atomically write line pairs into two files as they stream; return how many."""
    n = 0
    with atomic_path(src_path) as ts, atomic_path(tgt_path) as tt:
        with open(ts, "w", encoding="utf-8", newline="\n") as fs, \
                open(tt, "w", encoding="utf-8", newline="\n") as ft:
            for s, t in pairs:
                if "\n" in s or "\n" in t:
                    raise SeqkdError(f"internal: a line for {src_path} contains a newline")
                fs.write(s + "\n")
                ft.write(t + "\n")
                n += 1
    return n


#: names that become file names (test sets, dataset files): no path separators, no commas
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: split names that seqkd itself gives the training and validation sets
RESERVED_SPLITS = ("train", "valid")


def check_name(name: str, what: str) -> str:
    """``name`` when it is safe as a file name (letters, digits, ``_``, ``-``, ``.``)."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise SeqkdError(f"{what} {name!r} is not allowed: use letters, digits, '_', '-' and "
                         "'.' only, starting with a letter or digit (it becomes a file name)")
    return name


#: names a monolingual corpus cannot take: train, valid and references name the parallel data
RESERVED_MONO = ("train", "valid", "references")


def check_mono_name(name: str) -> str:
    """``name`` when it can name a monolingual corpus (prepare's ``--mono``, distill's
    ``--sources``)."""
    check_name(name, "monolingual corpus name")
    if name in RESERVED_MONO:
        raise SeqkdError(f"monolingual corpus name {name!r} is reserved (train, valid and "
                         "references name the parallel data): choose another")
    return name


def check_test_set_name(name: str) -> str:
    check_name(name, "test set name")
    if name in RESERVED_SPLITS:
        raise SeqkdError(f"test set name {name!r} is reserved for the "
                         f"{'training' if name == 'train' else 'validation'} set; "
                         f"name the test set otherwise (reserved: {', '.join(RESERVED_SPLITS)})")
    return name


def unicode_problem(text: str) -> Optional[str]:
    """What keeps ``text`` from being Unicode text, or None: a lone UTF-16 surrogate (what a
    JSON ``\\ud800`` escape without its pair becomes), which no encoder takes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return (f"character {e.start + 1} is U+{ord(text[e.start]):04X}, half of a UTF-16 "
                "surrogate pair, not a character")
    return None


def check_no_empty(path: str | os.PathLike, lines: Sequence[str]) -> None:
    """Fail on an empty set or its first empty line (for sets that are not cleaned)."""
    if not lines:
        raise SeqkdError(f"{path} is empty; a test or validation set needs at least one "
                         "sentence pair")
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            raise SeqkdError(
                f"{path}, line {i}: empty line; a test or validation set must have a "
                "sentence on every line (remove the pair from both sides)"
            )


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it to ``final`` on success.

    Works for files and folders. On error the temporary is removed and
    ``final`` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(tmp_path, final)
    finally:
        if tmp_path.is_dir():
            shutil.rmtree(tmp_path, ignore_errors=True)
        elif tmp_path.exists():
            tmp_path.unlink()


def write_lines(path: str | os.PathLike, lines: Iterable[str]) -> int:
    """Atomically write lines (each followed by a newline); return how many."""
    n = 0
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for line in lines:
                if "\n" in line:
                    raise SeqkdError(f"internal: a line for {path} contains a newline")
                f.write(line)
                f.write("\n")
                n += 1
    return n


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def require_file(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise SeqkdError(f"{what} not found: {p}")
    return p


def progress(iterable=None, **kwargs):
    """A tqdm progress bar on stderr, off with ``seqkd -q`` (which sets TQDM_DISABLE) or when
    ``disable`` says so."""
    from tqdm import tqdm

    kwargs["disable"] = bool(kwargs.get("disable")) or bool(os.environ.get("TQDM_DISABLE"))
    return tqdm(iterable, **kwargs)
