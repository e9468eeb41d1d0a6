"""The HTTP side of ``seqkd serve``, on Starlette: LibreTranslate's ``POST /translate`` and
``GET /languages``, seqkd's own ``POST /v1/translate`` (n-best with scores) and ``GET
/v1/model`` (the card), ``GET /health`` and ``GET /metrics`` (Prometheus).

Every error is a JSON object ``{"error": "what to fix"}`` with a 4xx status (5xx only for a
full queue, 503, and a request past its time, 504), never a traceback; no field of a request
names a file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, Dict, List, Optional

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seqkd.serve.batcher import Batcher, QueueFull
from seqkd.serve.config import ServeConfig, key_matches
from seqkd.serve.metrics import Metrics
from seqkd import line_breaks, text_length
from seqkd.serve.requests import (Refusal, alternatives, check_line_count, check_texts,
                                  read_fields, v1_options)

logger = logging.getLogger("seqkd.serve")
#: how much of a refusal's message a log line keeps
LOGGED_REASON = 200


# what GET /v1/model tells a client of the card: what the model is, never where it was built
# (the checkpoint's path, the training command, the data folder: the export machine's paths)
SERVED_CARD = ("source_sha256", "quantization", "vocabulary_map", "languages", "shape",
               "versions", "size_bytes", "scores")


def served_card(card: Dict) -> Dict:
    """The card without the export machine's paths and commands (the folder's card.json has
    them all)."""
    out = {k: card[k] for k in SERVED_CARD if k in card}
    if isinstance(out.get("vocabulary_map"), dict):
        out["vocabulary_map"] = {k: v for k, v in out["vocabulary_map"].items() if k != "data"}
    return out


def error(status: int, message: str, headers: Optional[Dict[str, str]] = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Server:
    """The endpoints over one loaded model (``seqkd.load``'s object) and its card."""

    def __init__(self, model, card: Dict, cfg: ServeConfig, keys: List[bytes],
                 default_beam: int, metrics: Metrics, versions: Dict[str, str]):
        self.model, self.card, self.cfg, self.keys = model, card, cfg, keys
        self.versions = versions
        self.default_beam = default_beam
        self.src, self.tgt = card["languages"]
        self.metrics = metrics
        self.batcher = Batcher(
            lambda texts, beam, nbest: model.hypotheses(texts, beam=beam, nbest=nbest),
            lambda text: len(model.sp.encode(text)), cfg.batch_budget,
            cfg.max_wait_ms / 1000, model.decoder.translator.num_translators,
            cfg.queue_sentences, on_batch=metrics.batch_sizes.observe,
            gather=cfg.gather_ms / 1000)

    # ------------------------------------------------------------ reading a request

    async def body(self, request: Request) -> bytes:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > self.cfg.max_body_bytes:
            raise Refusal(413, f"the request body has {size} bytes; this server takes at "
                                  f"most {self.cfg.max_body_bytes} (--max-body-bytes)")
        data = bytearray()  # (appended in place: a body of many small chunks stays linear)
        async for chunk in request.stream():
            data += chunk
            if len(data) > self.cfg.max_body_bytes:
                raise Refusal(413, f"the request body is over {self.cfg.max_body_bytes} "
                                      "bytes, the most this server takes (--max-body-bytes)")
        return bytes(data)

    async def fields(self, request: Request) -> Dict[str, Any]:
        """A request's fields: JSON, or a form (as LibreTranslate's clients send them)."""
        return read_fields(await self.body(request), request.headers.get("content-type", ""),
                           f'{{"q": "A dog runs.", "source": "{self.src}", '
                           f'"target": "{self.tgt}"}}')

    def check_key(self, request: Request, fields: Optional[Dict] = None) -> None:
        if not self.keys:
            return
        auth = request.headers.get("authorization", "")
        given = (auth[7:].strip() if auth.lower().startswith("bearer ") else None) \
            or request.headers.get("x-api-key") \
            or (fields.get("api_key") if isinstance(fields, dict) else None)
        if not given:
            raise Refusal(401, "this server needs an API key: send it as Authorization: "
                                  "Bearer KEY, X-API-Key: KEY or the api_key field",
                             {"WWW-Authenticate": "Bearer"})
        if not isinstance(given, str) or not key_matches(given, self.keys):
            raise Refusal(403, "the API key is not one this server accepts")

    async def translated(self, texts: List[str], beam: Optional[int], nbest: int):
        try:  # (a deadline on this task: no task of its own for each request)
            async with asyncio.timeout(self.cfg.request_timeout):
                return await self.batcher.submit(texts, beam, nbest)
        except QueueFull:
            raise Refusal(503, f"the server is busy ({self.batcher.waiting} sentences "
                                  "waiting): try again in a second",
                             {"Retry-After": "1"}) from None
        except TimeoutError:
            raise Refusal(504, f"the translation took longer than {self.cfg.request_timeout:g}"
                                  " s (--request-timeout): send fewer or shorter texts") from None

    # ------------------------------------------------------------ endpoints

    async def libretranslate(self, request: Request) -> Response:
        fields = await self.fields(request)
        self.check_key(request, fields)
        texts, single = check_texts(fields, "q", self.cfg, lines=True)
        source, target = fields.get("source", self.src), fields.get("target", self.tgt)
        if source not in (self.src, "auto") or target != self.tgt:
            raise Refusal(400, f"this server translates {self.src} to {self.tgt} only; "
                                  f"the request asks for {source!r} to {target!r}")
        if fields.get("format", "text") != "text":
            raise Refusal(400, f"format {fields.get('format')!r} is not served: send plain "
                                  "text (format: text)")
        n_alt = alternatives(fields.get("alternatives", 0), self.cfg.max_nbest)
        layouts, lines = line_breaks.cut(texts)  # each line a sentence; breaks put back
        check_line_count(lines, "q", self.cfg)
        # alternatives come from the n-best, so the beam is at least as wide as it is long
        results = await self.translated(
            lines, max(self.default_beam, n_alt + 1) if n_alt else None, n_alt + 1)
        out = line_breaks.translations(layouts, results)
        self.count(lines)
        body: Dict[str, Any] = {"translatedText": out[0] if single else out}
        if n_alt:
            others = line_breaks.alternatives(layouts, results, n_alt)
            body["alternatives"] = others[0] if single else others
        if source == "auto":
            detected = {"confidence": 100, "language": self.src}
            body["detectedLanguage"] = detected if single else [detected] * len(out)
        request.state.sentences = len(lines)
        self.log_texts(texts, out)
        return JSONResponse(body)

    async def v1_translate(self, request: Request) -> Response:
        fields = await self.fields(request)
        self.check_key(request, fields)
        texts, _ = check_texts(fields, "texts", self.cfg)
        beam, nbest = v1_options(fields, self.default_beam, self.cfg.max_nbest)
        results = await self.translated(texts, beam, nbest)
        self.count(texts)
        request.state.sentences = len(texts)
        self.log_texts(texts, [r[0][0] for r in results])
        return JSONResponse({"translations": [
            {"text": r[0][0], "score": round(r[0][1], 4),
             "nbest": [{"text": t, "score": round(s, 4)} for t, s in r]} for r in results]})

    async def languages(self, request: Request) -> Response:
        self.check_key(request)
        return JSONResponse([{"code": self.src, "name": self.src, "targets": [self.tgt]}])

    async def model_card(self, request: Request) -> Response:
        self.check_key(request)
        return JSONResponse({"card": served_card(self.card), "beam": self.default_beam,
                             "versions": self.versions,
                             "limits": {k: getattr(self.cfg, k) for k in (
                                 "max_texts", "max_chars", "max_body_bytes", "max_nbest",
                                 "queue_sentences", "request_timeout")}})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "languages": [self.src, self.tgt]})

    async def metrics_page(self, request: Request) -> Response:
        self.check_key(request)
        self.metrics.queue.set(self.batcher.waiting)
        body, kind = self.metrics.render()
        return Response(body, media_type=kind)

    def count(self, texts: List[str]) -> None:
        self.metrics.sentences.inc(len(texts))
        self.metrics.words.inc(text_length.total(texts))

    def log_texts(self, texts: List[str], out: List[str]) -> None:
        if self.cfg.log_texts:
            for t, o in zip(texts, out):
                logger.info("text: %s => %s", json.dumps(t, ensure_ascii=False),
                            json.dumps(o, ensure_ascii=False))


