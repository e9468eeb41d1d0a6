"""What the subcommands share: common flags, NAME=VALUE lists, and a stage's typed config
from parsed arguments (checked like a YAML config's)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Dict, List, Optional

from seqkd.config import Problems
from seqkd.errors import SeqkdError


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="overwrite a finished run in the output folder")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")


def add_teachers(p: argparse.ArgumentParser, flag: str = "--teacher", required: bool = True) -> None:
    p.add_argument(flag, dest="teachers", nargs="+", required=required, metavar="CHECKPOINT",
                   help="fairseq teacher checkpoint(s); several form an ensemble. Their "
                        "checkpoints are unpickled in full (trusted, named by you). seqkd "
                        "distill also takes one CTranslate2 model folder with its own "
                        "SentencePiece model(s), whatever its vocabulary")


def parse_key_value(items: Optional[List[str]], what: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise SeqkdError(f"{what} takes NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        if not k or not v:
            raise SeqkdError(f"{what} takes NAME=VALUE, got {item!r}")
        if k in out:
            raise SeqkdError(f"{what}: {k!r} given twice")
        out[k] = v
    return out


def config_from(cls, args: argparse.Namespace, **given):
    """A stage's dataclass config from parsed arguments: every field whose name is an
    argument's dest is taken from it; ``given`` sets the rest (renamed or derived values).
    The values are checked like a YAML config's (bounds too), all problems at once."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    values.update(given)
    problems = Problems("")
    cfg = problems.build(cls, values, "")
    problems.raise_if_any()
    return cfg
