"""``seqkd serve-bench``: `seqkd serve` measured under load, beside `seqkd translate` on the
same model and the same cores, in one run.

The server runs as a process of its own, pinned to the model's cores (``--cores``); the load
comes from this process on the other cores: N clients at once (each its own keep-alive
connection, asyncio), each sending the test set's sentences one a request (or ``--per-request``
at a time) to LibreTranslate's ``POST /translate``, until the set is done (or for
``--seconds``). Per level: served source words/s, latency p50/p90/p99, errors, and the
server's peak memory (VmHWM). ``seqkd translate`` is run whole on the same sentences, pinned
to the same cores, for the reference words/s, and one sentence at a time through standard
input for the latency reference: just before each level, so that each level is compared with
the machine as it was then (a shared machine's speed drifts by tens of percent within
minutes). A soak (``--soak-seconds``) keeps
clients busy and compares the server's memory after its first minute with its memory at the
end."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from seqkd import text_length
from seqkd.config import setting
from seqkd.procs import python_module
from seqkd.errors import SeqkdError
from seqkd.stats import percentile
from seqkd.serve.load_report import markdown

logger = logging.getLogger(__name__)


@dataclass
class LoadConfig:
    model: str
    test_file: str
    out_dir: str
    clients: List[int] = setting(help="concurrent clients, one level after another",
                                 default_factory=lambda: [1, 4, 16, 64], min=1, max=1024)
    per_request: List[int] = setting(help="sentences a request, each measured at every level",
                                     default_factory=lambda: [1, 16], min=1, max=1024)
    cores: str = setting("", "the cores of the server and of `seqkd translate` (taskset "
                         "list, e.g. 1 or 2-3; default: the last core); the clients run on the "
                         "others")
    sentences: int = setting(1000, "sentences of the test file used", min=1)
    soak_seconds: float = setting(0.0, "then a soak at the largest level for this long, "
                                  "memory compared after its first minute and at the end",
                                  min=0.0, max=86400.0)
    hold_seconds: float = setting(0.0, "also hold the largest level for this long and count "
                                  "its errors", min=0.0, max=86400.0)
    beam: int = setting(1, "beam size of both", min=1, max=64)
    no_repeat_ngram: int = setting(0, "both decode with `--no-repeat-ngram N` (0: off)",
                                   min=0, max=64)

    def __post_init__(self):
        if self.cores:
            cores_of(self.cores)

    def decoding(self) -> List[str]:
        """The decoding options the server and `seqkd translate` both get."""
        return ["--beam", str(self.beam), "--no-repeat-ngram", str(self.no_repeat_ngram)]


async def _client(port: int, requests: List[List[str]], latencies: List[float],
                  errors: List[str], until: Optional[float]) -> int:
    """One keep-alive connection sending its requests in turn; the words it got back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        i = 0
        while i < len(requests) or (until is not None and time.perf_counter() < until):
            texts = requests[i % len(requests)]
            i += 1
            body = json.dumps({"q": texts if len(texts) > 1 else texts[0]}).encode()
            t0 = time.perf_counter()
            writer.write(b"POST /translate HTTP/1.1\r\nHost: l\r\nContent-Type: "
                         b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            payload = await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                errors.append(f"{status}: {payload[:200].decode(errors='replace')}")
            else:
                done += text_length.total(texts)
    except (OSError, asyncio.IncompleteReadError) as e:
        errors.append(f"{type(e).__name__}: {e}")
    finally:
        writer.close()
    return done


async def _level(port: int, sentences: List[str], clients: int, per_request: int,
                 seconds: float = 0.0) -> Dict:
    requests = [sentences[i:i + per_request] for i in range(0, len(sentences), per_request)]
    # more clients than requests: the extra ones would have nothing to send
    shares = [s for s in (requests[k::clients] for k in range(clients)) if s]
    latencies: List[float] = []
    errors: List[str] = []
    until = time.perf_counter() + seconds if seconds else None
    t0 = time.perf_counter()
    words = await asyncio.gather(*(_client(port, share, latencies, errors, until)
                                   for share in shares))
    wall = time.perf_counter() - t0
    ms = (lambda q: round(1000 * percentile(latencies, q), 2))
    return {"clients": len(shares), "per_request": per_request, "requests": len(latencies),
            "seconds": round(wall, 3), "src_words": sum(words),
            "src_wps": round(sum(words) / wall, 1), "latency_p50_ms": ms(0.5),
            "latency_p90_ms": ms(0.9), "latency_p99_ms": ms(0.99), "errors": len(errors),
            "first_errors": errors[:3]}


def _vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def cores_of(text: str) -> List[int]:
    """The CPUs of a taskset list (``1``, ``2-3``, ``0,2-3``), each one this process may
    use, or one error that names the ones it may."""
    mine = sorted(os.sched_getaffinity(0))
    out: List[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise SeqkdError(f"cores {text!r} is not a list of CPUs such as 1, 2-3 or 0,2-3")
        out += range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1)
    others = sorted(set(out) - set(mine))
    if others:
        raise SeqkdError(f"cores {text!r} names CPU(s) {', '.join(map(str, others))}, which "
                         f"this process may not use (it may use {', '.join(map(str, mine))})")
    return sorted(set(out))


def _taskset(cores: str) -> List[str]:
    return ["taskset", "-c", cores] if cores else []


def default_cores() -> tuple:
    """(model cores, client cores): the last core this process may use for the model, the
    rest for the clients (all of them when there is one)."""
    mine = sorted(os.sched_getaffinity(0))
    model = str(mine[-1])
    rest = ",".join(map(str, mine[:-1])) or model
    return model, rest


def translate_reference(cfg: LoadConfig, sentences: List[str], cores: str, work: Path) -> Dict:
    """`seqkd translate` on the same sentences and cores: words/s of the whole set (load
    excluded: a run on empty input is subtracted) and the latency of one sentence at a time."""
    argv = [*_taskset(cores), *python_module("seqkd", "translate"), cfg.model,
            *cfg.decoding(), "--threads", "1", "-q"]
    (work / "input.txt").write_text("".join(s + "\n" for s in sentences))
    (work / "empty.txt").write_text("")

    def timed(path: Path) -> float:
        t0 = time.perf_counter()
        with open(path) as f:
            subprocess.run(argv, stdin=f, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - t0

    load = min(timed(work / "empty.txt") for _ in range(2))
    whole = statistics.median(timed(work / "input.txt") for _ in range(3))
    words = text_length.total(sentences)
    # one line at a time: translate reads blocks of --batch-lines before it answers
    proc = subprocess.Popen(argv + ["--batch-lines", "1"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    lat = []
    for s in sentences[:200]:
        t0 = time.perf_counter()
        proc.stdin.write(s + "\n")
        proc.stdin.flush()
        proc.stdout.readline()
        lat.append(time.perf_counter() - t0)
    proc.stdin.close()
    proc.wait()
    return {"src_wps": round(words / max(1e-9, whole - load), 1),
            "load_seconds": round(load, 3),
            "latency_p50_ms": round(1000 * percentile(lat[10:], 0.5), 2)}


def _levels(cfg: LoadConfig, port: int, sentences: List[str], model_cores: str,
            out: Path) -> List[Dict]:
    """Every level (sentences a request x clients), each beside a `seqkd translate` run just
    before it on the same cores."""
    levels = []
    for per in cfg.per_request:
        for n in cfg.clients:
            logger.info("%d clients, %d sentence(s) a request", n, per)
            ref = translate_reference(cfg, sentences, model_cores, out)
            level = asyncio.run(_level(port, sentences, n, per))
            level.update(translate_src_wps=ref["src_wps"],
                         translate_latency_p50_ms=ref["latency_p50_ms"],
                         x_translate=round(level["src_wps"] / ref["src_wps"], 3),
                         x_latency=round(level["latency_p50_ms"] / ref["latency_p50_ms"], 3))
            levels.append(level)
    return levels


def _hold_and_soak(cfg: LoadConfig, port: int, sentences: List[str],
                   pid: int) -> Tuple[Optional[Dict], Optional[Dict]]:
    """The largest level held for ``hold_seconds`` (its errors), and the soak: the server's
    memory after a first minute and at the end of ``soak_seconds``."""
    hold = soak = None
    most = max(cfg.clients)
    if cfg.hold_seconds:
        hold = asyncio.run(_level(port, sentences, most, 1, cfg.hold_seconds))
    if cfg.soak_seconds:
        first = min(60.0, cfg.soak_seconds / 2)
        asyncio.run(_level(port, sentences, most, 1, first))
        rss_start = _vm(pid, "VmRSS")
        soak = asyncio.run(_level(port, sentences, most, 1, cfg.soak_seconds - first))
        rss_end = _vm(pid, "VmRSS")
        soak.update(rss_after_first_mb=round(rss_start / 2**20, 1),
                    rss_end_mb=round(rss_end / 2**20, 1),
                    growth_percent=round(100 * (rss_end - rss_start) / rss_start, 2))
    return hold, soak


def serve_bench(cfg: LoadConfig) -> Dict:
    """Run the measurement; write ``report.json`` and ``report.md`` under ``out_dir``."""
    from seqkd.machine import cpu_model, versions
    from seqkd.textio import read_lines, write_text

    sentences = [s for s in read_lines(cfg.test_file) if s.strip()][: cfg.sentences]
    if not sentences:
        raise SeqkdError(f"{cfg.test_file} has no sentence to send")
    model_cores, client_cores = (cfg.cores, None) if cfg.cores else default_cores()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if client_cores:
        os.sched_setaffinity(0, {int(c) for c in client_cores.split(",")})
    server = subprocess.Popen(
        [*_taskset(model_cores), *python_module("seqkd", "serve"), cfg.model, "--port",
         "0", *cfg.decoding(), "--threads", "1", "--queue-sentences", "100000",
         "--max-texts", "1024", "-q"], stderr=subprocess.PIPE, text=True)
    try:
        port = _wait_ready(server)
        levels = _levels(cfg, port, sentences, model_cores, out)
        hold, soak = _hold_and_soak(cfg, port, sentences, server.pid)
        peak = _vm(server.pid, "VmHWM")
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=120)
    reference = {k: statistics.median(lv[f"translate_{k}"] for lv in levels)
                 for k in ("src_wps", "latency_p50_ms")}
    report = {"model": cfg.model, "test_file": cfg.test_file, "sentences": len(sentences),
              "beam": cfg.beam, "no_repeat_ngram": cfg.no_repeat_ngram,
              "model_cores": model_cores, "client_cores": client_cores,
              "levels": levels, "hold": hold, "soak": soak,
              "server_peak_rss_mb": round(peak / 2**20, 1), "server_exit_code": code,
              "translate": reference, "cpu": cpu_model(),
              "versions": versions("uvicorn", "starlette", "uvloop", "httptools"),
              "command": " ".join(sys.argv)}
    write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    write_text(out / "report.md", markdown(report))
    return report


def _wait_ready(server: subprocess.Popen, timeout: float = 300.0) -> int:
    """The port of a server once it says it is ready (its standard error is drained from
    then on, so that it never blocks on a full pipe)."""
    import threading

    lines: List[str] = []
    found: List[int] = []

    def read():
        for line in server.stderr:
            lines.append(line)
            m = re.search(r"ready on http://[^ ]+:(\d+)", line)
            if m and not found:
                found.append(int(m.group(1)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.time() + timeout
    while not found and server.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if not found:
        server.kill()
        reader.join(timeout=5)  # what it said before it ended, read to the end
        raise SeqkdError("the server did not start: " + ("".join(lines[-5:]).strip()
                                                         or "it said nothing"))
    return found[0]
