"""A ``seqkd run`` config as a file: read and checked whole (known sections, ``work_dir``
set, no YAML tricks), its local paths resolved against the folder seqkd runs in, and its
sections turned into typed stage configs with every problem collected (see
:class:`seqkd.config.Problems`). :mod:`seqkd.plan` builds the stages from them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, List, Sequence

from seqkd.config import Problems, did_you_mean
from seqkd.errors import SeqkdError
from seqkd.yaml_file import load_yaml

def stage_config(problems: Problems, cls, values: Any, where: str, **fixed) -> Any:
    """A typed stage config from one section of the YAML, or None (problems noted)."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        problems.add(f"{where}: must be a mapping of settings, got {values!r}")
        return None
    clash = sorted(set(values) & set(fixed))
    if clash:
        problems.add(f"{where}: {', '.join(clash)} {'is' if len(clash) == 1 else 'are'} set "
                     "by seqkd run itself; remove it from the config")
        values = {k: v for k, v in values.items() if k not in fixed}
    return problems.build(cls, {**values, **fixed}, where)


def entries(problems: Problems, cfg: Dict, section: str) -> List[Dict]:
    """The entries of a list section (``distill``, ``students``), each a mapping, or []
    (problems noted)."""
    entries = cfg.get(section) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.add(f"{section}: must be a list of mappings (one per {section} entry)")
        return []
    return [dict(e) for e in entries]


def section_problems(cfg: Dict, problems: Problems, known: Sequence[str]) -> None:
    """Sections not in ``known`` (the stage kinds' own), noted with every other problem of
    the config."""
    unknown = sorted(map(str, set(cfg) - set(known)))
    if unknown:
        problems.add(f"unknown section(s) {', '.join(unknown)}"
                     f"{did_you_mean(unknown, known)}; known: {', '.join(sorted(known))}")


def load_config(path: str | Path) -> Dict:
    """A config file's sections; a file that is not one is one clear error (what is wrong
    inside its sections is :func:`seqkd.plan.plan`'s to say, all at once)."""
    p = Path(path)
    if not p.is_file():
        raise SeqkdError(f"config not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SeqkdError(f"{p} is not UTF-8 text") from None
    cfg = load_yaml(text, str(p)) or {}
    if not isinstance(cfg, dict):
        raise SeqkdError(f"{p}: a config is a mapping of sections (work_dir, data, teacher, "
                         f"distill, students, export, bench), not a {type(cfg).__name__}")
    if "work_dir" not in cfg:
        raise SeqkdError(f"{p}: set work_dir (the folder for every stage's outputs)")
    return cfg


#: data-section keys that name local files or file prefixes
DATA_PATH_KEYS = ("spm_model", "dictionary", "train_prefix", "valid_prefix")


def absolute_paths(cfg: Dict, base: Path) -> Dict:
    """A copy of ``cfg`` with its local paths (data files and prefixes, teacher checkpoints)
    resolved against ``base``, the folder seqkd runs in; values of a wrong type are left as
    they are for :func:`seqkd.plan.plan` to report."""
    out = copy.deepcopy(cfg)

    def rel(p):
        return str((base / p).resolve()) if isinstance(p, str) and p else p

    data = out.get("data")
    if isinstance(data, dict):
        for key in DATA_PATH_KEYS:
            if key in data:
                data[key] = rel(data[key])
        for key in ("test_prefixes", "mono"):
            if isinstance(data.get(key), dict):
                data[key] = {k: rel(v) for k, v in data[key].items()}
    teacher = out.get("teacher")
    if isinstance(teacher, dict) and isinstance(teacher.get("checkpoints"), list):
        teacher["checkpoints"] = [rel(c) for c in teacher["checkpoints"]]
    if isinstance(teacher, dict):
        for key in ("ct2", "spm", "target_spm"):
            if isinstance(teacher.get(key), str):
                teacher[key] = rel(teacher[key])
    return out
