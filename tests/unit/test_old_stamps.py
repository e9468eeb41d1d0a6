"""A finished stage of a run made before the stages moved into their rooms is still up to date:
the settings each stage of the shipped configs recorded then (tests/fixtures, made by the code
of commit dca1462 planning from /seqkd-stamp-base, where no input file exists, so no digest
depends on this machine) are the same settings for the decision ``seqkd run`` makes now. The
configs are those of that commit (tests/fixtures/configs-before-rooms/): a later edit of a
shipped config changes what it plans, not what the code decides."""

import json
from pathlib import Path

import pytest

from seqkd.config_file import load_config
from seqkd.plan import plan
from seqkd.stage import Stage

ROOT = Path(__file__).resolve().parents[2]
RECORDED = json.loads((ROOT / "tests" / "fixtures" / "stamps-before-rooms.json").read_text())
CONFIGS = ROOT / "tests" / "fixtures" / "configs-before-rooms"
BASE = Path("/seqkd-stamp-base")


@pytest.mark.parametrize("config", sorted(RECORDED["stamps"]))
def test_every_stage_recorded_before_the_move_is_up_to_date(config, tmp_path):
    recorded = RECORDED["stamps"][config]
    steps = plan(load_config(CONFIGS / config), BASE)
    assert sorted(s.name for s in steps) == sorted(recorded)
    for step in steps:
        # the finished run's stamp, written as the stage writes it, in a folder of its own
        stage = Stage(step.name, tmp_path / step.name, step.config)
        stage.out_dir.mkdir()
        stage.done_path.write_text(json.dumps({"settings": recorded[step.name]}))
        assert stage.is_current(), f"{config}: {step.name} would run again"


def test_a_changed_setting_is_not_up_to_date(tmp_path):
    """The check above can fail: one recorded setting changed makes that stage stale."""
    recorded = RECORDED["stamps"]["tiny.yaml"]
    step = next(s for s in plan(load_config(CONFIGS / "tiny.yaml"), BASE)
                if s.name == "distill-seqkd")
    stage = Stage(step.name, tmp_path, step.config)
    stage.done_path.write_text(json.dumps({"settings": {**recorded["distill-seqkd"],
                                                        "beam": 7}}))
    assert not stage.is_current()
