"""``seqkd run --device``: one config run on another kind of machine without editing it. On
``cuda`` every training (the teacher's and each student's) runs on the GPU in mixed
precision, every distillation on the GPU (CTranslate2 in float16 when it sees the GPU, else
fairseq, which the CUDA build of torch is enough for), and the bench, a CPU protocol, is left
out; on ``cpu`` every stage that has a device runs on the CPU."""

from __future__ import annotations

import copy
from typing import Dict, Optional, Tuple



def ctranslate2_on_cuda() -> Tuple[bool, bool]:
    """(CTranslate2 imports here, it sees a CUDA device)."""
    try:
        import ctranslate2
    except Exception:  # noqa: BLE001 (not installed, or its build does not load here)
        return False, False
    try:
        return True, ctranslate2.get_cuda_device_count() > 0
    except Exception:  # noqa: BLE001 (its CUDA part does not load)
        return True, False


def on_device(cfg: Dict, device: str, ct2_cuda: Optional[bool] = None) -> Dict:
    """A copy of the config ``cfg`` whose stages run on ``device`` (``ct2_cuda``: whether
    CTranslate2 sees a GPU; asked when None)."""
    out = copy.deepcopy(cfg)
    cuda = device == "cuda"
    trainings = [e for e in [(out.get("teacher") or {}).get("train")] + list(
        out.get("students") or []) if isinstance(e, dict)]
    for entry in trainings:
        entry["device"] = device
        if cuda:
            entry["fp16"] = True
    if cuda and ct2_cuda is None:
        ct2_cuda = ctranslate2_on_cuda()[1]
    for entry in out.get("distill") or []:
        if not isinstance(entry, dict):
            continue
        entry["device"] = device
        if cuda and ct2_cuda:
            entry.update(decoder="ctranslate2", compute_type="float16")
        elif cuda and entry.get("decoder", "ctranslate2") == "ctranslate2":
            entry["decoder"] = "fairseq"
            entry.pop("compute_type", None)
    if cuda:
        out.pop("bench", None)
    return out
