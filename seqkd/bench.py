"""Stage 6, bench: speed, latency, memory, size and quality of several systems, side by side.

Each (system, thread count) is measured in its own child process (``python -m
seqkd.bench --worker``), so peak memory is that system's alone. In the child:
the model is loaded (not timed), a warm-up pass runs over the first sentences,
then every test set is translated ``repeats`` times (median, min, max of
words/sec); with one thread the process is pinned to one core. Latency is
measured at batch size 1 on the first ``latency_sentences`` sentences.
Quality is sacrebleu BLEU and chrF of the first run against the reference.
Writes report.json, report.md and plot.png under ``out_dir``.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from seqkd.config import MAX_BEAM, setting
from seqkd.errors import SeqkdError
from seqkd.procs import child_preexec
from seqkd.textio import check_name

logger = logging.getLogger(__name__)

KINDS = ("fairseq", "ct2")


@dataclass
class SystemSpec:
    """One system to measure: ``NAME=KIND:PATH[,beam=N][,compute_type=T][,vmap=0|1]
    [,inter=N][,threads=N][,batch=N]``."""
    name: str
    kind: str
    path: str
    beam: Optional[int] = None
    compute_type: str = "default"
    #: restrict the output vocabulary with the export's vocabulary map (ct2 only)
    vmap: bool = False
    #: CTranslate2 inter_threads: batches translated at once, each on ``threads`` threads
    inter: int = 1
    #: measured at this thread count only (default: the bench's --threads)
    threads: Optional[int] = None
    #: batch size in source tokens (default: the bench's --batch-tokens)
    batch: Optional[int] = None

    @classmethod
    def parse(cls, text: str) -> "SystemSpec":
        if "=" not in text or ":" not in text.split("=", 1)[1]:
            raise SeqkdError(f"--system takes NAME=KIND:PATH[,beam=N][,compute_type=T], "
                             f"got {text!r}")
        name, rest = text.split("=", 1)
        kind, rest = rest.split(":", 1)
        path, *options = rest.split(",")
        if not name.strip():
            raise SeqkdError(f"--system {text!r}: give the system a name before '=' "
                             "(it labels the report's row)")
        check_name(name, "--system name")
        if not path.strip():
            raise SeqkdError(f"--system {name}: give the model path after '{kind}:' (a "
                             "checkpoint or train folder for fairseq, an export folder for ct2)")
        if kind not in KINDS:
            raise SeqkdError(f"--system {name}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        spec = cls(name=name, kind=kind, path=path)
        for opt in options:
            key, _, value = opt.partition("=")
            if key == "beam" and value.isdigit() and 1 <= int(value) <= MAX_BEAM:
                spec.beam = int(value)
            elif key == "compute_type" and value:
                spec.compute_type = value
            elif key == "vmap" and value in ("0", "1"):
                spec.vmap = value == "1"
            elif key in ("inter", "threads", "batch") and value.isdigit() and int(value) >= 1:
                setattr(spec, key, int(value))
            else:
                raise SeqkdError(f"--system {name}: unknown option {opt!r} (beam=N with N "
                                 f"from 1 to {MAX_BEAM}, compute_type=T, vmap=0|1, inter=N, "
                                 "threads=N or batch=N, N >= 1)")
        if kind == "fairseq" and (spec.compute_type != "default" or spec.vmap or spec.inter > 1):
            raise SeqkdError(f"--system {name}: compute_type, vmap and inter are for ct2 "
                             "systems")
        return spec


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
                                 "process may use)", default_factory=lambda: [1])
    repeats: int = setting(3, "timed runs per system and test set (median, min, max)", min=1)
    warmup_sentences: int = setting(100, "sentences translated before timing", min=0)
    latency_sentences: int = setting(100, "sentences timed one by one for latency", min=0)
    max_len: int = setting(200, "maximum output length in pieces", min=1)
    cpu: Optional[int] = setting(None, "the core single-thread runs are pinned to (default: "
                                 "the idlest core this process may use, chosen at the start "
                                 "and recorded in the report)", min=0)


    def input_files(self) -> List[Path]:
        """The test data's stamp and every system's model file."""
        from seqkd.checkpoints import resolved_checkpoints
        from seqkd.decoders import export_model_dir

        files = [Path(self.data) / "DONE.json"]
        for spec in self.systems:
            if spec.kind == "fairseq":
                files += resolved_checkpoints([spec.path])
            else:
                files.append(export_model_dir(spec.path) / "model.bin")
        return files


def percentile(values: List[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def words(lines: List[str]) -> int:
    return sum(len(line.split()) for line in lines)


# ---------------------------------------------------------------- worker (child process)


def _load_system(spec: SystemSpec, data: Path, beam: int, batch_tokens: int, threads: int,
                 max_len: int):
    """Return (translate(lines) -> outputs, parameter count (fairseq) or compute type (ct2),
    bytes on disk)."""
    from seqkd.corpus import Prepared, decode_text, load_spm

    if spec.kind == "fairseq":
        import torch

        from seqkd.decoders import FairseqDecoder
        from seqkd.checkpoints import checkpoint_of

        torch.set_num_threads(threads)
        prepared = Prepared(data)
        ckpt = checkpoint_of(spec.path)
        dec = FairseqDecoder([ckpt], prepared.bin, beam=beam, batch_tokens=batch_tokens,
                             max_len=max_len, threads=threads)
        sp = load_spm(prepared.spm)
        # parameters() yields a tied weight (shared embeddings) once
        params = sum(p.numel() for m in dec.models for p in m.parameters())
        return (lambda lines: decode_text(dec, sp, lines)), params, ckpt.stat().st_size
    from seqkd.decoders import ExportedModel

    model = ExportedModel(spec.path, beam=beam, threads=threads, batch_tokens=batch_tokens,
                          compute_type=spec.compute_type, max_len=max_len, use_vmap=spec.vmap,
                          parallel_batches=spec.inter)
    size = sum(f.stat().st_size for f in model.dir.iterdir() if f.is_file())
    return model.translate, model.decoder.translator.compute_type, size


def peak_rss_bytes() -> int:
    """This process's peak resident memory since exec (VmHWM; ru_maxrss would include the
    parent's pages from before the exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_worker(job: Dict) -> Dict:
    spec = SystemSpec(**job["spec"])
    threads = job["threads"]
    if job.get("cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {job["cpu"]})
    t0 = time.perf_counter()
    translate, info, size = _load_system(spec, Path(job["data"]), job["beam"],
                                           job["batch_tokens"], threads, job["max_len"])
    load_s = time.perf_counter() - t0
    result = {"load_seconds": load_s, "disk_bytes": size, "tests": {},
              "params": info if spec.kind == "fairseq" else None,
              "compute_type": "float32" if spec.kind == "fairseq" else info,
              # the weights as deployed: float32 parameters for fairseq (no optimizer state,
              # tied weights once), the model folder for CTranslate2
              "deployed_bytes": 4 * info if spec.kind == "fairseq" else size}
    first = next(iter(job["tests"].values()))
    translate(first[: job["warmup_sentences"]])
    for name, src in job["tests"].items():
        times, outputs = [], None
        for _ in range(job["repeats"]):
            t = time.perf_counter()
            out = translate(src)
            times.append(time.perf_counter() - t)
            outputs = outputs or out
        latencies = []
        if job["latency"]:
            for line in src[: job["latency_sentences"]]:
                t = time.perf_counter()
                translate([line])
                latencies.append(time.perf_counter() - t)
        result["tests"][name] = {"seconds": times, "outputs": outputs, "latencies": latencies}
    result["peak_rss_bytes"] = peak_rss_bytes()
    return result


# ---------------------------------------------------------------- parent


def _cpu_times() -> Dict[int, Tuple[int, int]]:
    """Per-core (idle, total) jiffies from /proc/stat."""
    out = {}
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("cpu") and line[3:4].isdigit():
                name, *vals = line.split()
                nums = [int(v) for v in vals]
                out[int(name[3:])] = (nums[3] + (nums[4] if len(nums) > 4 else 0), sum(nums))
    except OSError:
        pass
    return out


def pick_cpu(requested: Optional[int] = None, sample_s: float = 0.3) -> Optional[int]:
    """The core to pin single-thread runs to: ``requested`` (checked against the cores this
    process may use), else the idlest allowed core over a short sample."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if requested is not None:
        if requested not in allowed:
            raise SeqkdError(f"--cpu {requested}: this process may only use cores "
                             f"{', '.join(map(str, allowed))}")
        return requested
    a = _cpu_times()
    time.sleep(sample_s)
    b = _cpu_times()
    def busy(c: int) -> float:
        if c not in a or c not in b or b[c][1] == a[c][1]:
            return 0.0
        return 1 - (b[c][0] - a[c][0]) / (b[c][1] - a[c][1])
    return min(allowed, key=lambda c: (round(busy(c), 2), -c))


def speed_signature(row: Dict, cfg: "BenchConfig", cpu: str, versions: Dict[str, str]) -> str:
    """Every setting that affects a words/s figure, sacrebleu-style (``key:value|...``)."""
    lib = (f"fairseq{versions.get('fairseq')}+torch{versions.get('torch')}"
           if row["kind"] == "fairseq" else f"ctranslate2{versions.get('ctranslate2')}")
    pin = f"cpu{row['pinned_cpu']}" if row.get("pinned_cpu") is not None else "no"
    return "|".join([
        f"beam:{row['beam']}", f"batch:{row['batch_tokens']}tok", f"threads:{row['threads']}",
        f"inter:{row.get('inter_threads', 1)}",
        f"pin:{pin}", f"compute:{row['compute_type']}", f"vmap:{int(row.get('vmap', False))}",
        f"repeats:{cfg.repeats}",
        f"warmup:{cfg.warmup_sentences}", f"maxlen:{cfg.max_len}",
        f"cpu:{cpu.replace('|', '/')}", f"lib:{lib}", f"version:seqkd{versions.get('seqkd')}"])


def system_shape(spec: SystemSpec):
    """The model's :class:`~seqkd.model_cost.ModelShape`, or None when it cannot be known (a
    CTranslate2 export whose card records no shape: its row then has no MACs). Only a
    checkpoint the user named as a fairseq system is read; a card's ``source_checkpoint`` is
    never loaded, since a card is not something the user vouched for."""
    from seqkd.checkpoints import checkpoint_of, checkpoint_shape
    from seqkd.decoders import export_model_dir
    from seqkd.model_cost import ModelShape

    if spec.kind == "fairseq":
        return checkpoint_shape(checkpoint_of(spec.path))
    card_path = export_model_dir(spec.path) / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
    shape = card.get("shape")
    if isinstance(shape, dict):
        try:
            return ModelShape(**shape)
        except TypeError:
            pass
    logger.info("%s: its card records no model shape; the row has no MACs per token",
                spec.name)
    return None


def cost_fields(shape, src_pieces: int, tgt_pieces: int, beam: int, seconds: float) -> Dict:
    """A row's arithmetic cost: MACs per source and target token and the rate achieved."""
    if shape is None:
        return {"macs_per_src_token": None, "macs_per_tgt_token": None, "gmacs_per_s": None}
    ms, mt = shape.macs_per_source_token(), shape.macs_per_target_token()
    return {"macs_per_src_token": ms, "macs_per_tgt_token": mt,
            "gmacs_per_s": round((src_pieces * ms + tgt_pieces * beam * mt) / seconds / 1e9, 2)}


