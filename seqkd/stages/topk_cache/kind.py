"""The teacher's top-k cache as the command line sees it (``seqkd topk-cache``); in a config,
a student's ``word_kd: {topk: K}`` plans it (one per data, k and temperature)."""

from __future__ import annotations

import json

from seqkd.options import add_arguments, add_common, add_teachers, config_from
from seqkd.stages.base import StageKind, lazy, runner


_settings = lazy("seqkd.stages.topk_cache.runner", "TopkConfig")
_run = runner("seqkd.stages.topk_cache.runner", "topk_cache")


def build_topk_cache(sub) -> None:
    p = sub.add_parser("topk-cache", help="store the teacher's top-k token distributions "
                                          "for word-level KD without the teacher in training",
                       description="Run the teacher(s) once, forced on every target sentence "
                                   "of a data folder (train and valid), and store the k most "
                                   "probable tokens at each position with their probabilities "
                                   "(renormalized over the k; an ensemble's mean). `seqkd "
                                   "train --kd-cache OUT` then reads them instead of running "
                                   "the teacher on every batch. Resumes after a kill.")
    p.add_argument("--data", required=True,
                   help="the data folder the student trains on (`seqkd distill` or `seqkd "
                        "prepare` output)")
    p.add_argument("--out", required=True, help="output folder (e.g. WORK/topk-seqkd)")
    add_teachers(p)
    add_arguments(p, _settings())
    add_common(p)
    p.set_defaults(func=cmd_topk_cache)


def cmd_topk_cache(args) -> int:
    from seqkd.stages.topk_cache.runner import topk_cache

    cfg = config_from(_settings(), args, out_dir=args.out)
    print(json.dumps(topk_cache(cfg, force=args.force), indent=2))
    return 0


KIND = StageKind("topk-cache", _settings, _run, commands=(build_topk_cache,),
                 produces="{train,valid}.{offsets,ids,probs}.npy, meta.json (with each "
                 "array's sha256)")
