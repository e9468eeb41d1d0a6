"""Stage 5, export: a fairseq checkpoint to a self-contained CTranslate2 folder.

    OUT/model.bin, config.json, *vocabulary*   CTranslate2's converter output
    OUT/spm.model                              the SentencePiece model
    OUT/card.json, OUT/README.md               source, quantization, training command, scores

The optional fidelity check decodes a test set with fairseq and with a
float32 export at the same beam and reports how many 1-best outputs agree,
plus the BLEU of the float32 and of the requested quantization.
"""

from __future__ import annotations

import json
import os
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Dict, List, Optional, Tuple

from seqkd.errors import SeqkdError
from seqkd.scores import require_scorer, scorer
from seqkd.checkpoints import (check_checkpoint, checkpoint_of, checkpoint_shape,
                               resolved_checkpoints)
from seqkd.dictionaries import check_checkpoint_dictionary
from seqkd.machine import versions
from seqkd.stage import Stage
from seqkd.config import MAX_BEAM, check_config, setting
from seqkd.corpus import Prepared, decode_text, load_spm
from seqkd.textio import read_lines, require_file, sha256_file, write_text

logger = logging.getLogger("seqkd.export")

QUANTIZATIONS = ("int8", "int8_float32", "int16", "float16", "float32")


@dataclass
class ExportConfig:
    VOLATILE: ClassVar[Tuple[str, ...]] = ("threads", "out_dir")

    checkpoint: str
    data: str
    out_dir: str
    quantization: str = setting("int8", "CTranslate2 weight type", choices=QUANTIZATIONS)
    fidelity_test: Optional[str] = setting(
        None, "compare fairseq and CTranslate2 float32 1-best outputs on this test set, and "
        "report the BLEU of the export", metavar="TEST_SET")
    beam: int = setting(5, "fidelity check beam size", min=1, max=MAX_BEAM)
    batch_tokens: int = setting(1024, "fidelity check batch size in source tokens", min=1)
    min_agreement: float = setting(0.98, "fidelity: required share of identical 1-best "
                                   "outputs", min=0.0, max=1.0)
    threads: int = setting(0, "CPU threads for the fidelity check (0: the physical cores this "
                           "process may use)", min=0)
    vmap: bool = setting(False, "also write a vocabulary map (vmap.txt, from eflomal word "
                         "alignments of --vmap-data's training pieces) for translate and bench "
                         "to use with vmap=1")
    vmap_top_k: int = setting(20, "vocabulary map: aligned target pieces kept per source "
                              "piece or bigram", min=1)
    vmap_data: Optional[str] = setting(None, "the data folder whose training pairs are aligned "
                                       "for the vocabulary map (default: --data; give the "
                                       "distill folder to align the distilled data)")

    def input_files(self) -> List[Path]:
        extra = [Path(self.vmap_data) / "DONE.json"] if self.vmap and self.vmap_data else []
        return [Path(self.data) / "DONE.json", *resolved_checkpoints([self.checkpoint]), *extra]

    def lineage_inputs(self) -> Dict[Path, Tuple[str, ...]]:
        """The data folders' vocabulary and training pairs, and the test sets when a
        fidelity check reads one: an export reads no monolingual corpus (seqkd.lineage)."""
        parts = ("training", "tests") if self.fidelity_test else ("training",)
        out = {Path(self.vmap_data): ("training",)} if self.vmap and self.vmap_data else {}
        return {**out, Path(self.data): parts}

    def consumes(self) -> List[Path]:
        """What its settings name, whether it exists yet or not (seqkd run's edges)."""
        extra = [self.vmap_data] if self.vmap and self.vmap_data else []
        return [Path(p) for p in (self.data, self.checkpoint, *extra)]


def agreement(a: List[str], b: List[str]) -> float:
    if len(a) != len(b):
        raise SeqkdError(f"cannot compare {len(a)} and {len(b)} outputs")
    return sum(x == y for x, y in zip(a, b)) / max(1, len(a))


