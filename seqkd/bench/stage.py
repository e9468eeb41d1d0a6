"""Stage 6, bench: speed, latency, memory, size and quality of several systems, side by side.

Each (system, thread count) is measured in a child process of its own (seqkd.bench.measure);
quality is sacrebleu BLEU and chrF of the first timed run against the reference. With
``efficiency``, every CTranslate2 system also goes through the WMT efficiency-task protocol
(seqkd.bench.efficiency). Writes report.json, report.md and plot.png under ``out_dir``."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from seqkd.bench.compare import Outputs, comparisons
from seqkd.bench.measure import Job, measure_in_child, pick_cpu
from seqkd.bench.report import Row, SpeedSignature, cost_fields, markdown_report, words
from seqkd.bench.systems import SystemSpec, check_systems
from seqkd.config import MAX_BEAM, setting
from seqkd.errors import SeqkdError

logger = logging.getLogger(__name__)


@dataclass
class BenchConfig:
    data: str
    out_dir: str
    systems: List[SystemSpec] = field(default_factory=list)
    test_sets: List[str] = setting(help="test sets (default: the data folder's first)",
                                   default_factory=list)
    beam: int = setting(5, "beam size of systems that do not name one", min=1,
                        max=MAX_BEAM)
    batch_tokens: int = setting(1024, "batch size in source tokens", min=1)
    threads: List[int] = setting(help="thread counts to measure (0: the physical cores this "
                                 "process may use)", default_factory=lambda: [1], min=0,
                                 max=1024)
    repeats: int = setting(3, "timed runs per system and test set (median, min, max)", min=1)
    warmup_sentences: int = setting(100, "sentences translated before timing", min=0)
    latency_sentences: int = setting(100, "sentences timed one by one for latency", min=0)
    max_len: int = setting(200, "maximum output length in pieces", min=1)
    cpu: Optional[int] = setting(None, "the core single-thread runs are pinned to (default: "
                                 "the idlest core this process may use, chosen at the start "
                                 "and recorded in the report)", min=0)
    efficiency: bool = setting(False, "also run the WMT efficiency-task protocol on every "
                               "CTranslate2 system: `seqkd translate` as a whole process on "
                               "the first test set repeated to --efficiency-sentences lines, "
                               "on one pinned core and on all cores, and one sentence at a "
                               "time for latency")
    efficiency_sentences: int = setting(100_000, "input size of the efficiency protocol, in "
                                        "sentences", min=1)
    efficiency_latency_sentences: int = setting(500, "sentences sent one at a time for the "
                                                "efficiency protocol's latency", min=0)

    def input_files(self) -> List[Path]:
        """The test data's stamp and every system's model file."""
        files = [Path(self.data) / "DONE.json"]
        for spec in self.systems:
            files += spec.kind_of.model_files(spec)
        return files

    def consumes(self) -> List[Path]:
        """What its settings name, whether it exists yet or not (seqkd run's edges)."""
        return [Path(self.data), *(Path(p) for s in self.systems for p in s.paths)]


def bench(cfg: BenchConfig, force: bool = False, quiet: bool = False) -> Dict:
    """Measure every system; ``quiet``: no report on stderr, library warnings kept off it."""
    from sacrebleu.metrics import BLEU, CHRF

    from seqkd.corpus import Prepared, encode_lines, load_spm
    from seqkd.machine import cpu_model, default_threads, versions
    from seqkd.stage import Stage
    from seqkd.textio import read_lines, write_text

    check_systems(cfg.systems)
    prepared = Prepared(cfg.data)
    tests = cfg.test_sets or prepared.test_sets()[:1]
    missing = [t for t in tests if t not in prepared.test_sets()]
    if missing:
        raise SeqkdError(f"unknown test set(s) {missing}; {prepared.path} has: "
                         f"{', '.join(prepared.test_sets())}")
    src = {t: read_lines(prepared.text(t, prepared.src)) for t in tests}
    ref = {t: read_lines(prepared.text(t, prepared.tgt)) for t in tests}
    out = Path(cfg.out_dir)
    if cfg.efficiency:
        from seqkd.bench.efficiency import check_room

        check_room(src[tests[0]], cfg.efficiency_sentences, out / "efficiency")
    pinned = pick_cpu(cfg.cpu) if 1 in cfg.threads or cfg.efficiency else None
    stage = Stage("bench", out, cfg, force=force)
    if not stage.begin():
        return stage.finished()["summary"]
    try:
        if pinned is not None:
            logger.info("single-thread runs pinned to CPU %d", pinned)
        cpu_name, lib_versions = cpu_model(), versions()
        rows: List[Row] = []
        outputs: Outputs = {}
        bleu_metric, chrf_metric = BLEU(), CHRF()
        sp = load_spm(prepared.spm)
        src_pieces = {t: sum(len(p) for p in encode_lines(sp, src[t])) for t in tests}
        sizes: Dict[str, float] = {}
        compute_types: Dict[str, str] = {}
        for spec in cfg.systems:
            beam = spec.beam or cfg.beam
            shape = spec.kind_of.shape(spec)
            batch = spec.batch or cfg.batch_tokens
            for threads in ([spec.threads] if spec.threads else cfg.threads):
                logger.info("measuring %s (%s, beam %d, %s threads%s, batch %d tokens)",
                            spec.name, spec.kind, beam, threads or "all",
                            f" x {spec.inter} batches" if spec.inter > 1 else "", batch)
                one_core = threads == 1 and spec.inter == 1
                job = Job(spec=spec, data=str(prepared.path), beam=beam, batch_tokens=batch,
                          threads=threads, repeats=cfg.repeats,
                          warmup_sentences=cfg.warmup_sentences,
                          latency_sentences=cfg.latency_sentences
                          if one_core and batch == cfg.batch_tokens else 0,
                          max_len=cfg.max_len, tests=src, cpu=pinned if one_core else None,
                          quiet=quiet)
                res = measure_in_child(job)
                sizes[spec.name] = round(res.deployed_bytes / 1e6, 2)
                compute_types[spec.name] = res.compute_type
                for t in tests:
                    r = res.tests[t]
                    hyps = r.outputs
                    tgt_pieces = sum(len(p) for p in encode_lines(sp, hyps))
                    sw, tw = words(src[t]), words(hyps)
                    bleu = bleu_metric.corpus_score(hyps, [ref[t]])
                    row = Row(
                        system=spec.name, kind=spec.kind, path=" + ".join(spec.paths),
                        vmap=spec.vmap,
                        compute_type=res.compute_type, beam=beam,
                        threads=threads or default_threads(), inter_threads=spec.inter,
                        batch_tokens=batch, test_set=t, sentences=len(src[t]),
                        bleu=round(bleu.score, 2),
                        length_ratio=round(bleu.sys_len / max(1, bleu.ref_len), 3),
                        chrf=round(chrf_metric.corpus_score(hyps, [ref[t]]).score, 2),
                        src_words=sw, tgt_words=tw,
                        **Row.timing(sw, tw, r.seconds, r.latencies),
                        peak_rss_mb=round(res.peak_rss_bytes / 2**20, 1),
                        size_mb=sizes[spec.name], disk_mb=round(res.disk_bytes / 1e6, 2),
                        params=res.params, load_seconds=round(res.load_seconds, 2),
                        pinned_cpu=pinned if one_core else None,
                        src_pieces=src_pieces[t], tgt_pieces=tgt_pieces,
                        **cost_fields(shape, src_pieces[t], tgt_pieces, beam,
                                      statistics.median(r.seconds)))
                    row.speed_signature = SpeedSignature(
                        beam=beam, batch_tokens=batch, threads=row.threads, inter=spec.inter,
                        pinned_cpu=row.pinned_cpu, compute_type=row.compute_type,
                        vmap=spec.vmap, repeats=cfg.repeats, warmup=cfg.warmup_sentences,
                        max_len=cfg.max_len, cpu=cpu_name,
                        library=spec.kind_of.library(lib_versions),
                        seqkd=lib_versions.get("seqkd", "")).format()
                    rows.append(row)
                    outputs[(spec.name, row.threads, t)] = hyps
                    write_text(out / "outputs" / f"{spec.name}.t{threads}.{t}.txt",
                               "".join(h + "\n" for h in hyps))
        efficiency = []
        if cfg.efficiency:
            import seqkd.bench.efficiency as protocol

            for spec in cfg.systems:
                if not spec.kind_of.deploys(spec):
                    # a warning, so that -q says why the report may have no such section
                    logger.warning("efficiency protocol: %s is not an `seqkd export` folder; "
                                   "skipped (the protocol runs `seqkd translate`)", spec.name)
                    continue
                efficiency += protocol.as_dicts(protocol.measure(
                    dataclasses.replace(spec, beam=spec.beam or cfg.beam), tests[0],
                    src[tests[0]], cfg.efficiency_sentences, cfg.efficiency_latency_sentences,
                    out / "efficiency", pinned, default_threads(), cfg.max_len,
                    spec.batch or cfg.batch_tokens, sizes[spec.name],
                    compute_types[spec.name]))
        signature = {
            "sacrebleu_bleu": bleu_metric.get_signature().format(),
            "sacrebleu_chrf": chrf_metric.get_signature().format(),
            "batch_tokens": cfg.batch_tokens, "default_beam": cfg.beam,
            "threads": cfg.threads,
            "repeats": cfg.repeats, "warmup_sentences": cfg.warmup_sentences,
            "latency": f"batch 1, first {cfg.latency_sentences} sentences, 1 thread",
            "single_thread": "pinned to one core (sched_setaffinity); torch.set_num_threads(1) "
                             "/ CTranslate2 intra_threads=1, inter_threads=1",
            "cpu": cpu_name, "cores": os.cpu_count(), "versions": lib_versions,
            "pinned_cpu": pinned,
            "size": "size MB: the weights as deployed (fairseq: float32 parameters, tied "
                    "weights once, no optimizer state; CTranslate2: the model folder); "
                    "disk MB: the checkpoint or folder as stored",
            "macs": "MACs per source / target token: multiply-accumulates of the weight "
                    "matrices one token passes through (seqkd/model_cost.py; attention scores, "
                    "softmax and norms not counted); GMAC/s: (source pieces x MACs per source "
                    "token + output pieces x beam x MACs per target token) / median seconds",
            "command": " ".join(sys.argv),
        }
        results = [r.to_dict() for r in rows]
        report = {"signature": signature, "results": results,
                  "comparisons": comparisons(results, outputs, ref)}
        if efficiency:
            report["efficiency"] = efficiency
        write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
        write_text(out / "report.md", markdown_report(report))
        from seqkd.bench.plot import plot

        plot(report["results"], out / "plot.png", cfg.batch_tokens)
        stage.finish({"report": str(out / "report.json")})
        if not quiet:
            sys.stderr.write(markdown_report(report))
        return report
    finally:
        stage.close()
