"""seqkd.load: the deployed student as a Python object, the same one `seqkd translate` uses."""

import subprocess
import sys

import pytest

import seqkd
from conftest import seqkd as run_seqkd


@pytest.mark.slow
def test_load_translates_like_the_command(prepared, teacher, tmp_path):
    out = tmp_path / "export"
    assert run_seqkd("export", teacher, "--data", prepared, "--out", out, "-q") == 0
    lines = ["w1 w2 w3", "w4 w5", "w7 w7 w8 w9"]
    model = seqkd.load(out, beam=1)  # the export folder or its model/ both work
    got = model.translate(lines)
    assert len(got) == 3 and all(isinstance(x, str) for x in got)
    cli = subprocess.run([sys.executable, "-m", "seqkd", "translate", str(out / "model"),
                          "--beam", "1"], input="\n".join(lines) + "\n", text=True,
                         capture_output=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.splitlines() == got
    # one string is one sentence: its translation, not one per character
    assert model.translate(lines[0]) == got[0]
    with pytest.raises(seqkd.SeqkdError, match="a string or a list of strings"):
        model.translate([lines[0], None])
    with pytest.raises(seqkd.SeqkdError, match="is the folder of a prepare stage"):
        seqkd.load(prepared)
    with pytest.raises(seqkd.SeqkdError, match="beam must be at most 64"):
        seqkd.load(out, beam=65)
    with pytest.raises(seqkd.SeqkdError, match="not an `seqkd export` folder"):
        seqkd.load(tmp_path)