def _run_child(job: Dict) -> Dict:
    """Run one worker in a child process; return its result."""
    cmd = [sys.executable, "-m", "seqkd.bench", "--worker"]
    env = dict(os.environ)
    if job["threads"]:
        env["OMP_NUM_THREADS"] = str(job["threads"])
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                            text=True, preexec_fn=child_preexec())
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(job))
    proc.stdin.close()
    payload = proc.stdout.read()
    if proc.wait() != 0:
        raise SeqkdError(f"benchmark of {job['spec']['name']} (threads {job['threads']}) "
                         f"failed with exit {proc.returncode}; see the log above")
    return json.loads(payload)


def _check_systems(systems: List[SystemSpec]) -> None:
    """Every system's model is there and readable, before anything is measured."""
    from seqkd.checkpoints import check_checkpoint, checkpoint_of
    from seqkd.decoders import export_model_dir

    for spec in systems:
        if spec.kind == "fairseq":
            check_checkpoint(checkpoint_of(spec.path), f"--system {spec.name}: checkpoint")
        else:
            d = export_model_dir(spec.path)
            if not (d / "model.bin").is_file() or not (d / "spm.model").is_file():
                raise SeqkdError(f"--system {spec.name}: {spec.path} is not an `seqkd export` "
                                 "folder (model.bin and spm.model)")
            if spec.compute_type != "default":
                import ctranslate2

                supported = ctranslate2.get_supported_compute_types("cpu")
                if spec.compute_type not in supported:
                    raise SeqkdError(f"--system {spec.name}: compute_type {spec.compute_type} is "
                                     "not supported on this CPU; it supports "
                                     f"{', '.join(sorted(supported))}")
            if spec.vmap and not (d / "vmap.txt").is_file():
                raise SeqkdError(f"--system {spec.name}: {spec.path} has no vocabulary map "
                                 "(vmap.txt); export it with `seqkd export --vmap`")


