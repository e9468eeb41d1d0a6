"""The prepare stage as ``seqkd run`` and the command line see it: the ``data`` section
planned into one stage (``data/``), and ``seqkd prepare``."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from seqkd.errors import SeqkdError
from seqkd.options import add_arguments, add_common, config_from, parse_key_value
from seqkd.stages.base import StageKind, lazy, runner


_settings = lazy("seqkd.stages.prepare.config", "PrepareConfig")
_run = runner("seqkd.stages.prepare.runner", "prepare")


def planned_test_sets(data: Dict) -> Optional[List[str]]:
    """The test sets a data section makes (read from its keys, so that they are known even
    when other data settings have problems), or None when that is only known once prepare
    runs (a value of the wrong type, or a manifest that cannot be read: their own
    problems)."""
    from seqkd import manifests

    if data.get("train_prefix"):
        tests = data.get("test_prefixes", {})
        return list(tests) if isinstance(tests, dict) else None
    tests = data.get("test_sets")
    if tests is not None:
        return list(tests) if isinstance(tests, list) else None
    name = data.get("dataset", _settings().__dataclass_fields__["dataset"].default)
    try:
        manifest = manifests.load_manifest(name)
    except (SeqkdError, TypeError):
        return None
    return [s for s in manifest.splits if s not in ("train", "valid")]


def plan(p) -> None:
    """The prepare stage of the data section; ``p.prep`` its config (None with problems),
    ``p.test_sets`` the test sets it makes."""
    data = p.section("data")
    p.prep = p.step("prepare", "prepare", p.data_dir, data, "data")
    p.test_sets = planned_test_sets(data)


def build_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="fetch, clean, SentencePiece and binarize a corpus",
                       description="Fetch a registered dataset (or read local files), clean it, "
                                   "train a joint SentencePiece model and binarize for fairseq.")
    p.add_argument("--out", required=True, help="output folder (e.g. WORK/data)")
    p.add_argument("--test", action="append", metavar="NAME=PREFIX",
                   help="your own test set (repeatable); NAME: letters, digits, _ - . only, "
                        "not train or valid")
    p.add_argument("--mono", action="append", metavar="NAME=PREFIX", dest="mono_args",
                   help="your own monolingual source text for distillation (repeatable): the "
                        "file PREFIX.SRC, one sentence per line; NAME names it in distill's "
                        "--sources")
    p.add_argument("--mono-dataset", action="append", metavar="NAME=DATASET",
                   dest="mono_dataset_args",
                   help="a registered monolingual corpus (repeatable), e.g. "
                        "captions=multi30k-captions")
    add_arguments(p, _settings())
    add_common(p)
    p.set_defaults(func=cmd_prepare)


def cmd_prepare(args) -> int:
    from seqkd.stages.prepare.runner import prepare

    cfg = config_from(_settings(), args, out_dir=args.out,
                      test_prefixes=parse_key_value(args.test, "--test"),
                      mono=parse_key_value(args.mono_args, "--mono"),
                      mono_datasets=parse_key_value(args.mono_dataset_args, "--mono-dataset"))
    report: Any = prepare(cfg, force=args.force)
    print(json.dumps(report, indent=2))
    return 0


KIND = StageKind("prepare", _settings, _run, sections=("data",), plan=plan,
                 commands=(build_prepare,),
                 produces="text/{split}.{lang} (cleaned), spm.model, dict.txt, pieces/, bin/ "
                 "(fairseq data), mono/ (monolingual source), report.json")
