"""What the test lines a student learned from move: each pair of systems' difference on a test
set with every line, and without the lines whose source is also a line of a monolingual corpus
the students were distilled from (a data folder prepared before commit 1d384f1 kept them).

    python scripts/scored_overlap.py DATA OUTPUTS TEST SYSTEM:BASELINE [SYSTEM:BASELINE ...]
    python scripts/scored_overlap.py DATA OUTPUTS TEST REPORT.json

DATA: the prepare folder (text/TEST.en and .de, mono/text/*.en); OUTPUTS: a bench's outputs
folder (SYSTEM.t1.TEST.txt, or .txt.gz as committed under docs/); REPORT.json: a bench report,
whose BLEU comparisons on TEST at one thread are the pairs. Prints a Markdown table: each
pair's BLEU difference with its paired bootstrap 95 % interval (the bench report's), on all
lines and without the overlapping ones."""
import json
import sys
from pathlib import Path

from seqkd.significance import paired_bootstrap
from seqkd.stages.prepare.cleaning import normalize
from seqkd.textio import read_lines as lines


def output(outputs: Path, system: str, test: str):
    for name in (f"{system}.t1.{test}.txt", f"{system}.{test}.txt"):
        for p in (outputs / name, outputs / f"{name}.gz"):
            if p.is_file():
                return lines(p)
    raise SystemExit(f"no output of {system} on {test} in {outputs}")


def pairs(args, test: str):
    """(system, baseline) pairs: given as SYSTEM:BASELINE, or a bench report's comparisons."""
    if len(args) == 1 and args[0].endswith(".json"):
        report = json.loads(Path(args[0]).read_text())
        return list(dict.fromkeys(
            (c["system"], c["against"]) for c in report["comparisons"]
            if c["metric"] == "bleu" and c["test_set"] == test and c["threads"] == 1))
    return [tuple(x.split(":")) for x in args]


def main(argv):
    if len(argv) < 4:
        raise SystemExit(__doc__)
    data, outputs, test = Path(argv[0]), Path(argv[1]), argv[2]
    src, ref = lines(data / "text" / f"{test}.en"), lines(data / "text" / f"{test}.de")
    mono = {normalize(x) for f in sorted((data / "mono" / "text").glob("*.en")) for x in lines(f)}
    keep = [i for i, s in enumerate(src) if normalize(s) not in mono]
    print(f"{test}: {len(src) - len(keep)} of {len(src)} sources are monolingual lines too\n")
    print("| system − baseline | BLEU, all lines | BLEU, without them |")
    print("|---|---|---|")
    for system, baseline in pairs(argv[3:], test):
        hyp, base = output(outputs, system, test), output(outputs, baseline, test)
        whole = paired_bootstrap(base, hyp, ref, "bleu")
        part = paired_bootstrap([base[i] for i in keep], [hyp[i] for i in keep],
                                [ref[i] for i in keep], "bleu")
        print(f"| {system} − {baseline} | {whole.format()} | {part.format()} |")


if __name__ == "__main__":
    main(sys.argv[1:])
