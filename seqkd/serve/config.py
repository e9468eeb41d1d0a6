"""``seqkd serve``'s own settings: where it listens, how it batches, what it accepts. The
model's settings (beam, vmap, compute type, threads, ...) are ``seqkd translate``'s, from
:class:`seqkd.translate.TranslateConfig`: one definition each."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from seqkd.config import MAX_BEAM, setting
from seqkd.errors import SeqkdError
from seqkd.textio import read_lines


@dataclass
class ServeConfig:
    host: str = setting("127.0.0.1", "address to listen on (127.0.0.1: this machine only; "
                        "0.0.0.0 to serve other machines, best behind a proxy with TLS)")
    port: int = setting(8000, "port to listen on (0: any free port, printed when ready)",
                        min=0, max=65535)
    max_wait_ms: float = setting(0.0, "how long the first sentence of a batch waits for "
                                 "others to join it when a worker is free (0: it starts at "
                                 "once; while the workers are busy, sentences gather anyway)",
                                 min=0.0, max=1000.0)
    gather_ms: float = setting(5.0, "after a batch that merged several requests, how long a "
                               "free worker waits at most for as many requests to come back "
                               "(clients that send again when answered); a lone client never "
                               "waits (0: off)", min=0.0, max=1000.0)
    batch_budget: int = setting(2048, "source pieces of concurrent requests merged into one "
                                "CTranslate2 call (which cuts it into --batch-tokens batches)",
                                min=1)
    queue_sentences: int = setting(4096, "sentences waiting at most; a request that would "
                                   "pass it is answered 503 with Retry-After", min=1)
    request_timeout: float = setting(30.0, "seconds a request may wait and be translated "
                                     "(504 after that); also the longest a shutdown waits "
                                     "for requests in flight", min=0.1, max=86400.0)
    max_texts: int = setting(128, "sentences in one request at most, each line of a text "
                             "counted (413 beyond)", min=1)
    max_chars: int = setting(5000, "characters in one text at most (413 beyond)", min=1)
    max_body_bytes: int = setting(1_000_000, "request body bytes at most (413 beyond)", min=1)
    max_nbest: int = setting(8, "n-best list length a /v1/translate request may ask for",
                             min=1, max=MAX_BEAM)
    api_keys: Optional[str] = setting(None, "a file of API keys, one a line: then every "
                                      "endpoint but /health needs one (401 without, 403 with "
                                      "a wrong one), as Authorization: Bearer KEY, X-API-Key "
                                      "or LibreTranslate's api_key field")
    log_texts: bool = setting(False, "log the text of each request and its translation (off: "
                              "one line a request with its sizes and time only)")
    cors_origins: List[str] = setting(
        help="web pages allowed to call the server from a browser (CORS): their origins, as "
             "https://app.example.com, or * for any page (default: none, and a browser keeps "
             "the answers from a page of another origin)",
        default_factory=list, metavar="ORIGIN")


#: an origin as a browser sends it: scheme://host[:port], nothing after
_ORIGIN = re.compile(r"https?://[^/\s?#]+")


def check_origins(origins: List[str]) -> List[str]:
    """``--cors-origins``, each ``*`` or an origin as a browser sends it (one with a path or
    without its scheme never matches a browser's, so it would allow nothing)."""
    for origin in origins:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise SeqkdError(f"--cors-origins: {origin!r} is not an origin: give scheme://host"
                             "[:port] as a browser sends it, without a path (e.g. "
                             "https://app.example.com), or * for any page")
    return origins


def read_api_keys(path: Optional[str]) -> List[bytes]:
    """The keys of an API key file (blank lines and # comments skipped), or [] without one."""
    if not path:
        return []
    p = Path(path)
    if not p.is_file():
        raise SeqkdError(f"--api-keys: {p} is not a file (one API key a line)")
    try:  # strict UTF-8, a Windows editor's byte order mark left out
        lines = read_lines(p)
    except SeqkdError as e:
        raise SeqkdError(f"--api-keys: {e}") from None
    keys = [x.strip().encode() for x in lines if x.strip() and not x.lstrip().startswith("#")]
    if not keys:
        raise SeqkdError(f"--api-keys: {p} holds no key (one API key a line)")
    return keys


def key_matches(given: Optional[str], keys: List[bytes]) -> bool:
    """Whether ``given`` is one of ``keys``, compared in constant time (every key is
    compared, whichever matches)."""
    if given is None:
        return False
    data = given.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(data, key)
    return found
