"""Count the output lines that loop to the length limit: more than twice the source's
SentencePiece pieces plus 10 (how docs/RESULTS.md counts a student's loops).

    python scripts/count_loops.py SPM DATA OUTPUTS SYSTEM:TEST [SYSTEM:TEST ...]

SPM: the SentencePiece model; DATA: the prepare folder (its text/TEST.en); OUTPUTS: a bench's
outputs folder (SYSTEM.t1.TEST.txt, or .txt.gz as committed under docs/)."""
import gzip
import sys
from pathlib import Path

import sentencepiece as spm


def lines(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def main(argv):
    sp = spm.SentencePieceProcessor(model_file=argv[0])
    data, outputs = Path(argv[1]), Path(argv[2])
    for name in argv[3:]:
        system, test = name.split(":")
        out = outputs / f"{system}.t1.{test}.txt"
        src = lines(data / "text" / f"{test}.en")
        hyp = lines(out if out.is_file() else out.with_suffix(".txt.gz"))
        n = sum(len(sp.encode(h)) > 2 * len(sp.encode(s)) + 10 for s, h in zip(src, hyp))
        print(f"{system}\t{test}\t{n} of {len(hyp)}")


if __name__ == "__main__":
    main(sys.argv[1:])
