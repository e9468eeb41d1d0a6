"""The bench as ``seqkd run`` and the command line see it: the ``bench`` section planned
into one stage (``bench/``), and ``seqkd bench``."""

from __future__ import annotations

from seqkd.options import add_arguments, add_common, config_from
from seqkd.stages.base import StageKind, lazy, runner
from seqkd.stages.bench.plan import plan
from seqkd.stages.bench.systems import SYNTAX, options_help


_settings = lazy("seqkd.stages.bench.config", "BenchConfig")
_run = runner("seqkd.stages.bench.stage", "bench", quiet=True)


def build_bench(sub) -> None:
    p = sub.add_parser("bench", help="speed, latency, memory, size and BLEU/chrF side by side",
                       description="Measure systems on test sets in one run: words/sec "
                                   "(1 thread pinned, and more), latency at batch 1, peak "
                                   "memory, size, sacrebleu BLEU and chrF. Writes report.json, "
                                   "report.md and plot.png.")
    p.add_argument("--data", required=True, help="prepare output folder (test sets, SPM)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--system", action="append", required=True, metavar=SYNTAX,
                   help="a system to measure (repeatable): KIND fairseq (a checkpoint or "
                        "train folder) or ct2 (an export folder, or a converted CTranslate2 "
                        f"model); the keys: {options_help()}".replace("%", "%%"))
    add_arguments(p, _settings(), skip=("systems",))
    add_common(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from seqkd.stages.bench.stage import bench
    from seqkd.stages.bench.systems import SystemSpec

    cfg = config_from(_settings(), args, out_dir=args.out,
                      systems=[SystemSpec.parse(s) for s in args.system],
                      test_sets=args.test_sets or [])
    bench(cfg, force=args.force, quiet=args.quiet)
    return 0


def build_compare(sub) -> None:
    p = sub.add_parser("compare", help="a bench report's differences and seed groups again, "
                                       "from its outputs",
                       description="Recompute the paired bootstrap intervals of a bench "
                                   "report (every system against the first, every KD student "
                                   "against its baseline, the declared pairs, and --pair) and "
                                   "its seed groups from the systems' outputs and the "
                                   "references; fails when a difference the report holds "
                                   "does not come out again.")
    p.add_argument("report", help="a bench report.json")
    p.add_argument("--outputs", required=True, help="the systems' outputs: the bench's "
                   "outputs/ folder, or a copy of it with the files gzipped")
    p.add_argument("--data", required=True, help="the prepare output folder the bench read "
                   "(its references)")
    p.add_argument("--pair", action="append", default=[], metavar="SYSTEM,AGAINST",
                   help="a further pair to compare: SYSTEM minus AGAINST (repeatable)")
    p.add_argument("--json", help="also write the comparisons and seed groups to this file")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    import json
    from pathlib import Path

    from seqkd.stages.bench.compare import markdown_rows, recompute, seed_rows
    from seqkd.textio import write_text

    got = recompute(Path(args.report), Path(args.outputs), Path(args.data), args.pair)
    if args.json:
        write_text(Path(args.json), json.dumps(got, indent=2) + "\n")
    print("\n".join(markdown_rows(got["comparisons"]) + [""] + seed_rows(got["seeds"])))
    return 0


KIND = StageKind("bench", _settings, _run, sections=("bench",), plan=plan,
                 commands=(build_bench, build_compare),
                 produces="report.json (rows, signature, comparisons with intervals, "
                 "seed groups), report.md, plot.png, outputs/", alone=True)
