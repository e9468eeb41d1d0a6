"""Export as the command line sees it (``seqkd export``); in a config, each student's export
(the ``export`` section, under the student's own ``export`` settings) is planned with the
student, and the teacher's by the bench when it measures the teacher as CTranslate2."""

from __future__ import annotations

import json

from seqkd.options import add_arguments, add_common, config_from
from seqkd.stages.base import StageKind, lazy, runner


_settings = lazy("seqkd.stages.export.runner", "ExportConfig")
_run = runner("seqkd.stages.export.runner", "export")


def build_export(sub) -> None:
    p = sub.add_parser("export", help="convert a checkpoint to CTranslate2 (int8 by default)",
                       description="Convert a fairseq checkpoint (or a `seqkd train` folder) with "
                                   "CTranslate2's converter into a self-contained folder with "
                                   "the SentencePiece model and a model card.")
    p.add_argument("checkpoint", help="checkpoint file, or a `seqkd train` output folder")
    p.add_argument("--data", required=True,
                   help="the `seqkd prepare` folder of the model's data (for a student "
                        "trained on a distillation: the prepare folder it was distilled from)")
    p.add_argument("--out", required=True, help="output folder")
    add_arguments(p, _settings(), skip=("checkpoint",))
    add_common(p)
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from seqkd.stages.export.runner import export

    cfg = config_from(_settings(), args, out_dir=args.out)
    print(json.dumps(export(cfg, force=args.force), indent=2))
    return 0


KIND = StageKind("export", _settings, _run, sections=("export",), commands=(build_export,),
                 produces="model/ (CTranslate2 model.bin, spm.model, card.json, README.md, "
                 "vmap.txt with vmap)")