def fidelity_check(cfg: ExportConfig, checkpoint: Path, prepared, exported: Path) -> Dict:
    """fairseq vs CTranslate2 float32 1-best agreement, and BLEU of each export."""
    from seqkd.decoders import CT2Decoder, FairseqDecoder, convert_to_ct2

    test = cfg.fidelity_test
    src = read_lines(prepared.text(test, prepared.src))
    ref = read_lines(prepared.text(test, prepared.tgt))
    sp = load_spm(prepared.spm)
    with tempfile.TemporaryDirectory(dir=exported.parent, prefix=".fidelity.") as tmp:
        float_dir = exported if cfg.quantization == "float32" else Path(tmp) / "float32"
        if float_dir != exported:
            convert_to_ct2(checkpoint, prepared.bin, float_dir, "float32")
        common = dict(beam=cfg.beam, batch_tokens=cfg.batch_tokens, threads=cfg.threads)
        logger.info("fidelity check on %s: %d lines at beam %d with fairseq, then with "
                    "CTranslate2 float32%s", test, len(src), cfg.beam,
                    "" if float_dir == exported else f" and {cfg.quantization}")
        fs = decode_text(FairseqDecoder([checkpoint], prepared.bin, **common), sp, src)
        ct_float = decode_text(CT2Decoder(float_dir, **common), sp, src)
        ct_q = ct_float if float_dir == exported else decode_text(
            CT2Decoder(exported, compute_type=cfg.quantization, **common), sp, src)
    agree = agreement(fs, ct_float)
    bleu = scorer("bleu", prepared.tgt)
    result = {
        "test_set": test, "beam": cfg.beam, "lines": len(src),
        "fairseq_ct2_float32_agreement": round(agree, 4),
        "passed": agree >= cfg.min_agreement, "min_agreement": cfg.min_agreement,
        "bleu_fairseq": round(bleu.corpus_score(fs, [ref]).score, 2),
        "bleu_ct2_float32": round(bleu.corpus_score(ct_float, [ref]).score, 2),
        f"bleu_ct2_{cfg.quantization}": round(bleu.corpus_score(ct_q, [ref]).score, 2),
    }
    result["bleu_change_vs_float32"] = round(
        result[f"bleu_ct2_{cfg.quantization}"] - result["bleu_ct2_float32"], 2)
    level = logging.INFO if result["passed"] else logging.WARNING
    logger.log(level, "fidelity on %s: fairseq and CTranslate2 float32 agree on %.1f%% of "
               "1-best outputs (required %.0f%%); BLEU fairseq %.2f, float32 %.2f, %s %.2f",
               test, 100 * agree, 100 * cfg.min_agreement, result["bleu_fairseq"],
               result["bleu_ct2_float32"], cfg.quantization,
               result[f"bleu_ct2_{cfg.quantization}"])
    return result


def _training_command(checkpoint: Path) -> Optional[str]:
    for folder in (checkpoint.parent, checkpoint.parent.parent):
        f = folder / "train_command.txt"
        if f.is_file():
            lines = [x for x in f.read_text().splitlines() if x and not x.startswith("#")]
            return lines[-1] if lines else None
    return None


def _clear_leftovers(out: Path) -> None:
    """Remove what an unfinished export left (the stage is not finished, or begin() would
    have said so): its model, the hidden folder it was built in, fidelity scratch folders."""
    for stale in (out / "model", out / ".model.building", *out.glob(".fidelity.*")):
        if stale.exists():
            logger.info("removing %s (left by an unfinished export)", stale)
            shutil.rmtree(stale)


def _vocabulary_map(cfg: ExportConfig, prepared: Prepared, out: Path) -> Tuple[Path, Dict]:
    """vmap.txt from eflomal alignments of the training pieces, and what the card says of it."""
    from seqkd.vocab_map import build_vocabulary_map

    if cfg.quantization.startswith("int8"):
        logger.warning("--vmap with %s weights: CTranslate2 gains little from a map on an "
                       "int8-stored model (1.03x greedy here, against 1.47x float32-stored, "
                       "docs/RESULTS.md); for speed, export with --quantization float32 and "
                       "translate with --compute-type int8 --vmap", cfg.quantization)
    source = Path(cfg.vmap_data) if cfg.vmap_data else prepared.path
    pieces = [require_file(source / "pieces" / f"train.{lang}", "training pieces for the "
                           "vocabulary map") for lang in (prepared.src, prepared.tgt)]
    vmap_file = out / "vmap.txt"
    info = build_vocabulary_map(*pieces, vmap_file, top_k=cfg.vmap_top_k)
    info["data"] = str(source)
    return vmap_file, info


