"""Pack finished training-stage folders for the trip back from a GPU machine, and unpack them.

A device machine returns at most a few files of 16 MiB each, so a `seqkd train` folder
travels without its epoch, best and last checkpoints: only the checkpoint it stands for
(``checkpoint_avg.pt``, else ``checkpoint_best.pt``), with its weights in float16, plus
every log, stamp and config. ``unpack`` restores the folder at the same absolute path
with the weights back in float32 (their values stay float16-rounded; the model card of
an export from it says where it was trained through the stamp's versions).

    python scripts/pack_stage.py pack STAGE_DIR OUT.tar
    python scripts/pack_stage.py unpack IN.tar
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import torch

KEEP = ("checkpoint_avg.pt", "checkpoint_best.pt")


def _recast(path_or_bytes, dtype) -> bytes:
    state = torch.load(path_or_bytes, map_location="cpu", weights_only=False)
    model, cast, seen = state["model"], {}, {}
    for k, v in model.items():  # tied weights (shared embeddings) stay tied, stored once
        key = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape))
        if key not in seen:
            seen[key] = v.to(dtype) if v.is_floating_point() else v
        cast[k] = seen[key]
    state["model"] = cast
    state.pop("last_optimizer_state", None)
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def pack(stage_dir: Path, out: Path) -> None:
    stage_dir = stage_dir.resolve()
    ckpts = stage_dir / "checkpoints"
    chosen = next((ckpts / k for k in KEEP if (ckpts / k).is_file()), None)
    if chosen is None:
        sys.exit(f"{stage_dir}: no finished checkpoint to pack")
    with tarfile.open(out, "w") as tar:
        for f in sorted(stage_dir.rglob("*")):
            if f.is_file() and f.parent != ckpts:
                tar.add(f, arcname=str(f))
        data = _recast(chosen, torch.float16)
        info = tarfile.TarInfo(str(chosen))
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def unpack(src: Path) -> None:
    with tarfile.open(src) as tar:
        for m in tar.getmembers():
            target = Path("/" + m.name.lstrip("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            data = tar.extractfile(m).read()
            if target.suffix == ".pt":
                data = _recast(io.BytesIO(data), torch.float32)
            target.write_bytes(data)
            print(target)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "pack":
        pack(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "unpack":
        unpack(Path(sys.argv[2]))
    else:
        sys.exit(__doc__)
