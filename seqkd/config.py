"""Typed stage configs: values from YAML or the command line checked against the dataclass.

Every stage's settings are a dataclass whose field types (``int``, ``float``, ``str``,
``bool``, ``Optional[...]``, ``List[...]``, ``Dict[str, ...]``) and ``metadata`` (``choices``,
``min``, ``max``) say what a value may be. :meth:`Problems.build` checks a whole mapping and
:func:`check_config` a built config; both report every problem at once, so a config is
judged before any stage starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from typing import Any, Dict, List, Tuple, Type

from seqkd.errors import SeqkdError

#: the largest beam any stage accepts: beyond it memory grows past what a translation needs
#: (a beam of 100,000 asks CTranslate2 for gigabytes) and quality does not improve
MAX_BEAM = 64
#: seeds go to numpy, which takes 0 .. 2**32 - 1, and fairseq adds the epoch to them: 2**31 - 1
#: leaves room
MAX_SEED = 2**31 - 1


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " (or null)"
    if origin in (list, List):
        return f"a list of {_plural_name(typing.get_args(tp)[0])}"
    if origin in (dict, Dict):
        return f"a mapping of names to values, each {_type_name(typing.get_args(tp)[1])}"
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false"
            }.get(tp, getattr(tp, "__name__", str(tp)))


def _plural_name(tp) -> str:
    """What a list's entries must be ("strings", not "a string")."""
    plural = {int: "whole numbers", float: "numbers", str: "strings",
              bool: "true or false values"}.get(tp)
    return plural or f"entries that are each {_type_name(tp)}"