def build_app(server: Server) -> Starlette:
    """The Starlette application: every endpoint behind one wrapper that turns problems into
    JSON errors, counts and times the request and logs one line for it."""

    def endpoint(name: str, handler):
        async def run(request: Request) -> Response:
            t0 = time.perf_counter()
            request.state.sentences = 0
            why = ""
            try:
                response = await handler(request)
            except Refusal as e:
                response = error(e.status, e.message, e.headers)
                # what the client was told, for whoever reads the log (never a text: the
                # messages name fields, sizes and codes; cut, as a field may be long)
                why = f": {e.message[:LOGGED_REASON]}"
            except Exception:  # noqa: BLE001 (logged with its traceback; the client gets JSON)
                logger.exception("%s %s failed", request.method, request.url.path)
                response = error(500, "the server failed on this request; its log says why")
            seconds = time.perf_counter() - t0
            server.metrics.requests.labels(name, str(response.status_code)).inc()
            server.metrics.latency.labels(name).observe(seconds)
            logger.info("%s %s %d %d sentences %.1f ms%s", request.method, request.url.path,
                        response.status_code, request.state.sentences, 1000 * seconds, why)
            return response
        return run

    routes = [Route("/translate", endpoint("translate", server.libretranslate),
                    methods=["POST"]),
              Route("/languages", endpoint("languages", server.languages), methods=["GET"]),
              Route("/v1/translate", endpoint("v1_translate", server.v1_translate),
                    methods=["POST"]),
              Route("/v1/model", endpoint("v1_model", server.model_card), methods=["GET"]),
              Route("/health", endpoint("health", server.health), methods=["GET"]),
              Route("/metrics", endpoint("metrics", server.metrics_page), methods=["GET"])]

    async def not_found(request: Request, exc) -> Response:
        status = getattr(exc, "status_code", 404)
        message = ("no such endpoint; this server has POST /translate, GET /languages, POST "
                   "/v1/translate, GET /v1/model, GET /health, GET /metrics" if status == 404
                   else f"{request.method} is not allowed on {request.url.path}")
        return error(status, message)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await server.batcher.start()
        yield
        await server.batcher.stop()

    from starlette.exceptions import HTTPException
    return Starlette(routes=routes, lifespan=lifespan, middleware=_cors(server.cfg.cors_origins),
                     exception_handlers={HTTPException: not_found})


def _cors(origins: List[str]) -> List[Middleware]:
    """Starlette's CORS middleware for ``--cors-origins`` (none without them): a browser page
    of those origins may call every endpoint, with an API key in a header; a preflight
    needs no key, as the standard has it."""
    if not origins:
        return []
    return [Middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                       allow_headers=["Authorization", "X-API-Key", "Content-Type"],
                       max_age=600)]