def bench(cfg: BenchConfig, force: bool = False) -> Dict:
    from sacrebleu.metrics import BLEU, CHRF

    from seqkd.corpus import Prepared, encode_lines, load_spm
    from seqkd.stage import Stage, cpu_model, default_threads, versions
    from seqkd.textio import read_lines, write_text

    if not cfg.systems:
        raise SeqkdError("give at least one --system NAME=KIND:PATH")
    _check_systems(cfg.systems)
    names = [s.name for s in cfg.systems]
    if len(set(names)) != len(names):
        raise SeqkdError(f"system names must be unique: {names}")
    prepared = Prepared(cfg.data)
    tests = cfg.test_sets or prepared.test_sets()[:1]
    missing = [t for t in tests if t not in prepared.test_sets()]
    if missing:
        raise SeqkdError(f"unknown test set(s) {missing}; {prepared.path} has: "
                         f"{', '.join(prepared.test_sets())}")
    src = {t: read_lines(prepared.text(t, prepared.src)) for t in tests}
    ref = {t: read_lines(prepared.text(t, prepared.tgt)) for t in tests}
    out = Path(cfg.out_dir)
    pinned = pick_cpu(cfg.cpu) if 1 in cfg.threads else None
    stage = Stage("bench", out, cfg, force=force)
    if not stage.begin():
        return stage.finished()["summary"]
    try:
        if pinned is not None:
            logger.info("single-thread runs pinned to CPU %d", pinned)
        cpu_name, lib_versions = cpu_model(), versions()
        rows = []
        bleu_metric, chrf_metric = BLEU(), CHRF()
        sp = load_spm(prepared.spm)
        src_pieces = {t: sum(len(p) for p in encode_lines(sp, src[t])) for t in tests}
        for spec in cfg.systems:
            beam = spec.beam or cfg.beam
            shape = system_shape(spec)
            batch = spec.batch or cfg.batch_tokens
            for threads in ([spec.threads] if spec.threads else cfg.threads):
                logger.info("measuring %s (%s, beam %d, %s threads%s, batch %d tokens)",
                            spec.name, spec.kind, beam, threads or "all",
                            f" x {spec.inter} batches" if spec.inter > 1 else "", batch)
                one_core = threads == 1 and spec.inter == 1
                job = {"spec": asdict(spec), "data": str(prepared.path), "beam": beam,
                       "batch_tokens": batch, "threads": threads,
                       "repeats": cfg.repeats, "warmup_sentences": cfg.warmup_sentences,
                       "latency": one_core and batch == cfg.batch_tokens,
                       "latency_sentences": cfg.latency_sentences,
                       "max_len": cfg.max_len, "tests": src,
                       "cpu": pinned if one_core else None}
                res = _run_child(job)
                for t in tests:
                    r = res["tests"][t]
                    hyps = r["outputs"]
                    bleu = bleu_metric.corpus_score(hyps, [ref[t]])
                    chrf = chrf_metric.corpus_score(hyps, [ref[t]])
                    sw, tw = words(src[t]), words(hyps)
                    secs = r["seconds"]
                    tgt_pieces = sum(len(p) for p in encode_lines(sp, hyps))
                    rows.append({
                        "system": spec.name, "kind": spec.kind, "path": spec.path,
                        "vmap": spec.vmap,
                        "compute_type": res["compute_type"],
                        "beam": beam, "threads": threads or default_threads(),
                        "inter_threads": spec.inter, "batch_tokens": batch,
                        "test_set": t, "sentences": len(src[t]),
                        "bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2),
                        "src_words": sw, "tgt_words": tw,
                        "seconds_median": round(statistics.median(secs), 3),
                        "src_wps_median": round(sw / statistics.median(secs), 1),
                        "src_wps_min": round(sw / max(secs), 1),
                        "src_wps_max": round(sw / min(secs), 1),
                        "tgt_wps_median": round(tw / statistics.median(secs), 1),
                        "latency_p50_ms": round(1000 * percentile(r["latencies"], 0.5), 2)
                        if r["latencies"] else None,
                        "latency_p95_ms": round(1000 * percentile(r["latencies"], 0.95), 2)
                        if r["latencies"] else None,
                        "peak_rss_mb": round(res["peak_rss_bytes"] / 2**20, 1),
                        "size_mb": round(res["deployed_bytes"] / 1e6, 2),
                        "disk_mb": round(res["disk_bytes"] / 1e6, 2),
                        "params": res["params"], "load_seconds": round(res["load_seconds"], 2),
                        "pinned_cpu": pinned if one_core else None,
                        "src_pieces": src_pieces[t], "tgt_pieces": tgt_pieces,
                        **cost_fields(shape, src_pieces[t], tgt_pieces, beam,
                                      statistics.median(secs)),
                    })
                    rows[-1]["speed_signature"] = speed_signature(rows[-1], cfg, cpu_name,
                                                                  lib_versions)
                    write_text(out / "outputs" / f"{spec.name}.t{threads}.{t}.txt",
                               "".join(h + "\n" for h in hyps))
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
        report = {"signature": signature, "results": rows}
        write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
        write_text(out / "report.md", markdown_report(report))
        plot(rows, out / "plot.png", cfg.batch_tokens)
        stage.finish({"report": str(out / "report.json")})
        if not os.environ.get("TQDM_DISABLE"):  # not with -q
            sys.stderr.write(markdown_report(report))
        return report
    finally:
        stage.close()


