"""Deliberate, scoped lifting of torch's weights-only unpickling.

torch >= 2.6 loads checkpoints with ``weights_only=True`` by default, which
fairseq checkpoints (pickled configs) do not pass. seqkd lifts it only for
files the pipeline wrote or the user named on the command line: inside
:func:`trusted_checkpoints`, ``torch.load`` of a path under one of the trusted
files or folders gets ``weights_only=False``; every other load keeps torch's
default. One more case is trusted inside the block: in multi-process training, fairseq's
rank 0 loads the (trusted) checkpoint and sends it to the other ranks of its own job, which
unpickle it from memory in ``fairseq.distributed.utils._broadcast_object_slow``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator, List

logger = logging.getLogger(__name__)

_trusted: List[Path] = []


def _path_of(f) -> str | None:
    if isinstance(f, (str, os.PathLike)):
        return os.fspath(f)
    name = getattr(f, "name", None)
    return name if isinstance(name, str) else None


def _from_fairseq_broadcast(frame) -> bool:
    """The load is fairseq receiving, on rank > 0, the object its rank 0 broadcast."""
    return (frame is not None and frame.f_code.co_name == "_broadcast_object_slow"
            and frame.f_globals.get("__name__") == "fairseq.distributed.utils")


def is_trusted(f) -> bool:
    p = _path_of(f)
    if p is None:
        return False
    real = Path(p).resolve()
    return any(real == t or t in real.parents for t in _trusted)


@contextlib.contextmanager
def trusted_checkpoints(paths: Iterable[str | os.PathLike]) -> Iterator[None]:
    """Within the block, allow full unpickling of checkpoints under ``paths``."""
    import torch

    added = [Path(p).resolve() for p in paths]
    for p in added:
        logger.info("trusting checkpoints under %s (full unpickling allowed)", p)
    original = torch.load

    def load(f, *args, **kwargs):
        if kwargs.get("weights_only") is None and (
                is_trusted(f) or (_trusted and _from_fairseq_broadcast(sys._getframe(1)))):
            kwargs["weights_only"] = False
        return original(f, *args, **kwargs)

    _trusted.extend(added)
    torch.load = load
    try:
        yield
    finally:
        torch.load = original
        for p in added:
            _trusted.remove(p)
