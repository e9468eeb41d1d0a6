"""The subcommands around the stages: translate, run (a whole config), kd-gain and
scale-bench; each a parser builder and a thin command."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from seqkd.options import add_arguments, config_from
from seqkd.errors import SeqkdError

logger = logging.getLogger("seqkd.cli")


def build_translate(sub) -> None:
    from seqkd.translate import TranslateConfig

    p = sub.add_parser("translate", help="translate stdin to stdout with an exported model "
                                         "(or fairseq checkpoints)",
                       description="Read raw text on standard input, write detokenized "
                                   "translations on standard output, one line per line. "
                                   "MODEL is an `seqkd export` folder (CTranslate2), or a "
                                   "fairseq checkpoint or `seqkd train` folder with --data "
                                   "(and --ensemble for more members): a teacher as the "
                                   "pipeline decodes it.")
    p.add_argument("model", help="an `seqkd export` output folder, or a fairseq checkpoint "
                                 "(file or `seqkd train` folder) with --data")
    add_arguments(p, TranslateConfig)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_translate, interrupted="the translations before it were written, "
                   "and a re-run translates the input from its first line")


def cmd_translate(args) -> int:
    from seqkd.translate import TranslateConfig, translate_stream

    cfg = config_from(TranslateConfig, args)
    for stream, name, how in ((sys.stdin, "standard input", "< FILE"),
                              (sys.stdout, "standard output", "> FILE")):
        if stream is None:  # its file descriptor was closed by whatever started seqkd
            raise SeqkdError(f"{name} is closed: translate reads text on standard input and "
                             f"writes on standard output (seqkd translate MODEL {how})")
    model = cfg.load()
    n = translate_stream(model, sys.stdin.buffer, sys.stdout, batch_lines=cfg.batch_lines)
    logger.info("translated %d lines", n)
    return 0


def build_run(sub) -> None:
    p = sub.add_parser("run", help="run the whole pipeline from one YAML config",
                       description="Run every stage of a config (see pipelines/*.yaml) into its "
                                   "work_dir. Finished stages are skipped, interrupted ones "
                                   "resume; a stage whose settings changed runs again with "
                                   "every stage that depends on it.")
    p.add_argument("config", help="YAML config, e.g. pipelines/tiny.yaml")
    p.add_argument("--only", nargs="+", metavar="STAGE",
                   help="run only these stages (names as printed, e.g. prepare teacher)")
    p.add_argument("--restart", nargs="+", metavar="STAGE", default=[],
                   help="start these stages over: their folders and those of every stage "
                        "that depends on them are emptied first (the one way to start over)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="run up to N stages side by side when neither depends on the other "
                        "(e.g. two students on a machine with cores for both; each then logs "
                        "to its folder's log.txt only, and an automatic thread count is its "
                        "share of the cores; a bench runs alone) (default: 1)")
    p.add_argument("--device", choices=("cpu", "cuda"),
                   help="run every stage on this device without editing the config: on cuda "
                        "the trainings in mixed precision, the distillations with CTranslate2 "
                        "float16 (fairseq when CTranslate2 sees no GPU), and no bench (a CPU "
                        "protocol); on cpu every stage on the CPU")
    p.add_argument("--check", action="store_true",
                   help="judge the config whole (every setting and every rule that combines "
                        "settings), print the stages and what each depends on, run nothing")
    p.add_argument("--status", action="store_true",
                   help="say where each stage stands (done, not started, unfinished and how "
                        "far it got, running now, or what makes it run again), write nothing")
    p.add_argument("--json", action="store_true",
                   help="with --status: the same as a JSON list, one object a stage (stage, "
                        "kind, folder, state, finished, and as they apply running, "
                        "finished_at, seconds, changed, after, progress), for scripts")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from seqkd.config_file import load_config
    from seqkd.plan import plan
    from seqkd.plan.device import on_device
    from seqkd.run import check_choices, check_needs, run

    if args.json and not args.status:
        raise SeqkdError("--json goes with --status (seqkd run CONFIG --status --json); "
                         "a run prints what each stage did as JSON already")
    if args.check or args.status:
        cfg = load_config(args.config)
        steps = plan(on_device(cfg, args.device) if args.device else cfg, Path.cwd(),
                     str(args.config))
        # the command checked is the one given: its --only, --restart and --jobs too
        check_choices(steps, args.only, args.restart, args.jobs, args.config)
        if args.check and args.only:
            check_needs(steps, args.only, args.restart, args.config)
        from seqkd.plan.status import status, table
        from seqkd.stages.registry import kind

        if args.status:
            rows = status(steps)
            print(json.dumps(rows, indent=2) if args.json else table(rows).rstrip("\n"))
            return 0
        from seqkd.plan.status import elsewhere_hint, missing_inputs

        missing = missing_inputs(steps, [s.name for s in steps])
        for stage, path in missing:
            logger.warning(
                "%s reads %s, which is not there now: a run of it is refused until it is",
                stage, path)
        hint = elsewhere_hint([path for _, path in missing], args.config)
        if hint:
            logger.warning(hint)
        print(json.dumps({s.name: {"kind": s.kind, "folder": str(s.out_dir), "after": s.deps,
                                   "produces": kind(s.kind).produces} for s in steps},
                         indent=2))
        return 0
    status = run(args.config, only=args.only, restart=args.restart, quiet=args.quiet,
                 jobs=args.jobs, device=args.device)
    print(json.dumps(status, indent=2))
    return 0


def build_kd_gain(sub) -> None:
    p = sub.add_parser("kd-gain", help="the KD gain over same-shape baselines against speed, "
                                       "from a bench report",
                       description="Pair each KD student of a bench report with the baseline "
                                   "of the same name suffix (seqkd-X with baseline-X) and "
                                   "write the BLEU gain against the student's words/s: "
                                   "kd-gain.md, kd-gain.json, kd-gain.png.")
    p.add_argument("report", help="a bench report.json")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--beam", type=int, default=1, help="the beam the plot shows (default: 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    p.set_defaults(func=cmd_kd_gain)


def cmd_kd_gain(args) -> int:
    from seqkd.kd_gain import markdown, write

    print(markdown(write(args.report, args.out, args.beam)), end="")
    return 0


def build_scale_bench(sub) -> None:
    from seqkd.scale import ScaleConfig

    p = sub.add_parser("scale-bench", help="how prepare, distill and translate scale: a "
                                           "generated corpus of the size asked, measured",
                       description="Generate a corpus of --pairs lines (two Multi30k pairs a "
                                   "line; the mirror or the registry supplies Multi30k), run "
                                   "the --stages on it as whole seqkd processes, one after "
                                   "another, and write their wall time and peak memory to "
                                   "figures.json and figures.md. A benchmark: run it alone on "
                                   "the machine.")
    p.add_argument("--out", required=True, help="output folder (corpus, stage outputs, "
                                                "figures)")
    add_arguments(p, ScaleConfig)
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    p.set_defaults(func=cmd_scale_bench)


def cmd_scale_bench(args) -> int:
    from seqkd.scale import ScaleConfig, markdown, scale_bench

    print(markdown(scale_bench(config_from(ScaleConfig, args, out_dir=args.out))), end="")
    return 0