def markdown_report(report: Dict) -> str:
    sig = report["signature"]
    lines = []
    tests = list(dict.fromkeys(r["test_set"] for r in report["results"]))
    for t in tests:
        lines += [f"### {t}", "",
                  "| system | kind | compute | beam | threads | batch | BLEU | chrF "
                  "| src words/s (median [min–max]) | × first | tgt words/s "
                  "| latency p50 / p95 ms | peak RSS MB | size MB | disk MB "
                  "| MMACs / src, tgt token | GMAC/s |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        rows = [r for r in report["results"] if r["test_set"] == t]
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
                f"{r['chrf']} | {r['src_wps_median']} "
                f"[{r['src_wps_min']}–{r['src_wps_max']}] | "
                f"{r['src_wps_median'] / base['src_wps_median']:.1f} | {r['tgt_wps_median']} | "
                f"{lat} | {r['peak_rss_mb']} | {r.get('size_mb', r['disk_mb'])} | "
                f"{r['disk_mb']} | {macs} | {r.get('gmacs_per_s') or '–'} |")
        lines.append("")
    lines += ["Signature:", "", f"- BLEU: `{sig['sacrebleu_bleu']}`",
              f"- chrF: `{sig['sacrebleu_chrf']}`",
              f"- batch {sig['batch_tokens']} tokens, {sig['repeats']} timed runs after a warm-up "
              f"of {sig['warmup_sentences']} sentences; {sig['single_thread']}",
              f"- latency: {sig['latency']}", f"- CPU: {sig['cpu']} ({sig['cores']} cores), "
              f"single-thread runs pinned to core {sig.get('pinned_cpu')}",
              f"- × first: src words/s over the first system's at the same threads and batch; "
              f"threads A×B: B batches at once on A threads each (CTranslate2 inter_threads); "
              f"{sig.get('size', 'size MB: files on disk')}",
              f"- speed signature of the first row: `{report['results'][0].get('speed_signature')}`"
              if report["results"] else "",
              f"- {sig.get('macs', 'MACs: not recorded')}",
              f"- versions: {json.dumps(sig['versions'], sort_keys=True)}",
              f"- command: `{sig['command']}`", ""]
    return "\n".join(lines)


