"""The bench stage: speed, latency, memory, size and quality of several systems, side by side.

Each (system, thread count) is measured in a child process of its own (seqkd.stages.bench.measure);
quality is sacrebleu BLEU and chrF of the first timed run against the reference. With
``efficiency``, every CTranslate2 system also goes through the WMT efficiency-task protocol
(seqkd.stages.bench.efficiency); with ``blind``, every system translates source files whose
references are kept elsewhere (seqkd.stages.bench.blind). Writes report.json, report.md and
plot.png under ``out_dir``."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import seqkd.stages.bench.blind as blindsets
from seqkd.stages.bench.compare import Outputs, comparisons, pair_problems, seeds
from seqkd.stages.bench.config import BenchConfig
from seqkd.stages.bench.beside import Beside, combined
from seqkd.stages.bench.measure import Job, Measured, measure_in_child, pick_cpu
from seqkd.stages.bench.parts import Parts, boot_id
from seqkd.stages.bench.report import Row, SpeedSignature, cost_fields, markdown_report, words
from seqkd.stages.bench.systems import SystemSpec, check_systems
from seqkd.errors import SeqkdError
from seqkd.scores import scorer

logger = logging.getLogger("seqkd.bench.stage")


@dataclass
class _Run:
    """What every measurement of one bench shares."""
    cfg: BenchConfig
    prepared: Any
    tests: List[str]
    src: Dict[str, List[str]]
    ref: Dict[str, List[str]]
    out: Path
    pinned: Optional[int]
    quiet: bool
    blind: List[blindsets.BlindSet] = field(default_factory=list)
    sp: Any = None
    src_pieces: Dict[str, int] = field(default_factory=dict)
    cpu_name: str = ""
    lib_versions: Dict[str, str] = field(default_factory=dict)
    bleu: Any = None
    chrf: Any = None


def _open(cfg: BenchConfig, quiet: bool) -> _Run:
    """The test sets read and checked, the core to pin chosen, before the stage begins."""
    from seqkd.corpus import Prepared
    from seqkd.textio import read_lines

    check_systems(cfg.systems)
    problems = pair_problems(cfg.compare, [s.name for s in cfg.systems]) + blindsets.problems(
        cfg.blind)
    if problems:
        raise SeqkdError("; ".join(problems))
    prepared = Prepared(cfg.data)
    tests = cfg.test_sets or prepared.test_sets()[:1]
    # valid too, when named: a development set to choose on (decoding settings, budgets)
    missing = [t for t in tests if t not in prepared.test_sets() + ["valid"]]
    if missing:
        raise SeqkdError(f"unknown test set(s) {missing}; {prepared.path} has: "
                         f"{', '.join(prepared.test_sets())} (and valid, the development "
                         "set)")
    src = {t: read_lines(prepared.text(t, prepared.src)) for t in tests}
    ref = {t: read_lines(prepared.text(t, prepared.tgt)) for t in tests}
    out = Path(cfg.out_dir)
    if cfg.efficiency:
        from seqkd.stages.bench.efficiency import check_room

        check_room(src[tests[0]], cfg.efficiency_sentences, out / "efficiency")
    blind = blindsets.load(cfg.blind, prepared.test_sets() + ["valid"])
    pinned = pick_cpu(cfg.cpu) if 1 in cfg.threads or cfg.efficiency else None
    return _Run(cfg, prepared, tests, src, ref, out, pinned, quiet, blind)


def _prime(run: _Run) -> None:
    """The tokenizer, the metrics and the machine's description, once the stage begins."""
    from seqkd.corpus import encode_lines, load_spm
    from seqkd.machine import cpu_model, versions

    run.sp = load_spm(run.prepared.spm)
    run.src_pieces = {t: sum(len(p) for p in encode_lines(run.sp, run.src[t]))
                      for t in run.tests}
    run.cpu_name, run.lib_versions = cpu_model(), versions()
    run.bleu = scorer("bleu", run.prepared.tgt)
    run.chrf = scorer("chrf")


