"""What a request to ``seqkd serve`` says, checked before anything is translated: its fields
(JSON, or a urlencoded form as LibreTranslate's clients send), its texts against the server's
limits, and its numbers. Every problem is a :class:`Refusal`, an HTTP status and what to fix;
no field names a file."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl

from seqkd.textio import unicode_problem

#: the fields of a /v1/translate request (LibreTranslate's /translate ignores what it does
#: not know, as LibreTranslate does)
V1_FIELDS = frozenset({"texts", "beam", "nbest", "api_key"})


class Refusal(Exception):
    """A request answered with an error: ``status`` and what to do (change the request, or
    try again later)."""

    def __init__(self, status: int, message: str, headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def whole_number(name: str, value: Any, low: int, top: int, why: str = "") -> int:
    """``value`` as a request field that must be a whole number from ``low`` to ``top`` (not
    a bool), or a 400 that names the range (and ``why`` it ends there)."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= top:
        raise Refusal(400, f"{name} must be a whole number from {low} to {top}{why}, got "
                              f"{value!r}")
    return value


def read_fields(raw: bytes, content_type: str, example: str) -> Dict[str, Any]:
    """A request body's fields: a JSON object, or a urlencoded form (a repeated key gives a
    list). ``example`` is a JSON request to show when the body is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refusal(400, f"the request body is not UTF-8 (byte {e.start}): send UTF-8 "
                              "text") from None
    kind = content_type.split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        raise Refusal(415, "multipart form bodies are not read here: send JSON, or a form as "
                           "application/x-www-form-urlencoded")
    # JSON sent as a form (curl -d without a content type) is read as JSON
    if kind == "application/x-www-form-urlencoded" and text.lstrip()[:1] not in ("{", "["):
        try:
            pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise Refusal(400, "the form holds percent-encoded bytes that are not UTF-8: "
                               "encode the text as UTF-8 before percent-encoding it") from None
        fields: Dict[str, List[str]] = {}
        for k, v in pairs:
            fields.setdefault(k, []).append(v)
        return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise Refusal(400, f"the request body is not valid JSON ({e}); send a JSON object "
                              f"such as {example}") from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise Refusal(400, f"the request body nests JSON arrays or objects too deeply to read; "
                              f"send a JSON object such as {example}") from None
    if not isinstance(value, dict):
        raise Refusal(400, f"the request body must be a JSON object, got "
                              f"{type(value).__name__}")
    return value


#: each API's text field, and where the other API's is sent
OTHER_API = {"q": ("texts", "seqkd's own API, POST /v1/translate"),
             "texts": ("q", "LibreTranslate's API, POST /translate")}


def check_texts(fields: Dict[str, Any], name: str, cfg: Any, lines: bool = False
                ) -> Tuple[List[str], bool]:
    """(the texts, whether one string was given) of field ``name`` of a request's
    ``fields``, checked against the limits of ``cfg`` (a
    :class:`seqkd.serve.config.ServeConfig`). ``lines``: a text may hold line breaks (each
    line is translated; :mod:`seqkd.line_breaks`)."""
    value = fields.get(name)
    if value is None:
        other, where = OTHER_API[name]
        hint = (f" ({other} is the field of {where}; here it is {name})"
                if other in fields else "")
        raise Refusal(400, f"missing {name}: give the text to translate (a string, or a "
                              f"list of strings){hint}")
    single = isinstance(value, str)
    texts = [value] if single else value
    if not isinstance(texts, list):
        raise Refusal(400, f"{name} must be a string or a list of strings, got "
                              f"{type(value).__name__}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise Refusal(400, f"{name}[{i}] must be a string, got "
                                  f"{'null' if t is None else type(t).__name__}")
    if not texts:
        raise Refusal(400, f"{name} is an empty list: give at least one text")
    if len(texts) > cfg.max_texts:
        raise Refusal(413, f"{name} has {len(texts)} texts; this server takes at most "
                              f"{cfg.max_texts} a request (--max-texts)")
    for i, t in enumerate(texts):
        label = name if single else f"{name}[{i}]"  # one string is not a list item
        if not t.strip():
            raise Refusal(400, f"{label} is empty: give text to translate")
        problem = unicode_problem(t)
        if problem:
            raise Refusal(400, f"{label}: {problem}; send Unicode text (in JSON, a "
                               "character beyond U+FFFF is a pair of \\u escapes)")
        if len(t) > cfg.max_chars:
            raise Refusal(413, f"{label} has {len(t)} characters; this server takes at "
                                  f"most {cfg.max_chars} a text (--max-chars)")
        if not lines and ("\n" in t or "\r" in t):
            raise Refusal(400, f"{label} holds a line break: an n-best list is of one "
                                  "sentence, so send each line as a list item (POST /translate "
                                  "translates each line of a text and keeps the breaks)")
    return texts, single


def check_line_count(lines: List[str], name: str, cfg: Any) -> None:
    """The sentences of a request, each line of each text, are at most ``cfg.max_texts``."""
    if len(lines) > cfg.max_texts:
        raise Refusal(413, f"{name} holds {len(lines)} lines to translate; this server takes "
                              f"at most {cfg.max_texts} sentences a request (--max-texts; each "
                              "line of a text counts)")


def alternatives(value: Any, max_nbest: int) -> int:
    """LibreTranslate's ``alternatives``: how many translations besides the first (a number
    in JSON, digits in a form; null as not given)."""
    if value is None:
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return whole_number("alternatives", value, 0, max_nbest - 1, f" (--max-nbest {max_nbest})")


def v1_options(fields: Dict[str, Any], default_beam: int, max_nbest: int) -> Tuple[int, int]:
    """(beam, nbest) of a /v1/translate request; a field it does not take is refused, so a
    misspelt option is said, not ignored."""
    unknown = sorted(set(fields) - V1_FIELDS)
    if unknown:
        raise Refusal(400, f"unknown field(s) {', '.join(map(repr, unknown))}: /v1/translate "
                              f"takes {', '.join(sorted(V1_FIELDS))}")
    beam, nbest = fields.get("beam", default_beam), fields.get("nbest", 1)
    whole_number("beam", beam, 1, 64)
    whole_number("nbest", nbest, 1, max_nbest)
    if nbest > beam:
        given = "" if "beam" in fields else ", this server's --beam, as the request sends none"
        raise Refusal(400, f"nbest ({nbest}) cannot exceed beam ({beam}{given}): send "
                              f"\"beam\": {nbest} or more with it")
    return beam, nbest
