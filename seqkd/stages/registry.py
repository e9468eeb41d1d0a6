"""The one list of stage kinds. ``seqkd run`` plans a config by asking each kind, in this
order, to plan its sections; the config's known sections, the stage sub-commands of the
command line and the layering tests all read it. A new stage is a room (a folder beside these,
with its settings, runner and ``kind.py``) and one line here."""

from __future__ import annotations

from typing import Callable, Dict, List, Tuple

from seqkd.errors import SeqkdError
from seqkd.stages import bench, choose, distill, export, prepare, topk_cache, train
from seqkd.stages.base import StageKind

#: in planning order: a kind may read what the kinds before it planned
KINDS: List[StageKind] = [
    prepare.KIND,
    train.TEACHER,
    distill.KIND,
    topk_cache.KIND,
    train.STUDENT,
    export.KIND,
    bench.KIND,
    choose.KIND,
]


def kind(name: str) -> StageKind:
    for k in KINDS:
        if k.name == name:
            return k
    raise SeqkdError(f"no stage kind {name!r}; known: {', '.join(k.name for k in KINDS)}")


def sections() -> Tuple[str, ...]:
    """The sections a config may have: work_dir, then every kind's."""
    out: Dict[str, None] = {"work_dir": None}
    for k in KINDS:
        out.update(dict.fromkeys(k.sections))
    return tuple(out)


def commands() -> List[Callable]:
    """The stage sub-command builders, in planning order."""
    return [build for k in KINDS for build in k.commands]
