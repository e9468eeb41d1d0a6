"""The installed package works alone: the dataset manifests travel in the wheel."""

import os
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def test_wheel_carries_the_manifests_and_an_installed_copy_finds_multi30k(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist), str(REPO)], check=True, cwd=tmp_path)
    wheel = next(dist.glob("seqkd-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "seqkd/registry/multi30k.yaml" in names and "seqkd/registry/wmt14-en-de.yaml" in names
    assert any(n.startswith("seqkd/_plugins/seqkd_fairseq_plugin/") for n in names)

    # a fresh venv that sees this environment's torch/fairseq, but not the source tree
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True)
    (site / "deps.pth").write_text(f"{target}\n{sysconfig.get_paths()['purelib']}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SEQKD_REGISTRY")}
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import seqkd, seqkd.manifests as d; m = d.load_manifest('multi30k'); "
         "print(seqkd.__file__); print(m.name, sorted(m.splits))"],
        cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    where, manifest = out.stdout.splitlines()
    assert where.startswith(str(target)) and not where.startswith(str(REPO))
    assert manifest.startswith("multi30k ") and "'train'" in manifest
