"""Pack finished training-stage folders for the trip back from a GPU machine, and unpack them.

A device machine returns at most 8 files of at most 16 MiB each, so a `seqkd train` folder
travels as two files: STAGE.tgz (every log, stamp and config, no checkpoints) and STAGE.pt
(the checkpoint the folder stands for, ``checkpoint_avg.pt`` else ``checkpoint_best.pt``,
weights in float16, tied weights once, no optimizer state). ``unpack`` restores the folder
at the same absolute path with the weights back in float32 (their values stay
float16-rounded).

    python scripts/pack_stage.py pack STAGE_DIR OUT_PREFIX     # OUT_PREFIX.tgz, OUT_PREFIX.pt
    python scripts/pack_stage.py unpack IN_PREFIX
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from seqkd.checkpoints import tie_equal_tensors  # noqa: E402

KEEP = ("checkpoint_avg.pt", "checkpoint_best.pt")


def _recast(src, dest: Path, dtype, **extra) -> None:
    state = torch.load(src, map_location="cpu", weights_only=False)
    state["model"] = tie_equal_tensors({k: v.to(dtype) if v.is_floating_point() else v
                                        for k, v in state["model"].items()})
    state.pop("last_optimizer_state", None)
    state.update(extra)
    torch.save(state, dest)


def pack(stage_dir: Path, prefix: str) -> None:
    stage_dir = stage_dir.resolve()
    ckpts = stage_dir / "checkpoints"
    chosen = next((ckpts / k for k in KEEP if (ckpts / k).is_file()), None)
    if chosen is None:
        sys.exit(f"{stage_dir}: no finished checkpoint to pack")
    with tarfile.open(f"{prefix}.tgz", "w:gz") as tar:
        for f in sorted(stage_dir.rglob("*")):
            if f.is_file() and f.parent != ckpts:
                tar.add(f, arcname=str(f))
    _recast(chosen, Path(f"{prefix}.pt"), torch.float16, packed_from=str(chosen))


def unpack(prefix: str) -> None:
    with tarfile.open(f"{prefix}.tgz") as tar:
        for m in tar.getmembers():
            target = Path("/" + m.name.lstrip("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(m).read())
    state = torch.load(f"{prefix}.pt", map_location="cpu", weights_only=False)
    dest = Path(state["packed_from"])
    dest.parent.mkdir(parents=True, exist_ok=True)
    _recast(f"{prefix}.pt", dest, torch.float32)
    print(dest)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "pack":
        pack(Path(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "unpack":
        unpack(sys.argv[2])
    else:
        sys.exit(__doc__)
