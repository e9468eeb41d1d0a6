"""``seqkd serve``: an exported student behind an HTTP endpoint, on uvicorn and Starlette.

- config: the server's own settings (the model's are ``seqkd translate``'s) and API keys
- requests: what a request says (JSON or a form), checked against the limits
- batcher: concurrent requests merged into CTranslate2 calls in worker threads
- metrics: Prometheus metrics in the server's own registry
- app: the endpoints (LibreTranslate's /translate and /languages, /v1/translate, /v1/model,
  /health, /metrics), JSON errors, one log line a request
- load: the load measurement (``seqkd serve-bench``)

Why Starlette on uvicorn: the smallest established ASGI stack that does what the server needs
(routing, streaming request bodies, a lifespan for the batcher); FastAPI would add request
models and OpenAPI pages on top of Starlette, which a six-endpoint server does not need.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import signal
import socket
import sys
from typing import Any

from seqkd.errors import SeqkdError
from seqkd.serve.config import ServeConfig, check_origins, read_api_keys

logger = logging.getLogger("seqkd.serve")

__all__ = ["ServeConfig", "serve"]


# what to change when the listening socket cannot be bound, by the error's number
_BIND_FIXES = {
    errno.EADDRINUSE: "another program holds the port; choose another --port",
    errno.EACCES: "a port under 1024 needs rights this user lacks; choose another --port",
    errno.EADDRNOTAVAIL: "no network interface of this machine has that address; give one "
                         "it has as --host (127.0.0.1, or 0.0.0.0 for all of them)",
}


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, so that the port is known (and taken) before the model loads."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise SeqkdError(f"--host {host!r} is not an address this machine has ({e})") from None
    family, kind, proto, _, address = infos[0]
    # with its protocol (IPPROTO_TCP): asyncio sets TCP_NODELAY only on such sockets, and
    # without it a response's second write waits for the client's delayed ACK (40 ms)
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise SeqkdError(f"cannot listen on {host}:{port} ({e.strerror}): "
                         f"{_BIND_FIXES.get(e.errno, _BIND_FIXES[errno.EADDRINUSE])}") from None
    sock.listen(2048)
    return sock


def serve(model_cfg: Any, cfg: ServeConfig) -> int:
    """Load the model (``model_cfg``: a :class:`seqkd.translate.TranslateConfig` of an export),
    warm it up, and serve it until SIGTERM or Ctrl-C, which stop accepting connections, let
    the requests in flight finish (at most --request-timeout) and return 0."""
    try:
        import uvicorn

        from seqkd.serve.app import Server, build_app
    except ImportError as e:
        raise SeqkdError(f"seqkd serve needs its extra ({e.name} is not installed): pip "
                         "install 'seqkd[serve]' (scripts/install.sh installs it)") from None
    from seqkd.config import check_config
    from seqkd.machine import versions
    from seqkd.serve.metrics import Metrics
    from seqkd.recorded import to_dict

    check_config(model_cfg)
    check_config(cfg)
    if model_cfg.is_fairseq():
        raise SeqkdError(f"seqkd serve takes an `seqkd export` folder (CTranslate2); "
                         f"{model_cfg.model} is not one")
    keys = read_api_keys(cfg.api_keys)
    check_origins(cfg.cors_origins)
    sock = _bind(cfg.host, cfg.port)
    model = model_cfg.load()
    card_file, card = model.dir / "card.json", model.card
    model.translate(["A warm-up sentence.", "Another one."])  # allocations, caches
    # the folder's name, not its path: like /v1/model, /metrics says what is served, not where
    metrics = Metrics({"model": model.dir.name, "languages": "-".join(card["languages"]),
                       "source_sha256": str(card.get("source_sha256", "")),
                       "card_sha256": hashlib.sha256(card_file.read_bytes()).hexdigest()})
    running = versions("uvicorn", "starlette")
    server = Server(model, card, cfg, keys, model_cfg.beam, metrics, running)
    app = build_app(server)
    host, port = sock.getsockname()[:2]
    # what runs, with which versions and settings (the keys file's path, never a key)
    logger.info("versions: %s", json.dumps(running, sort_keys=True))
    logger.info("model settings: %s", json.dumps(to_dict(model_cfg), sort_keys=True))
    logger.info("server settings: %s", json.dumps(to_dict(cfg), sort_keys=True))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=max(1, int(cfg.request_timeout)))
    # always said (also under -q): a supervisor or a test waits for this line
    print(f"seqkd serve: {model.dir} ({'→'.join(card['languages'])}, beam {model_cfg.beam}) "
          f"ready on http://{host}:{port}{' with API keys' if keys else ''}", file=sys.stderr,
          flush=True)
    # uvicorn shuts down gracefully on these and then raises the signal again: handled here,
    # so that a drained shutdown is a normal exit
    old = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        sock.close()
    logger.info("stopped")
    return 0
