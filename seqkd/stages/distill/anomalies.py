"""What makes a distilled pair look wrong (the distill filter's rules): an empty output, a
length far from the source's, a loop of words or a loop inside one word that the source does
not have, a low teacher score; and what to say when every pair is filtered out."""

from __future__ import annotations

import re
from typing import Dict, Optional, Sequence

from seqkd import text_length


def tandem_repeat(words: Sequence[str], repeats: int, max_n: int = 4) -> Optional[str]:
    """The first n-gram (n <= ``max_n``) that occurs ``repeats`` times in a row, or None.

    This is how a looping decoder shows: "on the beach on the beach on the beach".
    """
    if repeats < 2:
        return None
    for n in range(1, max_n + 1):
        for i in range(0, len(words) - n * repeats + 1):
            gram = words[i:i + n]
            if all(words[i + k * n:i + (k + 1) * n] == gram for k in range(1, repeats)):
                return " ".join(gram)
    return None


def word_loop(text: str, repeats: int) -> Optional[str]:
    """The first run, inside one word, of up to 4 characters repeated ``repeats`` times in a
    row ("Ammmmmer", "Helelelel"), or None."""
    found = re.search(r"(\S{1,4}?)\1{%d,}" % (repeats - 1), text) if repeats >= 2 else None
    return found.group(0) if found else None


def anomaly(src: str, hyp: str, score: float, min_score: Optional[float],
            max_len_ratio: float, loop_repeats: int = 0,
            word_loop_repeats: int = 0) -> Optional[str]:
    """Why a distilled pair looks wrong, or None."""
    if not hyp.strip():
        return "empty"
    ls, lh = text_length.words(src), text_length.words(hyp)
    if max(ls, lh) / max(1, min(ls, lh)) > max_len_ratio:
        return "length_ratio"
    if loop_repeats and tandem_repeat(text_length.units(hyp), loop_repeats) is not None \
            and tandem_repeat(text_length.units(src), loop_repeats) is None:
        return "loop"
    if word_loop_repeats and word_loop(hyp, word_loop_repeats) is not None \
            and word_loop(src, word_loop_repeats) is None:
        return "word_loop"
    if min_score is not None and score < min_score:
        return "low_score"
    return None


def all_filtered_message(n: int, reasons: Dict[str, int], empty_dropped: int) -> str:
    """What to say when no distilled pair is left: the count of each reason and its likely
    cause."""
    counts = dict(reasons)
    if empty_dropped:
        counts["empty (--empty drop)"] = counts.get("empty (--empty drop)", 0) + empty_dropped
    listed = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    top = max(counts, key=counts.get) if counts else ""
    hint = {
        "loop": "the teacher repeats itself, as an under-trained teacher does: train it "
                "longer, or check that it is the teacher you meant",
        "word_loop": "the teacher's words repeat characters, as an under-trained teacher's "
                     "do: train it longer, or raise --word-loop-repeats",
        "length_ratio": "the outputs' lengths are far from the sources': check the teacher "
                        "and its language direction, or raise --max-len-ratio",
        "low_score": "the teacher's scores are under --min-score: lower it or leave it unset",
        "empty": "the teacher produced empty outputs: check the teacher and its vocabulary",
    }.get(top.split(" ")[0], "check the teacher")
    return (f"every one of the {n} distilled pairs was filtered out ({listed}; "
            f"filter.tsv lists each line); likely cause: {hint}")
