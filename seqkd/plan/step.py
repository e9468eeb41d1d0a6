"""One stage of a planned config: its name, folder, typed config, action and dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, List


@dataclass
class Step:
    name: str
    out_dir: Path
    config: Any
    action: Callable[[], Any]
    #: the steps whose folders it reads (derived: see :func:`seqkd.plan.derive_edges`)
    deps: List[str] = field(default_factory=list)
