"""Stage 3, distill: translate the training source with the teacher (Kim & Rush 2016), and
any monolingual source corpora prepared with the data (``sources``).

The sources, in order, are cut into fixed chunks of ``chunk_size`` lines; each
chunk's n-best lists are written atomically to ``chunks/NNNNNN.jsonl``, so an
interrupted run resumes at the first missing chunk and shards
(``--num-shards N --shard-id i`` takes chunks i, i+N, ...) can run on separate
workers. Once every chunk exists, they are merged in order, one hypothesis is
selected per line (seq-KD: the teacher's best; seq-inter: the n-best entry
closest to the reference; MBR: the candidate that agrees most with the others),
anomalous pairs are flagged or dropped, and the distilled corpus is binarized. Layout under
``out_dir``:

    sources.{txt,pieces}    the sources' lines in order (only with a monolingual source)
    chunks/NNNNNN.jsonl     n-best lists, one JSON object per source line
    nbest.jsonl             all chunks, line i = source line i
    hyp.TGT                 the selected translation of every source line (line-aligned)
    filter.tsv              line, reason, score, length ratio of anomalous pairs
    text/train.{src,tgt}    the distilled training pairs (after dropping, if asked)
    origin.tsv              the source and line each distilled pair comes from
    pieces/, bin/, dict.txt, spm.model   ready for `seqkd train --data`
    report.json
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from seqkd.config import check_config
from seqkd.binarize import binarize_splits
from seqkd.corpus import Prepared, load_spm
from seqkd.procs import waiting_lock
from seqkd.scores import require_scorer
from seqkd.machine import default_threads
from seqkd.lineage import file_digest
from seqkd.stage import Stage
from seqkd.stages.distill.config import DistillConfig
from seqkd.stages.distill.merge import (Source, chunk_path, chunk_ranges, iter_chunks,
                                       note_chunks, shard_chunks, write_distilled)
from seqkd.errors import SeqkdError
from seqkd.textio import atomic_path, count_lines, iter_lines, progress, write_text

logger = logging.getLogger("seqkd.distill")

# ---------------------------------------------------------------- the stage


def _make_decoder(cfg: DistillConfig, prepared: Prepared, out: Path):
    from seqkd.decoders import CT2Decoder, FairseqDecoder, convert_to_ct2

    nbest = cfg.n_hypotheses()
    if cfg.decoder == "fairseq":
        return FairseqDecoder(cfg.teachers, prepared.bin, beam=cfg.beam, nbest=nbest,
                              batch_tokens=cfg.batch_tokens, max_len=cfg.max_len,
                              threads=cfg.threads, device=cfg.device, sample=cfg.sample,
                              seed=cfg.seed)
    # the conversion is keyed by the teacher file's content: another teacher (or the same
    # path with new weights) never decodes with an old conversion
    digest = file_digest(cfg.teachers[0]).split(":")[1][:16]
    ct2_dir = out / f"teacher-ct2-{cfg.compute_type}-{digest}"
    for old in out.glob("teacher-ct2-*"):
        if old.is_dir() and old != ct2_dir:
            logger.info("removing %s (a conversion of another teacher or compute type)", old)
            shutil.rmtree(old, ignore_errors=True)
    # concurrent shards share one conversion: the first converts (under the lock), the others
    # wait and then load it; a finished conversion is never replaced
    with waiting_lock(out / f".teacher-ct2-{cfg.compute_type}.lock"):
        if not (ct2_dir / "model.bin").is_file():
            logger.info("converting the teacher to CTranslate2 (%s) in %s", cfg.compute_type,
                        ct2_dir)
            convert_to_ct2(cfg.teachers[0], prepared.bin, ct2_dir, cfg.compute_type)
    # bulk decoding on the CPU: one thread per batch, as many batches at once as threads
    return CT2Decoder(ct2_dir, beam=cfg.beam, nbest=nbest, batch_tokens=cfg.batch_tokens,
                      max_len=cfg.max_len, threads=1,
                      parallel_batches=cfg.threads or default_threads(),
                      compute_type=cfg.compute_type, device=cfg.device, sample=cfg.sample,
                      seed=cfg.seed)


def sources_of(cfg: DistillConfig, prepared: Prepared) -> List[Source]:
    """(name, cleaned text, reference or None) of every source the teacher translates."""
    have = ["train", *prepared.mono_names()]
    missing = [s for s in cfg.sources if s not in have]
    if missing:
        raise SeqkdError(f"sources: {', '.join(missing)} not prepared in {prepared.path} (it "
                         f"has {', '.join(have)}); add them to prepare with --mono NAME=PREFIX "
                         "or --mono-dataset NAME=DATASET (data.mono / data.mono_datasets in a "
                         "config)")
    return [(name, prepared.source_text(name),
             prepared.text("train", prepared.tgt) if name == "train" else None)
            for name in cfg.sources]


def source_files(cfg: DistillConfig, prepared: Prepared, out: Path) -> Tuple[Path, Path]:
    """The text and the pieces of every source in order, one line each: the prepared files
    for the training source alone, else ``sources.txt`` / ``sources.pieces`` written here
    once (the stamp holds the prepared folder's digest, so they cannot go stale)."""
    if cfg.sources == ["train"]:
        return prepared.source_text("train"), prepared.source_pieces("train")
    joined = []
    for kind, of in (("txt", prepared.source_text), ("pieces", prepared.source_pieces)):
        path = out / f"sources.{kind}"
        if not path.is_file():
            with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
                for name in cfg.sources:
                    for line in iter_lines(of(name)):
                        f.write(line + "\n")
        joined.append(path)
    return joined[0], joined[1]


def _validate(cfg: DistillConfig) -> None:
    check_config(cfg)  # types, choices and bounds; __post_init__ checked the combinations


def distill(cfg: DistillConfig, force: bool = False, merge_only: bool = False) -> Dict:
    """Run (this shard of) the distill stage; merge and finish once all chunks exist."""
    _validate(cfg)
    prepared = Prepared(cfg.data)
    sources = sources_of(cfg, prepared)
    if cfg.selection_metric():  # its scorer for the target language, before any decoding
        require_scorer(cfg.selection_metric(), prepared.tgt, "distill", cfg.other_metric())
    stage = Stage("distill", Path(cfg.out_dir), cfg, force=force, resumable=True,
                  shared=True)  # shards of one distillation work here together
    # before anything is decoded; a fairseq teacher's train folders become the checkpoint
    # files they stand for (the stamp keeps them as given)
    cfg = cfg.teacher_kind().check(cfg, prepared.dictionary)
    out = Path(cfg.out_dir)
    if not stage.begin():
        return stage.finished()["summary"]
    try:
        if force and not stage.resuming:
            shutil.rmtree(out / "chunks", ignore_errors=True)
            for old in out.glob("sources.*"):
                old.unlink()
        text, pieces = source_files(cfg, prepared, out)
        ranges = chunk_ranges(count_lines(pieces), cfg.chunk_size)
        note_chunks(out, ranges)
        mine = [i for i in shard_chunks(len(ranges), cfg.num_shards, cfg.shard_id)
                if not chunk_path(out, i).is_file()]
        decode_stats = {}
        if mine and not merge_only:  # with merge_only, merge_chunks names what is missing
            decode_stats = _decode(cfg, prepared, (text, pieces), out, ranges, mine)
        if cfg.num_shards > 1 and not merge_only and any(
                not chunk_path(out, i).is_file() for i in range(len(ranges))):
            logger.info("shard %d/%d done; the last shard to finish merges (or run with "
                        "--merge-only)", cfg.shard_id, cfg.num_shards)
            return {"status": "shard finished", "shard_id": cfg.shard_id, **decode_stats}
        # shards that finish together merge one after the other; the second finds it done
        with waiting_lock(out / ".merge.lock"):
            if stage.is_current():
                logger.info("another shard merged already")
                return stage.finished()["summary"]
            report = _finish(cfg, prepared, sources, out, ranges)
            report["decode"] = decode_stats
            write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
            stage.finish(report)
            return report
    finally:
        stage.close()


def _decode_text(cfg: DistillConfig, text: Path, out: Path,
                 ranges: Sequence[Tuple[int, int]], todo: Sequence[int]) -> Dict:
    """Distil in text space, chunk by chunk: raw source lines in, translations out; the
    student's SentencePiece model is applied when the data is built."""
    teacher, about = cfg.teacher_kind().text_teacher(cfg, cfg.threads or default_threads())
    n = sum(ranges[i][1] - ranges[i][0] for i in todo)
    logger.info("translating %d sentences in %d chunks with %s", n, len(todo),
                f"the command {about['command']!r}" if "command" in about else
                f"the CTranslate2 folder {about['teacher']}")
    t0 = time.time()
    with progress(total=n, unit="sent", desc=f"distill[{cfg.decoder}]", smoothing=0.1) as bar:
        for i, lines in iter_chunks(text, ranges, todo):
            start, end = ranges[i]
            results = teacher.hypotheses(lines, f"chunk {i}, lines {start + 1}-{end}")
            with atomic_path(chunk_path(out, i)) as tmp:
                with open(tmp, "w", encoding="utf-8") as f:
                    for hyps in results:
                        row = [[text, round(score, 6)] for text, score in hyps]
                        f.write(json.dumps({"hyps": row}, ensure_ascii=False) + "\n")
            bar.update(end - start)
    seconds = time.time() - t0
    return {**about, "sentences": n, "seconds": round(seconds, 2),
            "sentences_per_second": round(n / seconds, 2) if seconds else None}


def _decode(cfg: DistillConfig, prepared: Prepared, inputs: Tuple[Path, Path], out: Path,
            ranges: Sequence[Tuple[int, int]], todo: Sequence[int]) -> Dict:
    """Decode the chunks ``todo`` of the sources (``inputs``: their text and pieces)."""
    if cfg.teacher_kind().text_space:
        return _decode_text(cfg, inputs[0], out, ranges, todo)
    sp = load_spm(prepared.spm)
    t_load = time.time()
    decoder = _make_decoder(cfg, prepared, out)
    load_s = time.time() - t_load
    n = sum(ranges[i][1] - ranges[i][0] for i in todo)
    logger.info("decoding %d sentences in %d chunks with %s (beam %d, %d-best)", n, len(todo),
                cfg.decoder, cfg.beam, cfg.n_hypotheses())
    t0 = time.time()
    with progress(total=n, unit="sent", desc=f"distill[{cfg.decoder}]", smoothing=0.1) as bar:
        for i, lines in iter_chunks(inputs[1], ranges, todo):
            start, end = ranges[i]
            batch = [line.split() for line in lines]
            results = decoder.translate(batch)
            with atomic_path(chunk_path(out, i)) as tmp:
                with open(tmp, "w", encoding="utf-8") as f:
                    for hyps in results:
                        row = [[sp.decode(pieces), round(score, 6)] for pieces, score in hyps]
                        f.write(json.dumps({"hyps": row}, ensure_ascii=False) + "\n")
            bar.update(end - start)
    seconds = time.time() - t0
    stats = {"decoder": cfg.decoder, "sentences": n, "seconds": round(seconds, 2),
             "sentences_per_second": round(n / seconds, 2) if seconds else None,
             "model_load_seconds": round(load_s, 2)}
    logger.info("decoded %d sentences in %.1f s (%.1f sent/s)", n, seconds, n / max(seconds, 1e-9))
    return stats


def _finish(cfg: DistillConfig, prepared: Prepared, sources: Sequence[Source], out: Path,
            ranges: Sequence[Tuple[int, int]]) -> Dict:
    report = write_distilled(out, sources, prepared.tgt, prepared.src, ranges, cfg)
    text = out / "text"
    shutil.copyfile(prepared.spm, out / "spm.model")
    shutil.copyfile(prepared.dictionary, out / "dict.txt")
    # the distilled training pairs binarized in one pass; validation and test sets are the
    # prepared ones, copied
    binarize_splits(out / "bin", prepared.src, prepared.tgt, out / "dict.txt",
                    {"train": (text / "train", out / "pieces" / "train")}, out / "spm.model",
                    workers=2, copied={name: prepared.path / "bin"
                                       for name in ["valid", *prepared.test_sets()]})
    logger.info("distilled %d pairs (%s, %s); %s %d anomalous pairs: %s",
                report["pairs_written"], cfg.method, report["selection"],
                "dropped" if cfg.filter == "drop" else "flagged", report["anomalous"],
                report["anomaly_reasons"] or "none")
    for name, counts in report["sources"].items():
        logger.info("  source %s: %d lines, %d pairs written", name, counts["lines"],
                    counts["pairs_written"])
    return report
