"""Stage 1, prepare: where its text comes from. The parallel splits (a registered
dataset, fetched and checked, or the user's own files) and the monolingual source corpora,
each named file found or one error that says what to give instead."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from seqkd import datasets, manifests
from seqkd.errors import SeqkdError
from seqkd.stages.prepare.config import PrepareConfig, local_file, not_a_file


def gather_sources(cfg: PrepareConfig) -> Dict[str, List[Dict[str, Path]]]:
    """split name -> its parallel parts ({lang: path} each) for train, valid and tests."""
    langs = (cfg.src, cfg.tgt)
    if cfg.train_prefix:
        if not cfg.valid_prefix:
            raise SeqkdError("local data needs a validation set too (--valid-prefix): "
                             "training uses it for early stopping and checkpoint selection")

        def local(prefix: str) -> Dict[str, Path]:
            out = {}
            for lang in langs:
                p = local_file(prefix, lang)
                if not p.is_file():
                    raise SeqkdError(
                        f"{lang} file for prefix {prefix}: {not_a_file(p)}; a prefix "
                        f"stands for PREFIX.SRC and PREFIX.TGT with the codes of --src and --tgt "
                        f"(now {cfg.src} and {cfg.tgt}; they default to en and de)")
                out[lang] = p
            return out
        splits = {"train": [local(cfg.train_prefix)], "valid": [local(cfg.valid_prefix)]}
        for name, prefix in cfg.test_prefixes.items():  # names checked by PrepareConfig
            splits[name] = [local(prefix)]
        return splits
    if cfg.test_prefixes:
        raise SeqkdError("test_prefixes (--test NAME=PREFIX) are for your own files: give "
                         "--train-prefix and --valid-prefix too, or use --test-sets with a "
                         "registered dataset")
    if not cfg.dataset:
        raise SeqkdError("give a registered dataset (--dataset) or local files (--train-prefix)")
    manifest = manifests.load_manifest(cfg.dataset)
    # test_sets were checked by PrepareConfig, the manifest's split names by load_manifest
    names = ["train", "valid"] + list(
        cfg.test_sets if cfg.test_sets is not None
        else [s for s in manifest.splits if s not in ("train", "valid")])
    return {name: datasets.fetch_split(manifest, name, cfg.src, cfg.tgt) for name in names}


def gather_mono(cfg: PrepareConfig) -> Dict[str, List[Path]]:
    """Each monolingual corpus's source-side files, checked (registered ones fetched)."""
    out: Dict[str, List[Path]] = {}
    for name, prefix in cfg.mono.items():
        p = local_file(prefix, cfg.src)
        if not p.is_file():
            raise SeqkdError(f"monolingual corpus {name}: {not_a_file(p)}; --mono "
                             f"NAME=PREFIX stands for the file PREFIX.{cfg.src} (the source "
                             "language, --src)")
        out[name] = [p]
    for name, dataset in cfg.mono_datasets.items():
        out[name] = datasets.fetch_side(manifests.load_manifest(dataset), "train", cfg.src)
    return out