def _card(cfg: ExportConfig, checkpoint: Path, prepared: Prepared, built: Path,
          vmap_info: Optional[Dict]) -> Dict:
    """card.json: where the model comes from, its shape, size, versions and scores."""
    return {
        "source_checkpoint": str(checkpoint.resolve()),
        "source_sha256": sha256_file(checkpoint),
        "quantization": cfg.quantization,
        "vocabulary_map": vmap_info,
        "languages": [prepared.src, prepared.tgt],
        "shape": checkpoint_shape(checkpoint).as_dict(),
        "training_command": _training_command(checkpoint),
        "converter": "ctranslate2.converters.FairseqConverter with user_dir="
                     "seqkd_fairseq_plugin and unsafe_deserialization=True: the checkpoint "
                     "was written by this pipeline or named by the user, so it is trusted "
                     "to be unpickled in full",
        "versions": versions(),
        "size_bytes": sum(f.stat().st_size for f in built.iterdir() if f.is_file()),
        "scores": fidelity_check(cfg, checkpoint, prepared, built)
        if cfg.fidelity_test else None,
    }


def export(cfg: ExportConfig, force: bool = False) -> Dict:
    from seqkd.decoders import convert_to_ct2

    check_config(cfg)  # types, choices and bounds of every setting
    checkpoint = check_checkpoint(checkpoint_of(
        cfg.checkpoint, "it is exported already; export converts a fairseq checkpoint or a "
        "`seqkd train` folder"))
    prepared = Prepared(cfg.data)
    check_checkpoint_dictionary(checkpoint, prepared.dictionary, "checkpoint")
    if cfg.fidelity_test and cfg.fidelity_test not in prepared.test_sets():
        raise SeqkdError(f"no test set {cfg.fidelity_test!r} in {prepared.path}; it has: "
                         f"{', '.join(prepared.test_sets())}")
    if cfg.fidelity_test:
        require_scorer("bleu", prepared.tgt, "export --fidelity-test", "leave --fidelity-test out")
    out = Path(cfg.out_dir)
    stage = Stage("export", out, cfg, force=force)
    if not stage.begin():
        return stage.finished()["summary"]
    # the model is built under a hidden name and renamed when its card is written, so a
    # killed export never leaves a folder that translate would serve
    building, model_dir = out / ".model.building", out / "model"
    try:
        _clear_leftovers(out)
        vmap_file, vmap_info = _vocabulary_map(cfg, prepared, out) if cfg.vmap else (None, None)
        t0 = time.time()
        convert_to_ct2(checkpoint, prepared.bin, building, cfg.quantization, vmap=vmap_file)
        shutil.copyfile(prepared.spm, building / "spm.model")
        logger.info("converted %s (%s) in %.1f s", checkpoint, cfg.quantization,
                    time.time() - t0)
        card = _card(cfg, checkpoint, prepared, building, vmap_info)
        write_text(building / "card.json", json.dumps(card, indent=2) + "\n")
        write_text(building / "README.md", _card_markdown(card))
        os.replace(building, model_dir)
        logger.info("model written to %s", model_dir)
        stage.finish({"model_dir": str(model_dir), "card": card})
        return {"model_dir": str(model_dir), "card": card}
    finally:  # an error (a full disk) leaves no half-written model behind, even hidden
        shutil.rmtree(building, ignore_errors=True)
        stage.close()


def _card_markdown(card: Dict) -> str:
    lines = [f"# seqkd export: {card['languages'][0]}→{card['languages'][1]}, "
             f"CTranslate2 {card['quantization']}", "",
             "Translate: `seqkd translate THIS_FOLDER < input.txt > output.txt`", "",
             "From Python:", "", "```python", "import seqkd", "",
             "model = seqkd.load(\"THIS_FOLDER\", beam=1)",
             "print(model.translate([\"A first sentence.\", \"A second one.\"]))", "```",
             "",
             f"- source checkpoint: `{card['source_checkpoint']}` (sha256 {card['source_sha256']})",
             f"- size: {card['size_bytes'] / 1e6:.1f} MB",
             "- shape: " + (", ".join(f"{k} {v}" for k, v in card["shape"].items())
                            if card.get("shape") else "not recorded"),
             f"- conversion: {card['converter']}",
             f"- versions: {json.dumps(card['versions'], sort_keys=True)}"]
    if card["training_command"]:
        lines += ["", "Training command:", "", "```", card["training_command"], "```"]
    if card["scores"]:
        lines += ["", "Scores:", "", "```", json.dumps(card["scores"], indent=2), "```"]
    return "\n".join(lines) + "\n"
