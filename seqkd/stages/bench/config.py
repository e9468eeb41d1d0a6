"""The bench's settings: one definition each (``setting()``: its option, default, help and
bounds), and what the stage reads (its inputs' digests, ``seqkd run``'s edges)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import seqkd.stages.bench.blind as blindsets
from seqkd.stages.bench.systems import SystemSpec
from seqkd.config import MAX_BEAM, setting


@dataclass
class BenchConfig:
    data: str
    out_dir: str
    systems: List[SystemSpec] = field(default_factory=list)
    test_sets: List[str] = setting(help="test sets (default: the data folder's first)",
                                   default_factory=list)
    beam: int = setting(5, "beam size of systems that do not name one", min=1,
                        max=MAX_BEAM)
    batch_tokens: int = setting(1024, "batch size in source tokens", min=1)
    threads: List[int] = setting(help="thread counts to measure (0: the physical cores this "
                                 "process may use)", default_factory=lambda: [1], min=0,
                                 max=1024)
    repeats: int = setting(3, "timed runs per system and test set (median, min, max)", min=1)
    warmup_sentences: int = setting(100, "sentences translated before timing", min=0)
    latency_sentences: int = setting(100, "sentences timed one by one for latency", min=0)
    max_len: int = setting(200, "maximum output length in pieces", min=1)
    cpu: Optional[int] = setting(None, "the core single-thread runs are pinned to (default: "
                                 "the idlest core this process may use, chosen at the start "
                                 "and recorded in the report)", min=0)
    efficiency: bool = setting(False, "also run the WMT efficiency-task protocol on every "
                               "CTranslate2 system: `seqkd translate` as a whole process on "
                               "the first test set repeated to --efficiency-sentences lines, "
                               "on one pinned core and on all cores, and one sentence at a "
                               "time for latency")
    efficiency_sentences: int = setting(100_000, "input size of the efficiency protocol, in "
                                        "sentences", min=1)
    efficiency_latency_sentences: int = setting(500, "sentences sent one at a time for the "
                                                "efficiency protocol's latency", min=0)
    compare: List[str] = setting(help="pairs of systems to compare with a paired bootstrap "
                                 "interval besides every system against the first and every "
                                 "KD student against its baseline: SYSTEM,AGAINST (SYSTEM "
                                 "minus AGAINST), names as the bench names its systems",
                                 default_factory=list, metavar="SYSTEM,AGAINST")
    blind: List[str] = setting(help="source files whose references are kept elsewhere: "
                               "every system translates each once, untimed, after its timed "
                               "runs, into outputs/SYSTEM.NAME.TGT.gz for scoring elsewhere; "
                               "no reference is looked for", default_factory=list,
                               metavar="NAME=FILE")

    def input_files(self) -> List[Path]:
        """The test data's stamp and every system's model file."""
        files = [Path(self.data) / "DONE.json"]
        for spec in self.systems:
            files += spec.kind_of.model_files(spec)
        return files + blindsets.files(self.blind)

    def lineage_inputs(self) -> Dict[Path, Tuple[str, ...]]:
        """The test data's folder, but its monolingual corpora (seqkd.lineage)."""
        return {Path(self.data): ("training", "tests")}

    def consumes(self) -> List[Path]:
        """What its settings name, whether it exists yet or not (seqkd run's edges)."""
        return [Path(self.data), *(Path(p) for s in self.systems for p in s.paths),
                *blindsets.files(self.blind)]
