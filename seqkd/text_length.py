"""How long a sentence is, in words, in any script: for the length rules (prepare's
``max_len`` and ``max_ratio``, the monolingual corpora's ``max_len``, distill's
``max_len_ratio``), for speeds in words/s, and the units a loop is looked for in.

Words are what white space separates, but Chinese and Japanese are written without spaces,
and Thai, Lao, Khmer, Myanmar and Tibetan put none between words: counted so, a whole
sentence of them is one word, every pair with an English side fails a length ratio of 3, and
no line is ever too long. Here a Han character (Chinese, Japanese kanji) counts as a word,
every 2 kana (Hiragana, Katakana) as one, and every 4 letters of Thai, Lao, Khmer, Myanmar
or Tibetan as one, so that a sentence and its English translation come out of lengths alike
("A man is riding a bike." is 6 words, "一个男人在骑自行车。" 9, "男性が自転車に乗っています。"
10, "ผู้ชายกำลังขี่จักรยาน" 4) and stay within the length rules' ratio of 3. A sentence
without such characters is counted by its white space, as before, and as fast.
"""

from __future__ import annotations

import re
from typing import Iterable, List, Tuple

#: (characters, how many of them make a word)
_SCRIPTS: Tuple[Tuple[str, int], ...] = (
    # Han: CJK unified ideographs, extension A, compatibility ideographs, extensions B on
    ("\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f", 1),
    # Hiragana, Katakana, its phonetic extensions and half-width forms
    ("\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f", 2),
    # the letters of Thai, Lao, Khmer, Myanmar and Tibetan (their combining vowels and tone
    # marks aside, and Tibetan's subjoined letters: a syllable's stack counts as its root)
    ("\u0e01-\u0e30\u0e32\u0e33\u0e40-\u0e46\u0e81-\u0eb0\u0eb2\u0eb3\u0ebd-\u0ec6"
     "\u1780-\u17b3\u1000-\u102a\u103f-\u1055\u0f40-\u0f6c", 4),
)
_CLASSES = tuple((re.compile(f"[{chars}]"), per_word) for chars, per_word in _SCRIPTS)
_UNSPACED = re.compile(f"[{''.join(chars for chars, _ in _SCRIPTS)}]")
#: the characters that are units of their own in a loop (Han and kana)
_SPLIT = re.compile(f"([{_SCRIPTS[0][0]}{_SCRIPTS[1][0]}])")
#: what else a word may hold that is a word of its own beside them (a Latin name, a number)
_OTHER = re.compile(f"[^\\W{''.join(chars for chars, _ in _SCRIPTS)}]")

#: how lengths are counted, for settings' help and messages
UNIT = ("words (in Chinese and Japanese a Han character is one, 2 kana are one; 4 letters of "
        "Thai, Lao, Khmer, Myanmar or Tibetan are one)")


def words(text: str) -> int:
    """The length of ``text`` in words, as the module says (0 for an empty text)."""
    if not _UNSPACED.search(text):
        return len(text.split())
    return sum(_word(w) for w in text.split())


def units(text: str) -> List[str]:
    """The text's words, each Han character and each kana its own (a morpheme or a syllable):
    the units in which a loop of a few words shows in any script ("on the beach on the beach
    on the beach", "一个男人一个男人一个男人")."""
    if not _SPLIT.search(text):
        return text.split()
    return [u for w in text.split() for u in _SPLIT.split(w) if u]


def total(texts: Iterable[str]) -> int:
    """The words of all ``texts`` (what a speed in words/s counts)."""
    return sum(words(t) for t in texts)


def _word(word: str) -> int:
    """One white-space word holding characters of a script written without spaces."""
    count = sum(-(-len(pattern.findall(word)) // per_word) for pattern, per_word in _CLASSES)
    return count + (1 if _OTHER.search(word) or not count else 0)
