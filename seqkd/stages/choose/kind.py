"""The choose room as ``seqkd run`` and the command line see it: a config's ``choose``
section planned into one stage after the bench (``choose/``, reading ``bench/report.json``),
and ``seqkd choose REPORT`` over any bench report."""

from __future__ import annotations

from seqkd.options import add_arguments, add_common, config_from
from seqkd.stages.base import StageKind, lazy, runner
from seqkd.stages.choose.select import candidates_of

_settings = lazy("seqkd.stages.choose.runner", "ChooseConfig")
_run = runner("seqkd.stages.choose.runner", "choose_stage")


def build_choose(sub) -> None:
    p = sub.add_parser("choose", help="choose a system on development sets of a bench report, "
                                      "and say what the report claims of it elsewhere",
                       description="Among the candidate systems of a bench report, the one "
                                   "with the best mean score over the choosing sets (--on: "
                                   "development data) that is at least --min-speedup times as "
                                   "fast as --against on each; then the report's paired "
                                   "comparisons of it on every other set. No score of another "
                                   "set is read for the choice.")
    p.add_argument("report", help="a bench report.json")
    p.add_argument("--out", help="also write choice.json and choice.md into this folder (a "
                                 "stage folder, as a config's choose section makes)")
    p.add_argument("--json", help="also write the choice to this file")
    add_arguments(p, _settings(), skip=("report",))
    add_common(p)
    p.set_defaults(func=cmd_choose)


def cmd_choose(args) -> int:
    import json
    from pathlib import Path

    from seqkd.stages.choose.runner import choose_stage, make_choice
    from seqkd.stages.choose.select import markdown
    from seqkd.textio import write_text

    cfg = config_from(_settings(), args, out_dir=args.out or "")
    choice = choose_stage(cfg, force=args.force) if args.out else make_choice(cfg)
    if args.json:
        write_text(Path(args.json), json.dumps(choice, indent=2) + "\n")
    print(markdown(choice), end="")
    return 0


def plan(p) -> None:
    """A ``choose`` section: one stage over the bench's report, its choosing sets checked
    against the sets the bench measures, before anything runs."""
    section = p.section("choose")
    if not section:
        return
    bench = p.planned("bench")
    if bench is None:
        if p.cfg.get("bench"):  # a bench with problems of its own (said): choose's own too
            p.settings("choose", section, "choose", report="", out_dir="")
        else:
            p.problems.add("choose: there is no bench to choose from; add a bench section")
        return
    on = section.get("choosing_sets")
    if not isinstance(on, list) or not on:
        p.problems.add(f"choose: choosing_sets must name the sets to choose on (e.g. [valid, "
                       f"test_2016_flickr]), got {on!r}")
        return
    measured = bench.config.test_sets
    for t in on:
        if measured and t not in measured:
            p.problems.add(f"choose: choosing set {t!r}: the bench measures "
                           f"{', '.join(measured)}")
    if measured and not set(measured) - set(on):
        p.problems.add("choose: every set the bench measures is a choosing set; a claim needs "
                       "a set the choice did not look at")
    names = [s.name for s in bench.config.systems]
    against = section.get("against") or (names[0] if names else None)
    if against not in names:
        p.problems.add(f"choose: against {against!r}: the bench has no such system")
    patterns = section.get("candidates", ["*"])
    if isinstance(patterns, list) and not candidates_of(names, against, patterns):
        p.problems.add(f"choose: no system of the bench but {against} matches candidates "
                       f"{patterns}; its systems: {', '.join(names)}")
    p.step("choose", "choose", p.work / "choose", section, "choose",
           report=str(bench.out_dir / "report.json"))


KIND = StageKind("choose", _settings, _run, sections=("choose",), plan=plan,
                 commands=(build_choose,),
                 produces="choice.json, choice.md (the candidates ranked on the choosing "
                 "sets, the chosen system, the report's comparisons of it elsewhere)")
