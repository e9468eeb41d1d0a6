"""Texts with line breaks, as a paragraph list or a document comes (LibreTranslate's clients
send them to ``seqkd serve``; ``seqkd.load(...).translate`` takes them too): each line is a
sentence of its own to the model, and the translation keeps the text's line breaks
(``\\n`` or ``\\r\\n``, each as it was) and its blank lines.

A sentence-level model given several lines as one sequence translates them badly (it learned
one sentence a line) and may drop some; so the lines are translated in one batch and each
translation is put where its line was."""

from __future__ import annotations

import re
from typing import Callable, List, Sequence, Tuple

#: a sentence's n-best list of (text, score), as the batcher gives it
Result = List[Tuple[str, float]]
#: a line break as editors and browsers write them (a lone carriage return is not one: no
#: client sends it so, and a line read from a file may hold one)
LINE_BREAK = re.compile(r"(\r?\n)")


class Layout:
    """One text cut at its line breaks: :attr:`lines`, what the model translates (the lines
    with text, in order), and :meth:`join`, the text again with each translated in place."""

    def __init__(self, text: str):
        #: lines at even places, the breaks between them at odd ones
        self.pieces = LINE_BREAK.split(text)
        #: the places of the lines with text (a blank line among others stays as it is; a
        #: text without a break is one line, whatever it holds)
        self.slots = [i for i in range(0, len(self.pieces), 2)
                      if self.pieces[i].strip() or len(self.pieces) == 1]

    @property
    def lines(self) -> List[str]:
        return [self.pieces[i] for i in self.slots]

    def join(self, translations: Sequence[str]) -> str:
        """The text with line ``k`` of :attr:`lines` replaced by ``translations[k]``."""
        if len(translations) != len(self.slots):
            raise ValueError(f"{len(translations)} translations for {len(self.slots)} lines")
        out = list(self.pieces)
        for i, t in zip(self.slots, translations):
            out[i] = t
        return "".join(out)


def cut(texts: Sequence[str]) -> Tuple[List[Layout], List[str]]:
    """The layouts of ``texts`` and all their lines in one list (one batch for the model)."""
    layouts = [Layout(t) for t in texts]
    return layouts, [line for layout in layouts for line in layout.lines]


def _per_text(layouts: Sequence[Layout], results: Sequence[Result]) -> List[List[Result]]:
    """The n-best lists of :func:`cut`'s lines, grouped by text."""
    out, at = [], 0
    for layout in layouts:
        out.append(list(results[at:at + len(layout.slots)]))
        at += len(layout.slots)
    if at != len(results):
        raise ValueError(f"{len(results)} n-best lists for {at} lines")
    return out


def translations(layouts: Sequence[Layout], results: Sequence[Result]) -> List[str]:
    """Each text translated: each of its lines replaced by its best hypothesis."""
    return [layout.join([r[0][0] for r in lists])
            for layout, lists in zip(layouts, _per_text(layouts, results))]


def alternatives(layouts: Sequence[Layout], results: Sequence[Result],
                 n: int) -> List[List[str]]:
    """Up to ``n`` other translations of each text: the k-th has each line's k-th
    hypothesis after its best (as many as the shortest of its lines' lists allows)."""
    out = []
    for layout, lists in zip(layouts, _per_text(layouts, results)):
        have = min(n, min((len(r) for r in lists), default=1) - 1)
        out.append([layout.join([r[k][0] for r in lists]) for k in range(1, have + 1)])
    return out


def each_line(texts: List[str], translate: Callable[[List[str]], List[str]]) -> List[str]:
    """``translate(texts)``, where a text with line breaks has each of its lines translated
    (in the same batch) and its breaks kept; texts without one go to ``translate`` as they
    are."""
    if not any(LINE_BREAK.search(t) for t in texts):
        return translate(texts)
    layouts, lines = cut(texts)
    out = translate(lines)
    return translations(layouts, [[(x, 0.0)] for x in out])