def _row(run: _Run, spec: SystemSpec, res: Any, t: str, threads: int, beam: int, batch: int,
         shape: Any, pinned: Optional[int]) -> Row:
    """One system's row on test set ``t``: quality of its outputs, speed, size, cost."""
    from seqkd.corpus import encode_lines
    from seqkd.machine import default_threads

    cfg, r = run.cfg, res.tests[t]
    hyps, ref = r.outputs, [run.ref[t]]
    tgt_pieces = sum(len(p) for p in encode_lines(run.sp, hyps))
    sw, tw = words(run.src[t]), words(hyps)
    bleu = run.bleu.corpus_score(hyps, ref)
    row = Row(
        system=spec.name, kind=spec.kind, path=" + ".join(spec.paths), vmap=spec.vmap,
        compute_type=res.compute_type, beam=beam, threads=threads or default_threads(),
        inter_threads=spec.inter, batch_tokens=batch, test_set=t, sentences=len(run.src[t]),
        bleu=round(bleu.score, 2), length_ratio=round(bleu.sys_len / max(1, bleu.ref_len), 3),
        chrf=round(run.chrf.corpus_score(hyps, ref).score, 2), src_words=sw, tgt_words=tw,
        **Row.timing(sw, tw, r.seconds, r.latencies),
        peak_rss_mb=round(res.peak_rss_bytes / 2**20, 1),
        size_mb=round(res.deployed_bytes / 1e6, 2), disk_mb=round(res.disk_bytes / 1e6, 2),
        params=res.params, load_seconds=round(res.load_seconds, 2),
        pinned_cpu=pinned, src_pieces=run.src_pieces[t],
        tgt_pieces=tgt_pieces, no_repeat_ngram=spec.no_repeat_ngram,
        **cost_fields(shape, run.src_pieces[t], tgt_pieces, beam, statistics.median(r.seconds)))
    row.speed_signature = SpeedSignature(
        beam=beam, batch_tokens=batch, threads=row.threads, inter=spec.inter,
        pinned_cpu=row.pinned_cpu, compute_type=row.compute_type, vmap=spec.vmap,
        repeats=cfg.repeats, warmup=cfg.warmup_sentences, max_len=cfg.max_len,
        no_repeat_ngram=spec.no_repeat_ngram, cpu=run.cpu_name,
        library=spec.kind_of.library(run.lib_versions),
        seqkd=run.lib_versions.get("seqkd", "")).format()
    return row


def _measured(run: _Run, spec: SystemSpec, beam: int, batch: int, parts: Parts,
              position: str) -> Tuple[Dict[int, Measured], Any, Optional[int]]:
    """One system at each of its thread counts, in a child process each (its blind sets
    translated at the first), or as an earlier attempt of this bench measured it; how busy
    the machine was beside it; the core its single-thread runs were pinned to. ``position``:
    which system of how many, for the log."""
    part = parts.take(spec.name)
    if part is not None:
        logger.info("%s (%s): measured by an earlier attempt of this bench, taken",
                    spec.name, position)
        return part["measured"], part["beside"], part["pinned"]
    cfg, beside, measured = run.cfg, Beside(), {}
    once = {b.name: b.to_translate for b in run.blind}
    for threads in ([spec.threads] if spec.threads else cfg.threads):
        logger.info("measuring %s (%s: %s, beam %d, %s%s, batch %d tokens)",
                    spec.name, position, spec.kind, beam,
                    "1 thread" if threads == 1 else f"{threads or 'all'} threads",
                    f" x {spec.inter} batches" if spec.inter > 1 else "", batch)
        one_core = threads == 1 and spec.inter == 1
        measured[threads] = measure_in_child(Job(
            spec=spec, data=str(run.prepared.path), beam=beam, batch_tokens=batch,
            threads=threads, repeats=cfg.repeats, warmup_sentences=cfg.warmup_sentences,
            latency_sentences=cfg.latency_sentences
            if one_core and batch == cfg.batch_tokens else 0,
            max_len=cfg.max_len, tests=run.src, cpu=run.pinned if one_core else None,
            quiet=run.quiet, once=once))
        once = {}
    spent = beside.result(warn=False)
    parts.keep(spec.name, measured, spent, run.pinned)
    return measured, spent, run.pinned


def _measure(run: _Run, rows: List[Row], outputs: Outputs, blind_outputs: Dict[str, List[str]],
             parts: Parts) -> Tuple[Dict[str, Any], List[Any]]:
    """Every system (:func:`_measured`), its rows and outputs added, and its translations of
    the blind sets; each system's measurement (the last) by name, and how busy the machine
    was beside each."""
    from seqkd.textio import write_text

    cfg, measured, besides = run.cfg, {}, []
    for k, spec in enumerate(cfg.systems, 1):
        beam, batch = spec.beam or cfg.beam, spec.batch or cfg.batch_tokens
        shape = spec.kind_of.shape(spec)
        by_threads, spent, pinned = _measured(run, spec, beam, batch, parts,
                                              f"{k} of {len(cfg.systems)}")
        besides.append(spent)
        for threads, res in by_threads.items():
            one_core = threads == 1 and spec.inter == 1
            measured[spec.name] = res
            blindsets.write_outputs(run.out, spec.name, run.blind, run.prepared.tgt,
                                    res.once, blind_outputs)
            for t in run.tests:
                row = _row(run, spec, res, t, threads, beam, batch, shape,
                           pinned if one_core else None)
                rows.append(row)
                outputs[(spec.name, row.threads, t)] = res.tests[t].outputs
                write_text(run.out / "outputs" / f"{spec.name}.t{threads}.{t}.txt",
                           "".join(h + "\n" for h in res.tests[t].outputs))
    return measured, besides


