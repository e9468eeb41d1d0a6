"""What a request to seqkd serve says, read and checked without a server: JSON and
urlencoded forms, the bodies that are neither (each a 4xx that says what to fix), the texts
against the limits, LibreTranslate's alternatives and seqkd's own /v1 options."""

import json
from types import SimpleNamespace

import pytest

from seqkd.serve.requests import (Refusal, alternatives, check_texts, read_fields,
                                  v1_options)

FORM = "application/x-www-form-urlencoded"
LIMITS = SimpleNamespace(max_texts=3, max_chars=20)


def refused(call, status, message):
    with pytest.raises(Refusal) as e:
        call()
    assert e.value.status == status and message in e.value.message, e.value.message


def test_json_and_forms_are_read_alike():
    assert read_fields(b'{"q": "Ein Hund", "source": "en"}', "application/json", "") == {
        "q": "Ein Hund", "source": "en"}
    # LibreTranslate's clients send forms: percent-encoded UTF-8, a repeated key a list
    assert read_fields("q=A+d%C3%B6g&source=en&target=".encode(), FORM, "") == {
        "q": "A dög", "source": "en", "target": ""}
    assert read_fields(b"q=a&q=b", f"{FORM}; charset=utf-8", "")["q"] == ["a", "b"]
    # JSON sent as a form (curl -d sets that type) is JSON
    assert read_fields(b' {"q": "x"}', FORM, "") == {"q": "x"}


@pytest.mark.parametrize("body,kind,status,message", [
    (b"q=%FF%FE", FORM, 400, "percent-encoded bytes that are not UTF-8"),
    (b"--x\r\n\r\nq\r\n--x--", "multipart/form-data; boundary=x", 415, "urlencoded"),
    (b"\xffq=a", FORM, 400, "not UTF-8 (byte 0)"),
    (b"a dog", "text/plain", 400, 'not valid JSON (Expecting value: line 1 column 1 (char 0));'
                                  ' send a JSON object such as {"q": 1}'),
    (b'"a dog"', "application/json", 400, "must be a JSON object, got str"),
    (b'{"q": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json", 400,
     "nests JSON arrays or objects too deeply"),
])
def test_bodies_that_are_not_fields_are_refused(body, kind, status, message):
    refused(lambda: read_fields(body, kind, '{"q": 1}'), status, message)


def test_texts_are_checked_against_the_limits():
    assert check_texts({"q": "a dog"}, "q", LIMITS) == (["a dog"], True)
    assert check_texts({"q": ["a", "b"]}, "q", LIMITS) == (["a", "b"], False)
    for value, status, message in (
            (None, 400, "missing q"), (5, 400, "must be a string or a list of strings, got int"),
            (["a", None], 400, "q[1] must be a string, got null"), ([], 400, "empty list"),
            (["a"] * 4, 413, "at most 3 a request (--max-texts)"),
            (["a", " "], 400, "q[1] is empty"), (" ", 400, "q is empty"),
            ("x" * 21, 413, "at most 20 a text"),
            (["a\rb"], 400, "q[0] holds a line break"),
            # JSON's "\ud800" without its pair: not a character, and no encoder takes it
            (["a", json.loads('"a\\ud800"')], 400,
             "q[1]: character 2 is U+D800, half of a UTF-16 surrogate pair")):
        refused(lambda: check_texts({"q": value}, "q", LIMITS), status, message)
    # the other API's field: said where it goes
    refused(lambda: check_texts({"texts": ["a"]}, "q", LIMITS), 400,
            "missing q: give the text to translate (a string, or a list of strings) (texts is "
            "the field of seqkd's own API, POST /v1/translate; here it is q)")
    refused(lambda: check_texts({"q": "a"}, "texts", LIMITS), 400,
            "(q is the field of LibreTranslate's API, POST /translate; here it is texts)")


def test_alternatives_and_v1_options():
    assert alternatives(None, 8) == 0 and alternatives("3", 8) == 3 and alternatives(7, 8) == 7
    refused(lambda: alternatives(8, 8), 400, "from 0 to 7 (--max-nbest 8)")
    refused(lambda: alternatives(True, 8), 400, "whole number")
    assert v1_options({"texts": []}, 4, 8) == (4, 1)
    assert v1_options({"texts": [], "beam": 5, "nbest": 5, "api_key": "k"}, 1, 8) == (5, 5)
    refused(lambda: v1_options({"beam": 2, "nbest": 3}, 1, 8), 400,
            'cannot exceed beam (2): send "beam": 3 or more')
    refused(lambda: v1_options({"nbest": 2}, 1, 8), 400,
            "nbest (2) cannot exceed beam (1, this server's --beam, as the request sends none): "
            'send "beam": 2 or more')
    refused(lambda: v1_options({"beam": 0}, 1, 8), 400, "beam must be a whole number from 1")
    refused(lambda: v1_options({"nbest": 9}, 1, 8), 400, "nbest must be a whole number from 1 to 8")
    # seqkd's own API says a misspelt option instead of ignoring it
    refused(lambda: v1_options({"texts": [], "nbset": 3}, 1, 8), 400,
            "unknown field(s) 'nbset': /v1/translate takes api_key, beam, nbest, texts")


def test_the_served_card_says_what_the_model_is_and_not_where_it_was_built():
    from seqkd.serve.app import served_card

    card = {"source_checkpoint": "/home/me/run/student/checkpoint_best.pt",
            "source_sha256": "ab" * 32, "quantization": "int8", "languages": ["en", "de"],
            "shape": {"width": 256}, "size_bytes": 5, "scores": None,
            "vocabulary_map": {"entries": 5, "top_k": 20, "data": "/home/me/run/data"},
            "training_command": "fairseq-train /home/me/run/data/bin",
            "converter": "ctranslate2.converters.FairseqConverter", "versions": {"seqkd": "0"}}
    served = served_card(card)
    assert "/home/me" not in json.dumps(served) and "converter" not in served
    assert served["vocabulary_map"] == {"entries": 5, "top_k": 20}
    assert {k: served[k] for k in ("source_sha256", "languages", "shape", "versions")} == {
        k: card[k] for k in ("source_sha256", "languages", "shape", "versions")}
    assert card["vocabulary_map"]["data"] == "/home/me/run/data"  # the card itself unchanged
