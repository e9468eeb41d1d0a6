"""A bench's rows and report: one typed row per (system, threads, test set), the speed
signature that names every setting a words/s figure depends on, and the Markdown table."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Tuple

from seqkd import text_length
from seqkd.stages.bench.beside import markdown_line
from seqkd.stages.bench.blind import markdown_lines as blind_lines
from seqkd.stats import percentile


def words(lines: List[str]) -> int:
    return text_length.total(lines)


def cost_fields(shape, src_pieces: int, tgt_pieces: int, beam: int, seconds: float) -> Dict:
    """A row's arithmetic cost: MACs per source and target token and the rate achieved."""
    if shape is None:
        return {"macs_per_src_token": None, "macs_per_tgt_token": None, "gmacs_per_s": None}
    ms, mt = shape.macs_per_source_token(), shape.macs_per_target_token()
    return {"macs_per_src_token": ms, "macs_per_tgt_token": mt,
            "gmacs_per_s": round((src_pieces * ms + tgt_pieces * beam * mt) / seconds / 1e9, 2)}


@dataclass(frozen=True)
class SpeedSignature:
    """Every setting that affects a words/s figure, written like sacrebleu's signatures
    (``key:value|...``): two figures compare only where their signatures agree, but for the
    system itself."""
    beam: int
    batch_tokens: int
    threads: int
    inter: int
    pinned_cpu: Optional[int]
    compute_type: str
    vmap: bool
    repeats: int
    warmup: int
    max_len: int
    no_repeat_ngram: int
    cpu: str
    library: str
    seqkd: str

    def format(self) -> str:
        pin = f"cpu{self.pinned_cpu}" if self.pinned_cpu is not None else "no"
        return "|".join([
            f"beam:{self.beam}", f"batch:{self.batch_tokens}tok", f"threads:{self.threads}",
            f"inter:{self.inter}", f"pin:{pin}", f"compute:{self.compute_type}",
            f"vmap:{int(self.vmap)}", f"repeats:{self.repeats}", f"warmup:{self.warmup}",
            f"maxlen:{self.max_len}", f"norepeat:{self.no_repeat_ngram}",
            f"cpu:{self.cpu.replace('|', '/')}", f"lib:{self.library}",
            f"version:seqkd{self.seqkd}"])


@dataclass
class Row:
    """One system at one thread count on one test set."""
    system: str
    kind: str
    path: str
    vmap: bool
    compute_type: str
    beam: int
    threads: int
    inter_threads: int
    batch_tokens: int
    test_set: str
    sentences: int
    bleu: float
    #: BLEU's hypothesis over reference length (13a tokens)
    length_ratio: float
    chrf: float
    src_words: int
    tgt_words: int
    seconds_median: float
    src_wps_median: float
    src_wps_min: float
    src_wps_max: float
    tgt_wps_median: float
    latency_p50_ms: Optional[float]
    latency_p95_ms: Optional[float]
    peak_rss_mb: float
    size_mb: float
    disk_mb: float
    params: Optional[int]
    load_seconds: float
    pinned_cpu: Optional[int]
    src_pieces: int
    tgt_pieces: int
    macs_per_src_token: Optional[int]
    macs_per_tgt_token: Optional[int]
    gmacs_per_s: Optional[float]
    speed_signature: str = ""
    #: decoded with no repeated n-gram of this many pieces (0: off)
    no_repeat_ngram: int = 0

    @staticmethod
    def timing(src_words: int, tgt_words: int, seconds: List[float],
               latencies: List[float]) -> Dict:
        """The speed fields from the timed runs (median, slowest, fastest) and latencies."""
        med = statistics.median(seconds)
        lat = (lambda q: round(1000 * percentile(latencies, q), 2)) if latencies else None
        return {"seconds_median": round(med, 3),
                "src_wps_median": round(src_words / med, 1),
                "src_wps_min": round(src_words / max(seconds), 1),
                "src_wps_max": round(src_words / min(seconds), 1),
                "tgt_wps_median": round(tgt_words / med, 1),
                "latency_p50_ms": lat(0.5) if lat else None,
                "latency_p95_ms": lat(0.95) if lat else None}

    def to_dict(self) -> Dict:
        return asdict(self)


def _setting(row: Dict) -> Tuple:
    """The measuring conditions of a row that a speed ratio must hold equal."""
    return (row["threads"], row.get("inter_threads", 1), row.get("batch_tokens"))


