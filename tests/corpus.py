"""A tiny synthetic parallel corpus that a tiny transformer learns in a few hundred updates.

Each source word maps to a fixed target word, in the same order, so outputs
depend on the input and a decoder that mixes up lines is caught.
"""

import random
from pathlib import Path

SRC_WORDS = [f"w{i}" for i in range(30)]
TGT_WORDS = {w: f"Z{w[1:]}x" for w in SRC_WORDS}


def sentence_pair(rng: random.Random):
    n = rng.randint(2, 7)
    src = [rng.choice(SRC_WORDS) for _ in range(n)]
    return " ".join(src), " ".join(TGT_WORDS[w] for w in src)


def write_corpus(folder: Path, n_train=2000, n_valid=100, n_test=60, seed=1, src="en", tgt="de"):
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test)):
        pairs = [sentence_pair(rng) for _ in range(n)]
        (folder / f"{split}.{src}").write_text("".join(s + "\n" for s, _ in pairs))
        (folder / f"{split}.{tgt}").write_text("".join(t + "\n" for _, t in pairs))
    return folder


def binarized(folder: Path, pair=("en", "de")) -> Path:
    """``folder`` with the one file a training's language pair is read from (bin/train.SRC-TGT
    .SRC.idx, empty): enough for the fairseq command to be built."""
    src, tgt = pair
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    (folder / "bin" / f"train.{src}-{tgt}.{src}.idx").write_bytes(b"")
    return folder
