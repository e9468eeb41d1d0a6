"""Vocabulary maps: counting aligned pieces, selecting the shortlist, and what CTranslate2 is
then allowed to produce."""

import pytest

from seqkd.errors import SeqkdError
from seqkd.vocab_map import count_translations, parse_links, select
from vmap_oracle import candidates


def test_parse_links():
    assert parse_links("0-0 1-2 3-1") == [(0, 0), (1, 2), (3, 1)]
    assert parse_links("") == []


def test_counts_follow_the_links_and_cover_bigrams():
    src = [["a", "b"], ["a", "c"], ["a"]]
    tgt = [["X", "Y"], ["X", "Z"], ["W"]]
    links = [[(0, 0), (1, 1)], [(0, 0), (1, 1)], [(0, 0)]]
    table, freq = count_translations(src, tgt, links)
    assert table["a"] == {"X": 2, "W": 1}
    assert table["b"] == {"Y": 1} and table["c"] == {"Z": 1}
    assert table["a b"] == {"X": 1, "Y": 1}
    assert freq == {"X": 2, "Y": 1, "Z": 1, "W": 1}
    # an unaligned piece (NULL-aligned by the aligner) counts nothing of its own
    table, _ = count_translations([["u", "a"]], [["X"]], [[(1, 0)]])
    assert table["u"] == {} and table["a"] == {"X": 1} and table["u a"] == {"X": 1}


def test_selection_keeps_top_k_drops_rare_bigrams_and_lists_the_always_allowed():
    table, freq = count_translations(
        [["a", "b"]] * 30, [["X", "Y", "Q"]] * 30, [[(0, 0), (0, 2), (1, 1)]] * 30)
    lines = select(table, freq, top_k=1, always=1, min_bigram_count=20)
    assert lines[0].startswith("\t") and len(lines[0].split()) == 1
    rules = dict(x.split("\t") for x in lines[1:])
    assert rules["a"] in ("X", "Q") and rules["b"] == "Y" and "a b" in rules
    lines = select(table, freq, top_k=1, always=1, min_bigram_count=1000)
    assert "a b" not in dict(x.split("\t") for x in lines[1:])
    with pytest.raises(SeqkdError):
        select(table, freq, top_k=0, always=1)


def test_candidates_are_the_union_over_the_sources_pieces():
    lines = ["\tthe", "a\tX", "b\tY", "a b\tZ"]
    assert candidates(lines, ["a", "b"]) == {"the", "X", "Y", "Z"}
    assert candidates(lines, ["b"]) == {"the", "Y"}


def test_misaligned_inputs_are_refused():
    with pytest.raises(SeqkdError, match="line-aligned"):
        count_translations([["a"]], [["X"], ["Y"]], [[]])
