"""The Markdown page of a ``seqkd serve-bench`` report (:func:`seqkd.serve.load.serve_bench`
makes the report; this writes it for people)."""

from __future__ import annotations

import json
from typing import Dict


def markdown(r: Dict) -> str:
    ref = r["translate"]
    lines = [f"# seqkd serve under load: {r['model']}", "",
             f"{r['sentences']} sentences of {r['test_file']}, beam {r['beam']}"
             + (f", no n-gram of {r['no_repeat_ngram']} pieces repeated"
                if r.get("no_repeat_ngram") else "") + "; server and "
             f"`seqkd translate` on core(s) {r['model_cores']} (one thread), clients on "
             f"{r['client_cores']}; CPU: {r['cpu']}.", "",
             f"`seqkd translate` on the same core(s), run just before each level (the median of "
             f"those runs): **{ref['src_wps']:,.0f} source words/s** (load excluded), one "
             f"sentence at a time p50 {ref['latency_p50_ms']} ms. Each level's × columns are "
             "against the run just before it.", "",
             "| clients | sentences a request | requests | source words/s | × translate | "
             "latency p50 / p90 / p99 ms | p50 × translate's | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for lv in r["levels"]:
        lines.append(f"| {lv['clients']} | {lv['per_request']} | {lv['requests']} | "
                     f"{lv['src_wps']:,.0f} | {lv['x_translate']:.2f} | "
                     f"{lv['latency_p50_ms']} / {lv['latency_p90_ms']} / "
                     f"{lv['latency_p99_ms']} | {lv['x_latency']:.2f} | {lv['errors']} |")
    if r.get("hold"):
        h = r["hold"]
        lines += ["", f"Held at {h['clients']} clients for {h['seconds']:.0f} s: "
                      f"{h['requests']:,} requests, **{h['errors']} errors**."]
    if r.get("soak"):
        s = r["soak"]
        lines += ["", f"Soak at {s['clients']} clients: {s['requests']:,} requests over "
                      f"{s['seconds']:.0f} s after a first minute; server memory "
                      f"{s['rss_after_first_mb']} MB → {s['rss_end_mb']} MB "
                      f"(**{s['growth_percent']:+.1f} %**), {s['errors']} errors."]
    lines += ["", f"Server peak memory (VmHWM): {r['server_peak_rss_mb']} MB; it exited "
                  f"{r['server_exit_code']} after SIGTERM.", "",
              f"Versions: {json.dumps(r['versions'], sort_keys=True)}", "",
              f"Command: `{r['command']}`", ""]
    return "\n".join(lines)
