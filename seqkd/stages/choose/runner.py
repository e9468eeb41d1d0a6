"""The choose stage: ``seqkd.stages.choose.select`` over a bench report, its choice written
as ``choice.json`` and ``choice.md``; stamped with the report's digest, so a bench run again
makes the choice again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from seqkd.config import setting


@dataclass
class ChooseConfig:
    report: str
    out_dir: str
    choosing_sets: List[str] = setting(help="the choosing sets: development data (e.g. valid "
                                       "test_2016_flickr); no score of another set is read",
                                       default_factory=list, metavar="TEST_SET", flag="--on")
    candidates: List[str] = setting(help="the systems to choose among, as shell patterns "
                                    "(e.g. '*-b1-nr4'); the reference system never is one",
                                    default_factory=lambda: ["*"], metavar="PATTERN")
    against: Optional[str] = setting(None, "the reference system (default: the report's "
                                     "first)")
    min_speedup: float = setting(0.0, "at least this many times the reference's source "
                                 "words/s on each choosing set", min=0.0, metavar="X")
    metric: str = setting("bleu", "the score to choose by", choices=("bleu", "chrf"))
    threads: int = setting(1, "the report's rows at this thread count", min=1)

    def input_files(self) -> List[Path]:
        return [Path(self.report)]

    def consumes(self) -> List[Path]:
        """What its settings name (seqkd run's edges): the bench's report."""
        return [Path(self.report)]


def make_choice(cfg: ChooseConfig) -> Dict:
    """The choice these settings ask for, from the report they name."""
    from seqkd.errors import SeqkdError
    from seqkd.kd_gain import read_bench_report
    from seqkd.stages.choose.select import choose

    if not cfg.choosing_sets:
        raise SeqkdError("choose: name the choosing sets with --on (e.g. --on valid "
                         "test_2016_flickr; in a config, choosing_sets: [...])")
    return choose(read_bench_report(Path(cfg.report)), cfg.choosing_sets, cfg.against,
                  cfg.candidates, cfg.min_speedup, cfg.metric, cfg.threads)


def choose_stage(cfg: ChooseConfig, force: bool = False) -> Dict:
    """Choose and write the choice; return it."""
    from seqkd.stage import Stage
    from seqkd.stages.choose.select import markdown
    from seqkd.textio import write_text

    out = Path(cfg.out_dir)
    # chosen before the folder is made: a choice that cannot be made leaves nothing behind
    choice = make_choice(cfg)
    stage = Stage("choose", out, cfg, force=force)
    if not stage.begin():  # chosen already from this very report
        return json.loads((out / "choice.json").read_text(encoding="utf-8"))
    try:
        write_text(out / "choice.json", json.dumps(choice, indent=2) + "\n")
        write_text(out / "choice.md", markdown(choice))
        stage.finish({"chosen": choice["chosen"], "choice": str(out / "choice.md")})
        return choice
    finally:
        stage.close()