def resumed_lines(resumed: Optional[Dict[str, Any]]) -> List[str]:
    """The report's line on systems an earlier, stopped attempt measured (none: no line)."""
    if not resumed:
        return []
    taken = "; ".join(f"{name} at {at}" for name, at in resumed["taken"].items())
    return [f"- resumed: this run of the stage began at {resumed['attempt_started']} and took "
            f"the measurements an earlier, stopped run made on the same boot of this machine "
            f"(same settings, CPU and versions) of {taken}"]


def _set_table(test_set: str, rows: List[Dict], sig: Dict) -> List[str]:
    """One test set's rows as a Markdown table (× first: over the first row of the same
    threads and batch)."""
    lines = [f"### {test_set}", "",
             "| system | kind | compute | beam | threads | batch | BLEU | len | chrF "
             "| src words/s (median [min–max]) | × first | tgt words/s "
             "| latency p50 / p95 ms | peak RSS MB | size MB | disk MB "
             "| MMACs / src, tgt token | GMAC/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        base = next((b for b in rows if _setting(b) == _setting(r)), r)
        lat = (f"{r['latency_p50_ms']} / {r['latency_p95_ms']}"
               if r["latency_p50_ms"] is not None else "–")
        threads = (f"{r['threads']}×{r['inter_threads']}" if r.get("inter_threads", 1) > 1
                   else str(r["threads"]))
        macs = (f"{r['macs_per_src_token'] / 1e6:.2f}, {r['macs_per_tgt_token'] / 1e6:.2f}"
                if r.get("macs_per_src_token") else "–")
        lines.append(
            f"| {r['system']} | {r['kind']} | {r['compute_type']} | {r['beam']} | "
            f"{threads} | {r.get('batch_tokens', sig['batch_tokens'])} | {r['bleu']} | "
            f"{r.get('length_ratio', '–')} | "
            f"{r['chrf']} | {r['src_wps_median']} "
            f"[{r['src_wps_min']}–{r['src_wps_max']}] | "
            f"{r['src_wps_median'] / base['src_wps_median']:.1f} | {r['tgt_wps_median']} | "
            f"{lat} | {r['peak_rss_mb']} | {r.get('size_mb', r['disk_mb'])} | "
            f"{r['disk_mb']} | {macs} | {r.get('gmacs_per_s') or '–'} |")
    return lines + [""]


def _signature_lines(report: Dict) -> List[str]:
    """The settings behind every number of the report, and what ran beside it."""
    sig = report["signature"]
    return ["Signature:", "", f"- BLEU: `{sig['sacrebleu_bleu']}`",
            f"- chrF: `{sig['sacrebleu_chrf']}`",
            f"- batch {sig['batch_tokens']} tokens, {sig['repeats']} timed runs after a warm-up "
            f"of {sig['warmup_sentences']} sentences; {sig['single_thread']}",
            f"- latency: {sig['latency']}; len: BLEU's length ratio (output / reference)",
            f"- CPU: {sig['cpu']} ({sig['cores']} cores), "
            f"single-thread runs pinned to core {sig.get('pinned_cpu')}",
            markdown_line(report.get("beside")),
            *resumed_lines(report.get("resumed")),
            *blind_lines(report.get("blind", [])),
            f"- × first: src words/s over the first system's at the same threads and batch; "
            f"threads A×B: B batches at once on A threads each (CTranslate2 inter_threads); "
            f"{sig.get('size', 'size MB: files on disk')}",
            f"- speed signature of the first row: `{report['results'][0].get('speed_signature')}`"
            if report["results"] else "",
            f"- {sig.get('macs', 'MACs: not recorded')}",
            f"- versions: {json.dumps(sig['versions'], sort_keys=True)}",
            f"- command: `{sig['command']}`", ""]


def markdown_report(report: Dict) -> str:
    """The report as Markdown: a table a test set, the paired differences, the seed groups,
    the efficiency protocol's rows, then the signature."""
    lines: List[str] = []
    for t in dict.fromkeys(r["test_set"] for r in report["results"]):
        lines += _set_table(t, [r for r in report["results"] if r["test_set"] == t],
                            report["signature"])
    if report.get("comparisons"):
        from seqkd.stages.bench.compare import markdown_rows as difference_rows

        lines += difference_rows(report["comparisons"]) + [""]
    if report.get("seeds"):
        from seqkd.stages.bench.compare import seed_rows

        lines += seed_rows(report["seeds"]) + [""]
    if report.get("efficiency"):
        from seqkd.stages.bench.efficiency import markdown_rows

        lines += markdown_rows(report["efficiency"], report["signature"]) + [""]
    return "\n".join(lines + _signature_lines(report))
