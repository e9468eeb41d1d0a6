"""What the subcommands share: a config class's settings as command-line options (each
declared once, with :func:`seqkd.config.setting`), common flags, NAME=VALUE lists, and a
stage's typed config from parsed arguments (checked like a YAML config's)."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Dict, List, Optional, Type

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


def _scalar_type(tp):
    """(scalar type, is_list) of an annotation, Optional[...] unwrapped."""
    if typing.get_origin(tp) is typing.Union:
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) in (list, List):
        return typing.get_args(tp)[0], True
    return tp, False


def add_arguments(parser, cls: Type, skip=()) -> None:
    """Add a command-line option for every field of ``cls`` declared with :func:`setting`
    (except ``skip`` and those the parser has already)."""
    hints = typing.get_type_hints(cls)
    taken = {s for a in parser._actions for s in a.option_strings}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "help" not in meta or f.name in skip:
            continue
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        if flag in taken:
            continue
        default = (f.default_factory() if f.default_factory is not dataclasses.MISSING
                   else f.default)
        tp, is_list = _scalar_type(hints[f.name])
        kwargs: Dict[str, Any] = {"dest": f.name, "help": meta["help"]}
        if tp is bool:
            if default:
                parser.add_argument("--no-" + f.name.replace("_", "-"), action="store_false",
                                    **kwargs)
            else:
                parser.add_argument(flag, action="store_true", **kwargs)
            continue
        if default is not dataclasses.MISSING:
            kwargs["default"] = default
            shown = " ".join(map(str, default)) if isinstance(default, list) else default
            kwargs["help"] += f" (default: {shown})" if default not in (None, [], "") else ""
        else:
            kwargs["required"] = True
        if tp in (int, float, str):
            kwargs["type"] = tp
        if is_list:
            kwargs["nargs"] = "+"
        if "choices" in meta:
            kwargs["choices"] = meta["choices"]
        if "metavar" in meta:
            kwargs["metavar"] = meta["metavar"]
        parser.add_argument(flag, **kwargs)
