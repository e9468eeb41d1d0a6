"""Texts with line breaks (LibreTranslate's paragraph lists, documents given to seqkd.load):
each line translated on its own, the breaks and blank lines kept as they were
(seqkd.line_breaks), and the server's limit counting lines."""

import pytest

from seqkd.line_breaks import Layout, alternatives, cut, each_line, translations
from seqkd.serve.requests import Refusal, check_line_count, check_texts


class LIMITS:
    max_texts, max_chars = 4, 100


def upper(lines, n=1):
    """A stand-in model: n-best lists whose k-th hypothesis is the line upper-cased, k marks."""
    return [[(x.upper() + "!" * k, -float(k)) for k in range(n)] for x in lines]


def test_each_line_is_a_sentence_and_the_breaks_come_back_as_they_were():
    text = "a dog\r\n\nthe cat \r\n  \nend\n"
    layout = Layout(text)
    assert layout.lines == ["a dog", "the cat ", "end"]
    assert layout.join(["X", "Y", "Z"]) == "X\r\n\nY\r\n  \nZ\n"
    # a lone carriage return is not a break (no client sends one; a file line may hold one)
    assert Layout("a\rb\nc").lines == ["a\rb", "c"]
    assert Layout("one line").lines == ["one line"]
    assert Layout("one line").join(["Eine Zeile"]) == "Eine Zeile"
    with pytest.raises(ValueError):
        layout.join(["X"])


def test_texts_are_cut_into_one_batch_and_put_back_in_order():
    texts = ["a\nb", "c", "\nd\r\ne\n"]
    layouts, lines = cut(texts)
    assert lines == ["a", "b", "c", "d", "e"]
    assert translations(layouts, upper(lines)) == ["A\nB", "C", "\nD\r\nE\n"]
    results = upper(lines, 3)
    results[3] = results[3][:2]  # a line with a shorter n-best list: one alternative only
    assert alternatives(layouts, results, 2) == [["A!\nB!", "A!!\nB!!"], ["C!", "C!!"],
                                                 ["\nD!\r\nE!\n"]]
    with pytest.raises(ValueError):
        translations(layouts, upper(lines[:-1]))
    # a text of blank lines has nothing to translate, and no alternative
    layouts, lines = cut(["\n \n"])
    assert lines == [] and translations(layouts, []) == ["\n \n"]
    assert alternatives(layouts, [], 2) == [[]]


def test_each_line_leaves_a_batch_without_breaks_as_it_is():
    calls = []

    def model(batch):
        calls.append(list(batch))
        return [x.upper() for x in batch]

    # no break anywhere: the texts go to the model as they are, a blank one too
    assert each_line(["a b", " "], model) == ["A B", " "] and calls == [["a b", " "]]
    calls.clear()
    assert each_line(["a\n\nb ", "c", ""], model) == ["A\n\nB ", "C", ""]
    assert calls == [["a", "b ", "c", ""]]  # one batch of lines


def test_line_breaks_are_taken_where_asked_and_lines_count_against_max_texts():
    assert check_texts({"q": "a\nb"}, "q", LIMITS, lines=True) == (["a\nb"], True)
    with pytest.raises(Refusal, match="holds a line break"):
        check_texts({"texts": "a\nb"}, "texts", LIMITS)
    with pytest.raises(Refusal, match=r"q\[0\] is empty"):
        check_texts({"q": ["\n \r\n"]}, "q", LIMITS, lines=True)
    check_line_count(["a"] * 4, "q", LIMITS)
    with pytest.raises(Refusal) as e:
        check_line_count(cut(["a\nb\nc", "d\ne"])[1], "q", LIMITS)
    assert e.value.status == 413 and "q holds 5 lines to translate" in e.value.message
    assert "at most 4 sentences a request (--max-texts" in e.value.message


@pytest.mark.parametrize("kind", ["exported", "fairseq"])
def test_a_stream_line_is_translated_as_given_and_an_api_text_line_by_line(kind):
    """`seqkd translate` gives the model its input lines with first_line: each is one
    sentence as given, so each output is one line; seqkd.load's translate, without it, cuts
    a text at its breaks and keeps them."""
    from seqkd.exported import ExportedModel
    from seqkd.translate import FairseqModel

    model = object.__new__(ExportedModel if kind == "exported" else FairseqModel)
    model._translate = lambda lines, first_line: [f"<{x}>" for x in lines]
    assert model.translate(["a\nb", "c"], first_line=1) == ["<a\nb>", "<c>"]
    assert model.translate(["a\nb", "c"]) == ["<a>\n<b>", "<c>"]
    assert model.translate("a\r\n\nb") == "<a>\r\n\n<b>"