def _efficiency(run: _Run, measured: Dict[str, Any]) -> List[Dict]:
    """The WMT efficiency-task protocol over every system that deploys as an export."""
    import seqkd.stages.bench.efficiency as protocol
    from seqkd.machine import default_threads

    cfg, test, out = run.cfg, run.tests[0], []
    for spec in cfg.systems:
        if not spec.kind_of.deploys(spec):
            # a warning, so that -q says why the report may have no such section
            logger.warning("efficiency protocol: %s is not an `seqkd export` folder; "
                           "skipped (the protocol runs `seqkd translate`)", spec.name)
            continue
        res = measured[spec.name]
        out += protocol.as_dicts(protocol.measure(
            dataclasses.replace(spec, beam=spec.beam or cfg.beam), test, run.src[test],
            cfg.efficiency_sentences, cfg.efficiency_latency_sentences,
            run.out / "efficiency", run.pinned, default_threads(), cfg.max_len,
            spec.batch or cfg.batch_tokens, round(res.deployed_bytes / 1e6, 2),
            res.compute_type))
    return out


def _signature(run: _Run) -> Dict[str, Any]:
    """Every setting that affects a number of the report."""
    cfg = run.cfg
    return {
        "sacrebleu_bleu": run.bleu.get_signature().format(),
        "sacrebleu_chrf": run.chrf.get_signature().format(),
        "batch_tokens": cfg.batch_tokens, "default_beam": cfg.beam, "threads": cfg.threads,
        "repeats": cfg.repeats, "warmup_sentences": cfg.warmup_sentences,
        "latency": f"batch 1, first {cfg.latency_sentences} sentences, 1 thread",
        "single_thread": "pinned to one core (sched_setaffinity); torch.set_num_threads(1) "
                         "/ CTranslate2 intra_threads=1, inter_threads=1",
        "cpu": run.cpu_name, "cores": os.cpu_count(), "versions": run.lib_versions,
        "pinned_cpu": run.pinned,
        "size": "size MB: the weights as deployed (fairseq: float32 parameters, tied "
                "weights once, no optimizer state; CTranslate2: the model folder); "
                "disk MB: the checkpoint or folder as stored",
        "macs": "MACs per source / target token: multiply-accumulates of the weight "
                "matrices one token passes through (seqkd/model_cost.py; attention scores, "
                "softmax and norms not counted); GMAC/s: (source pieces x MACs per source "
                "token + output pieces x beam x MACs per target token) / median seconds",
        "command": " ".join(sys.argv),
    }


def bench(cfg: BenchConfig, force: bool = False, quiet: bool = False) -> Dict:
    """Measure every system; ``quiet``: no report on stderr, library warnings kept off it."""
    from seqkd.stage import Stage
    from seqkd.stages.bench.plot import plot
    from seqkd.textio import write_text

    run = _open(cfg, quiet)
    # resumable: a run stopped after some systems takes their measurements (parts.py)
    stage = Stage("bench", run.out, cfg, force=force, resumable=True)
    if not stage.begin():
        return stage.finished()["summary"]
    try:
        if run.pinned is not None:
            logger.info("single-thread runs pinned to CPU %d", run.pinned)
        _prime(run)
        parts = Parts(run.out, {"config_hash": stage.hash, "boot_id": boot_id(),
                                "cpu": run.cpu_name, "versions": run.lib_versions})
        rows: List[Row] = []
        outputs: Outputs = {}
        blind_outputs: Dict[str, List[str]] = {}
        measured, besides = _measure(run, rows, outputs, blind_outputs, parts)
        protocol = Beside()
        efficiency = _efficiency(run, measured) if cfg.efficiency else []
        if efficiency:
            besides.append(protocol.result(warn=False))
        results = [r.to_dict() for r in rows]
        compared = comparisons(results, outputs, run.ref, cfg.compare, run.prepared.tgt)
        report = {"signature": _signature(run), "results": results, "comparisons": compared,
                  "seeds": seeds(results, compared), "beside": combined(besides)}
        if parts.taken:
            report["resumed"] = {"attempt_started": parts.started, "taken": parts.taken}
        if efficiency:
            report["efficiency"] = efficiency
        if run.blind:
            report["blind"] = blindsets.summary(run.blind, blind_outputs)
        write_text(run.out / "report.json", json.dumps(report, indent=2) + "\n")
        write_text(run.out / "report.md", markdown_report(report))
        plot(report["results"], run.out / "plot.png", cfg.batch_tokens)
        parts.clear()
        stage.finish({"report": str(run.out / "report.json")})
        if not quiet:
            sys.stderr.write(markdown_report(report))
        return report
    finally:
        stage.close()