def check_value(tp, value) -> Tuple[bool, Any]:
    """(ok, value converted where harmless: an int where a float is wanted)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return True, value
    if origin is typing.Union:
        if value is None and type(None) in typing.get_args(tp):
            return True, None
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            ok, v = check_value(arg, value)
            if ok:
                return True, v
        return False, value
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            return False, value
        inner = typing.get_args(tp)[0] if typing.get_args(tp) else Any
        out = []
        for item in value:
            ok, v = check_value(inner, item)
            if not ok:
                return False, value
            out.append(v)
        return True, out
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            return False, value
        kt, vt = typing.get_args(tp) or (Any, Any)
        out = {}
        for k, v in value.items():
            ok_k, k2 = check_value(kt, k)
            ok_v, v2 = check_value(vt, v)
            if not (ok_k and ok_v):
                return False, value
            out[k2] = v2
        return True, out
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if tp is str:
        return isinstance(value, str), value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return isinstance(value, tp), value
    return True, value


def field_problems(cls: Type, values: Dict[str, Any], where: str) -> Tuple[Dict[str, Any],
                                                                         List[str]]:
    """Checked values for ``cls`` and the problems found (unknown keys, wrong types,
    values outside ``choices`` / ``min`` / ``max``)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    problems: List[str] = []
    where = f"{where}: " if where else ""
    out: Dict[str, Any] = {}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        problems.append(f"{where}unknown setting(s) {', '.join(unknown)}"
                        f"{did_you_mean(unknown, fields)}; known: {', '.join(sorted(fields))}")
    for name, value in values.items():
        if name not in fields:
            continue
        ok, converted = check_value(hints[name], value)
        if not ok:
            problems.append(f"{where}{name} must be {_type_name(hints[name])}, "
                            f"got {value!r}")
            continue
        meta = fields[name].metadata
        choices = meta.get("choices")
        if choices and converted is not None and converted not in choices:
            problems.append(f"{where}{name} must be one of {', '.join(map(str, choices))}, "
                            f"got {converted!r}")
        pattern = meta.get("pattern")
        if pattern and isinstance(converted, str) and not re.fullmatch(pattern, converted):
            problems.append(f"{where}{name} {converted!r} is not allowed: use letters, digits"
                            f"{_specials(pattern)} only, starting with a letter or digit (it "
                            "becomes part of file names)")
        problems += bound_problems(f"{where}{name}", converted, meta.get("min"), meta.get("max"),
                                   meta.get("above"))
        if "help" in meta:  # a setting (a plain field, as extra_args, may repeat)
            problems += repeat_problems(f"{where}{name}", converted)
        out[name] = converted
    missing = [n for n, f in fields.items() if n not in values and
               f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        problems.append(f"{where}missing setting(s) {', '.join(missing)}")
    return out, problems


def did_you_mean(unknown, known) -> str:
    """`` (did you mean X?)`` for the known names close to the unknown ones (a typo), or
    nothing."""
    near = [m for u in unknown for m in difflib.get_close_matches(str(u), list(known), n=1)]
    return f" (did you mean {', '.join(dict.fromkeys(near))}?)" if near else ""


def repeat_problems(name: str, value: Any) -> List[str]:
    """A list setting that holds one value twice: its entries are things to do (test sets,
    thread counts, sources, pairs), and the second would only do the first again, or, where
    they name outputs, overwrite it."""
    if not isinstance(value, list):
        return []
    seen = set()
    for v in value:
        try:
            if v in seen:
                return [f"{name} holds {v!r} twice, got {value!r}; give each once"]
            seen.add(v)
        except TypeError:  # an unhashable entry: its type is for the type check to say
            return []
    return []


def bound_problems(name: str, value: Any, lo: Any, hi: Any, above: Any = None) -> List[str]:
    """A number (or each number of a list) that is not finite, or outside [lo, hi], or not
    above ``above``: NaN would switch a filter off without a word (every comparison with it
    is false) and infinity would pass any upper bound."""
    values = value if isinstance(value, list) else [value]
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        shown = v if not isinstance(value, list) else f"{v!r} in {value!r}"
        if isinstance(v, float) and not math.isfinite(v):
            return [f"{name} must be a finite number, got {shown}"]
        if lo is not None and v < lo:
            return [f"{name} must be at least {lo}, got {shown}"]
        if hi is not None and v > hi:
            return [f"{name} must be at most {hi}, got {shown}"]
        if above is not None and v <= above:
            return [f"{name} must be above {above}, got {shown}"]
    return []


def check_config(cfg: Any) -> None:
    """Check a config built in code (not from YAML or the command line) by the same rules:
    its field types, choices and bounds; all problems in one error."""
    values = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    problems = Problems("")
    problems.items += field_problems(type(cfg), values, "")[1]
    problems.raise_if_any()


class Problems:
    """Collects config problems from many places; raises them together."""

    def __init__(self, source: str):
        self.source = source
        self.items: List[str] = []

    def build(self, cls: Type, values: Dict[str, Any], where: str):
        """An instance of ``cls``, or None (the problems noted) when the values are bad."""
        checked, problems = field_problems(cls, values, where)
        self.items += problems
        if problems:
            return None
        try:
            return cls(**checked)
        except SeqkdError as e:  # a check of the class itself (__post_init__)
            for problem in getattr(e, "problems", [str(e)]):
                self.items.append(f"{where}: {problem}" if where else problem)
            return None

    def add(self, problem: str) -> None:
        self.items.append(problem)

    def raise_if_any(self) -> None:
        # (a rule that every student's section meets alike says its problem once)
        self.items = list(dict.fromkeys(self.items))
        where = f"{self.source}: " if self.source else ""
        if len(self.items) == 1:
            raise SeqkdError(f"{where}{self.items[0]}")
        if self.items:
            raise SeqkdError(f"{where}{len(self.items)} problems; nothing was run:\n  "
                             + "\n  ".join(self.items))


# ---------------------------------------------------------------- one definition per setting


def _specials(pattern: str) -> str:
    """The characters besides letters and digits that a name ``pattern`` (a first character
    class, then ``[...]*``) allows, in words."""
    tail = pattern.rsplit("[", 1)[-1]
    said = [f"'{c}'" for c in "_-." if c in tail]
    return (", " + ", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1
            else f" and {said[0]}" if said else "")


def setting(default: Any = dataclasses.MISSING, help: str = "", *, choices=None, min=None,
            max=None, above=None, pattern: str | None = None, flag: str | None = None,
            metavar: str | None = None,
            default_factory: Any = dataclasses.MISSING):
    """A config field that is also its command-line option: type from the annotation, default,
    help, allowed values and bounds written once, here. The CLI option is ``--field-name``
    (or ``flag``); YAML values are checked against the same ``choices``/``min``/``max`` (or
    ``above``, a bound the value may not reach: a temperature or a learning rate of 0) and,
    for names that become file names, ``pattern`` (a regular expression the whole value must
    match)."""
    meta = {"help": help}
    for key, value in (("choices", choices), ("min", min), ("max", max), ("above", above),
                       ("pattern", pattern), ("flag", flag), ("metavar", metavar)):
        if value is not None:
            meta[key] = tuple(value) if key == "choices" else value
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def given(cfg: Any, name: str) -> bool:
    """Whether setting ``name`` of ``cfg`` holds another value than its default (a setting
    given where it does nothing is then said, not ignored)."""
    return getattr(cfg, name) != type(cfg).__dataclass_fields__[name].default
