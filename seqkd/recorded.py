"""A stage's settings as they are recorded in its ``config.yaml`` and ``DONE.json``: plain
data (paths as strings), their hash, the defaults a later seqkd compares against, and the
digests of the local files a config reads."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Dict

from seqkd.errors import SeqkdError
from seqkd.lineage import file_digest


def input_digests(config: Any) -> Dict[str, str]:
    """Content digests of the local files a config reads (``config.input_files()``), so a
    file changed under the same name makes the stage stale."""
    files = getattr(config, "input_files", None)
    if files is None:
        return {}
    return {str(f): file_digest(f) for f in files() if Path(f).is_file()}


#: the metadata of a field added to a nested config (a bench system, ...) after stamps were
#: recorded: it is recorded only when not at its default, so those stamps stay current
SINCE_RECORDED = {"recorded_when_set": True}


def _plain_value(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        v = {f.name: getattr(v, f.name) for f in dataclasses.fields(v)
             if not (f.metadata.get("recorded_when_set") and getattr(v, f.name) == f.default)}
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_plain_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain_value(x) for k, x in v.items()}
    return v


def to_dict(config: Any) -> Dict[str, Any]:
    """A dataclass config as plain data (paths as strings)."""
    return {f.name: _plain_value(getattr(config, f.name)) for f in dataclasses.fields(config)}


def defaults_of(config: Any) -> Dict[str, Any]:
    """A config dataclass's settings that have defaults, at those defaults, as recorded."""
    out = {}
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            value = f.default_factory()  # type: ignore[misc]
        else:
            continue
        out[f.name] = json.loads(json.dumps(_plain_value(value), default=str))
    return out


def config_hash(settings: Dict[str, Any]) -> str:
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def read_done(path: Path, stage: str) -> Dict[str, Any]:
    """A finished run's record (DONE.json): a mapping whose settings are a mapping. seqkd
    writes it whole (atomically), so one that cannot be read was damaged afterwards: an error
    that says what to do, not a guess at whether the stage finished."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        why = "" if isinstance(record, dict) and isinstance(record.get("settings"), dict) \
            else "not a stage's record"
    except (OSError, ValueError) as e:
        why = f"{type(e).__name__}: {e}"
    if why:
        raise SeqkdError(f"{path} is damaged ({why}), so seqkd cannot tell what this {stage} "
                         "stage ran with: delete that file and run the stage again (it "
                         "resumes from what its folder holds)")
    return record
