"""A bench that was stopped goes on where it stood: each system's measurements, once taken,
are kept in ``parts/SYSTEM.json`` beside the report, and a later run of the same stage takes
them instead of measuring that system again.

Speeds are comparable only on one machine as it was, so a part is taken only when it was
measured with the stage's settings (its config hash), on the same boot of this machine
(Linux's boot id), the same CPU model and the same library versions; otherwise the system is
measured again. The report says which systems an earlier attempt measured, and when, and how
busy the machine was beside each system (the parts keep that too). The parts are removed
once the report is written."""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, Optional

from seqkd.stages.bench.measure import Measured
from seqkd.textio import write_text

logger = logging.getLogger(__name__)

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id(path: Path = BOOT_ID) -> str:
    """This boot of this machine ('' where Linux does not say)."""
    try:
        return path.read_text().strip()
    except OSError:
        return ""


class Parts:
    """The parts folder of one bench attempt: ``machine`` is what a part must have been
    measured on to be taken (config hash, boot id, CPU model, versions)."""

    def __init__(self, out: Path, machine: Dict[str, Any]):
        self.dir, self.machine = out / "parts", machine
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        #: system -> when an earlier attempt measured it (those taken from parts)
        self.taken: Dict[str, str] = {}

    def take(self, system: str) -> Optional[Dict[str, Any]]:
        """``{"measured": {threads: Measured}, "beside": ..., "pinned": core}`` of an earlier
        attempt, or None when there is none to take (never measured, or measured
        otherwise)."""
        path = self.dir / f"{system}.json"
        try:
            part = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(part, dict) or part.get("machine") != self.machine:
            logger.info("%s: its measurements in %s were taken with other settings or on "
                        "another machine (or boot); measuring it again", system, path)
            return None
        try:
            when = str(part["measured_at"])
            measured = {int(k): Measured.from_dict(v) for k, v in part["measured"].items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            logger.info("%s: %s is not a whole part (edited or cut short); measuring it "
                        "again", system, path)
            return None
        self.taken[system] = when
        logger.info("%s: measured by an earlier attempt of this bench at %s (same settings, "
                    "boot, CPU and versions); taken from %s", system, when, path)
        return {"measured": measured, "beside": part.get("beside"),
                "pinned": part.get("pinned")}

    def keep(self, system: str, measured: Dict[int, Measured],
             beside: Optional[Dict[str, float]], pinned: Optional[int]) -> None:
        """``pinned``: the core its single-thread runs were pinned to (its rows say so)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        write_text(self.dir / f"{system}.json", json.dumps({
            "machine": self.machine, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "beside": beside, "pinned": pinned,
            "measured": {str(k): asdict(v) for k, v in measured.items()},
        }) + "\n")

    def clear(self) -> None:
        """Once the report is written: a later run of the finished stage (--force) measures
        every system again."""
        shutil.rmtree(self.dir, ignore_errors=True)
