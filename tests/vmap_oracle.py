"""The target pieces a vocabulary map allows for a source, as CTranslate2 computes them: an
oracle for the tests."""

from typing import Iterable, Sequence


def candidates(lines: Iterable[str], source: Sequence[str]) -> set:
    """The target pieces a vmap allows for ``source`` (unigrams and bigrams)."""
    rules = {}
    for line in lines:
        key, _, vals = line.partition("\t")
        rules[key] = vals.split()
    out = set(rules.get("", []))
    for i, p in enumerate(source):
        out.update(rules.get(p, []))
        if i + 1 < len(source):
            out.update(rules.get(f"{p} {source[i + 1]}", []))
    return out