def _setting(row: Dict) -> Tuple:
    """The measuring conditions of a row that a speed ratio must hold equal."""
    return (row["threads"], row.get("inter_threads", 1), row.get("batch_tokens"))


def pareto_front(points: List[Tuple[float, float]]) -> List[int]:
    """Indices of the points no other point beats: none is at least as fast and at least as
    good with one of the two strictly better. Fastest first."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((x2 >= x and y2 >= y) and (x2 > x or y2 > y)
                        for j, (x2, y2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: -points[i][0])


def _place_labels(ax, points: List[Tuple[float, float, str]], fontsize: int = 7) -> None:
    """Annotate points so that no two labels overlap: each label tries positions around its
    point (right, left, then one line further up or down at a time), measured as drawn, and
    takes the first that overlaps no label placed before it (when none is free: the one that
    overlaps least)."""
    renderer = ax.figure.canvas.get_renderer()
    placed: List = []
    step = 1.4 * fontsize  # one line, in points
    spots = [(dx, dy, ha) for k in range(6) for dy in ((2, -step) if k == 0 else
                                                        (2 + k * step, -(k + 1) * step))
             for dx, ha in ((3, "left"), (-3, "right"))]

    def overlap(box) -> float:
        return sum(max(0.0, min(box.x1, b.x1) - max(box.x0, b.x0))
                   * max(0.0, min(box.y1, b.y1) - max(box.y0, b.y0)) for b in placed)

    for x, y, label in sorted(points, key=lambda p: (p[0], -p[1])):
        best = None
        for dx, dy, ha in spots:
            ann = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points",
                              fontsize=fontsize, ha=ha,
                              arrowprops=None if abs(dy) < step else
                              {"arrowstyle": "-", "lw": 0.4, "color": "0.5"})
            box = ann.get_window_extent(renderer).expanded(1.04, 1.1)
            cost = overlap(box)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box)
            else:
                ann.remove()
            if cost == 0:
                break
        placed.append(best[2])


def plot(rows: List[Dict], path: Path, batch_tokens: Optional[int] = None) -> None:
    """BLEU against single-thread words/s, one panel per test set, labels that do not
    overlap; rows measured at ``batch_tokens`` (default: the first row's), one batch at a
    time."""
    from matplotlib.ticker import NullFormatter

    from seqkd.plotting import DPI, pyplot, save_figure

    plt = pyplot(path.parent)

    if batch_tokens is None and rows:
        batch_tokens = rows[0].get("batch_tokens")
    single = [r for r in rows if r["threads"] == 1 and r.get("inter_threads", 1) == 1
              and r.get("batch_tokens") == batch_tokens] or rows
    tests = list(dict.fromkeys(r["test_set"] for r in single))
    fig, axes = plt.subplots(len(tests), 1, figsize=(8, 3.6 * len(tests)), squeeze=False,
                             dpi=DPI)  # the dpi it is saved at: labels are measured as drawn
    for ax, t in zip(axes[:, 0], tests):
        pts = [r for r in single if r["test_set"] == t]
        front = pareto_front([(r["src_wps_median"], r["bleu"]) for r in pts])
        on_front = set(front)
        ax.scatter([r["src_wps_median"] for i, r in enumerate(pts) if i not in on_front],
                   [r["bleu"] for i, r in enumerate(pts) if i not in on_front], s=18,
                   facecolors="none", edgecolors="C0", label="dominated")
        ax.scatter([pts[i]["src_wps_median"] for i in front], [pts[i]["bleu"] for i in front],
                   s=22, color="C3", label="Pareto front (nothing faster and better)")
        ax.step([pts[i]["src_wps_median"] for i in front], [pts[i]["bleu"] for i in front],
                where="post", color="C3", lw=0.8, ls="--")
        ax.legend(fontsize=7, loc="lower left")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        xs = [r["src_wps_median"] for r in pts]
        ys = [r["bleu"] for r in pts]
        ax.set_xlim(min(xs) / 1.5, max(xs) * 2.2)
        ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
        ax.set_title(t, fontsize=9)
        ax.set_ylabel("BLEU (sacrebleu)")
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("source words / second (1 thread, log scale)")
    fig.tight_layout()  # before the labels: they are placed where the axes end up
    for ax, t in zip(axes[:, 0], tests):
        _place_labels(ax, [(r["src_wps_median"], r["bleu"],
                            f"{r['system']}" + (f" (b{r['beam']})" if f"b{r['beam']}"
                                                 not in r["system"] else ""))
                           for r in single if r["test_set"] == t])
    save_figure(fig, path)


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        if os.environ.get("TQDM_DISABLE"):  # -q: library warnings stay off the terminal
            import warnings
            warnings.simplefilter("ignore")
        job = json.loads(sys.stdin.read())
        try:
            print(json.dumps(run_worker(job)))
        except SeqkdError as e:
            print(f"seqkd bench worker: error: {e}", file=sys.stderr)
            raise SystemExit(1)
    else:
        raise SystemExit("seqkd.bench is run by `seqkd bench`")
