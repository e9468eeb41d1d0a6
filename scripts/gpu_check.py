#!/usr/bin/env python3
"""Run a `seqkd run` config on one CUDA machine, in waves, and write a timing report.

    python scripts/gpu_check.py CONFIG REPORT_DIR [--deadline SECONDS] [--plan]

What it changes in the config (written to REPORT_DIR/config.yaml, work folder
REPORT_DIR/work): every training (teacher.train and the students) gets ``device: cuda`` and
``fp16: true``; every distillation ``device: cuda`` and, when CTranslate2 can use the GPU,
``decoder: ctranslate2`` with ``compute_type: float16``, else ``decoder: fairseq`` (the
CUDA build of torch is all it needs). Exports run only where CTranslate2 imports, and the
bench never does (speed is measured on the CPU protocol of ../shared/BENCHMARK.md).

The stages run in waves, one ``seqkd run CONFIG --only STAGE`` process per stage, all stages
of a wave at once (their dependencies are in earlier waves): data and teacher, then the
distillations, then the students, then the exports. With ``--deadline`` the processes left
are stopped then and the report says so. ``--plan`` prints the waves and the derived config
and runs nothing. REPORT_DIR/report.json: the GPU, versions, each stage's seconds (from its
DONE.json), each wave's wall time and the total.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

ROOT = Path(__file__).resolve().parents[1]


def gpu_config(cfg: Dict, base: Path, work_dir: Path, ct2_cuda: bool) -> Dict:
    """The config to run on a CUDA machine: paths made absolute (relative to ``base``)."""
    from seqkd.config_file import absolute_paths

    out = absolute_paths(cfg, base)
    out["work_dir"] = str(work_dir)
    teacher = out.get("teacher") or {}
    if isinstance(teacher.get("train"), dict):
        teacher["train"].update(device="cuda", fp16=True)
    for entry in out.get("distill") or []:
        entry["device"] = "cuda"
        if ct2_cuda:
            entry.update(decoder="ctranslate2", compute_type="float16")
        else:
            entry["decoder"] = "fairseq"
            entry.pop("compute_type", None)
    for entry in out.get("students") or []:
        entry.update(device="cuda", fp16=True)
    out.pop("bench", None)
    return out


def waves(steps, with_exports: bool) -> List[List[str]]:
    """Stage names grouped so that each stage's dependencies are in an earlier group."""
    level: Dict[str, int] = {}
    for s in steps:  # plan() lists a stage after its dependencies
        if s.name.startswith("export-") and not with_exports:
            continue
        level[s.name] = 1 + max((level[d] for d in s.deps if d in level), default=-1)
    out: List[List[str]] = [[] for _ in range(1 + max(level.values(), default=-1))]
    for name, lv in level.items():
        out[lv].append(name)
    return out


def _ctranslate2() -> Tuple[bool, bool]:
    """(CTranslate2 imports, it sees a CUDA device)."""
    try:
        import ctranslate2
    except Exception:  # not installed, or its build does not load here
        return False, False
    try:
        return True, ctranslate2.get_cuda_device_count() > 0
    except Exception:  # its CUDA part does not load
        return True, False


def _gpu_name() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                               "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=30).stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "no nvidia-smi"


def run_waves(config: Path, groups: List[List[str]], logs: Path, deadline: float | None,
              t0: float) -> List[Dict]:
    done = []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    for group in groups:
        start = time.time()
        procs = {name: subprocess.Popen(
            [sys.executable, "-m", "seqkd", "run", str(config), "--only", name],
            stdout=open(logs / f"{name}.log", "w"), stderr=subprocess.STDOUT, env=env)
            for name in group}
        status = {}
        for name, p in procs.items():
            left = None if deadline is None else max(1.0, deadline - (time.time() - t0))
            try:
                status[name] = p.wait(timeout=left)
            except subprocess.TimeoutExpired:
                p.terminate()
                status[name] = "stopped at the deadline"
                p.wait()
        done.append({"stages": group, "seconds": round(time.time() - start, 1),
                     "exit": status})
        if any(v != 0 for v in status.values()):
            break
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("report_dir")
    ap.add_argument("--deadline", type=float, help="seconds; stop what is left then")
    ap.add_argument("--plan", action="store_true", help="print the plan, run nothing")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from seqkd.errors import SeqkdError
    from seqkd.config_file import load_config
    from seqkd.plan import plan

    report_dir = Path(args.report_dir).resolve()
    has_ct2, ct2_cuda = _ctranslate2()
    try:
        cfg = load_config(args.config)
        derived = gpu_config(cfg, Path.cwd(), report_dir / "work", ct2_cuda)
        groups = waves(plan(derived, Path.cwd(), source=args.config), has_ct2)
    except SeqkdError as e:
        print(f"gpu_check: error: {e}", file=sys.stderr)
        return 1
    text = yaml.safe_dump(derived, sort_keys=False)
    if args.plan:
        print("\n".join(f"wave {i + 1}: {' '.join(g)}" for i, g in enumerate(groups)))
        print(text)
        return 0
    (report_dir / "logs").mkdir(parents=True, exist_ok=True)
    config = report_dir / "config.yaml"
    config.write_text(text, encoding="utf-8")
    t0 = time.time()
    done = run_waves(config, groups, report_dir / "logs", args.deadline, t0)
    stages = {}
    for g in groups:
        for name in g:
            stamp = report_dir / "work" / ("data" if name == "prepare" else name) / "DONE.json"
            if stamp.is_file():
                d = json.loads(stamp.read_text())
                stages[name] = {"seconds": d["seconds"], "summary": d["summary"],
                                "versions": d["versions"]}
            else:
                stages[name] = None
    import torch

    report = {"gpu": _gpu_name(), "torch": torch.__version__,
              "ctranslate2_cuda": ct2_cuda, "waves": done, "stages": stages,
              "total_seconds": round(time.time() - t0, 1), "deadline": args.deadline,
              "complete": all(v is not None for v in stages.values()),
              "command": " ".join([sys.executable, *sys.argv])}
    (report_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("gpu", "total_seconds", "complete")}))
    for w in done:
        print(f"{w['seconds']:8.1f} s  {' '.join(w['stages'])}  {w['exit']}")
    return 0 if report["complete"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
