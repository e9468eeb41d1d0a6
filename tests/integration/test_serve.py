"""seqkd serve over real HTTP on loopback, a real server process: LibreTranslate-shaped
requests give exactly `seqkd translate`'s output; every bad input is a JSON 4xx; the 413 and
503 paths; API keys; SIGTERM with requests in flight; a client that goes away."""

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode

import pytest

from conftest import seqkd
from seqkd.version import __version__ as seqkd_version

pytestmark = pytest.mark.slow  # a real model behind a real server

LINES = ["w1 w2 w3", "w4 w5", "w7 w7 w8 w9", "w10 w11 w12 w13 w14", "w3"]


@pytest.fixture(scope="module")
def export(prepared, teacher, tmp_path_factory):
    out = tmp_path_factory.mktemp("serve") / "export"
    assert seqkd("export", teacher, "--data", prepared, "--out", out, "-q") == 0
    return out


class Served:
    """A `seqkd serve` process on a free port, its log kept."""

    def __init__(self, export, *args):
        self.export = export
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "seqkd", "serve", str(export), "--port", "0", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"ready on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                threading.Thread(target=self._drain, daemon=True).start()
                return
        self.proc.kill()
        pytest.fail("the server did not start: " + "".join(self.log))

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def call(self, method, path, body=None, headers=None, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        payload = r.read()
        conn.close()
        kind = r.getheader("Content-Type", "")
        # header names as lower case (HTTP's are case-insensitive)
        return r.status, {k.lower(): v for k, v in r.getheaders()}, (
            json.loads(payload) if "json" in kind else payload.decode())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def server(export):
    s = Served(export, "--max-texts", "16", "--max-chars", "200", "--max-body-bytes", "4000",
               "--queue-sentences", "12")
    yield s
    assert s.stop() == 0


def translate_cli(export, lines):
    out = subprocess.run([sys.executable, "-m", "seqkd", "translate", str(export), "--beam",
                          "1", "-q"], input="".join(x + "\n" for x in lines), text=True,
                         capture_output=True, check=True)
    return out.stdout.splitlines()


def test_libretranslate_requests_give_seqkd_translates_output(server, export):
    expected = translate_cli(export, LINES)
    status, _, body = server.call("POST", "/translate", {"q": LINES, "source": "en",
                                                         "target": "de", "format": "text"})
    assert status == 200 and body == {"translatedText": expected}
    status, _, body = server.call("POST", "/translate", {"q": LINES[2], "source": "en",
                                                         "target": "de"})
    assert body == {"translatedText": expected[2]}
    # LibreTranslate's Python client sends a form
    status, _, body = server.call(
        "POST", "/translate", raw=urlencode({"q": LINES[0], "source": "en", "target": "de",
                                             "format": "text"}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and body == {"translatedText": expected[0]}
    status, _, body = server.call("POST", "/translate", {"q": LINES[1], "source": "auto",
                                                         "target": "de"})
    assert body["detectedLanguage"]["language"] == "en"
    assert server.call("GET", "/languages")[2] == [{"code": "en", "name": "en",
                                                    "targets": ["de"]}]
    # many at once: each answered with its own translation (batched together)
    results = [None] * len(LINES)

    def one(i):
        results[i] = server.call("POST", "/translate", {"q": LINES[i], "source": "en",
                                                        "target": "de"})[2]["translatedText"]
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(LINES))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results == expected


def test_nbest_health_model_and_metrics(server):
    status, _, body = server.call("POST", "/v1/translate", {"texts": LINES[:2], "beam": 3,
                                                            "nbest": 3})
    assert status == 200 and len(body["translations"]) == 2
    for t in body["translations"]:
        scores = [h["score"] for h in t["nbest"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)
        assert t["text"] == t["nbest"][0]["text"]
    assert server.call("GET", "/health")[:1] == (200,)
    card = server.call("GET", "/v1/model")[2]
    assert card["card"]["languages"] == ["en", "de"] and card["limits"]["max_texts"] == 16
    # what the model is, not the export machine's paths (card.json in the folder has them)
    built_from = json.loads((server.export / "model" / "card.json").read_text())
    assert card["card"]["source_sha256"] == built_from["source_sha256"]
    assert built_from["source_checkpoint"] not in json.dumps(card)
    # what runs, with which versions: in /v1/model and in the log before "ready"
    assert card["versions"]["seqkd"] == seqkd_version and card["versions"]["ctranslate2"]
    start = "".join(server.log[:next(i for i, x in enumerate(server.log) if "ready on" in x)])
    assert f'"seqkd": "{seqkd_version}"' in start and '"uvicorn": ' in start
    assert '"max_texts": 16' in start and '"beam": 1' in start
    status, headers, text = server.call("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert 'seqkd_requests_total{endpoint="v1_translate",status="200"}' in text
    assert re.search(r'seqkd_model_info\{.*card_sha256="[0-9a-f]{64}"', text)
    info = re.search(r"seqkd_model_info\{(.*)\}", text).group(1)
    assert f'model="{server.export.joinpath("model").name}"' in info
    assert f'source_sha256="{built_from["source_sha256"]}"' in info
    assert str(server.export) not in text  # the folder's name, not where it lies
    assert "seqkd_batch_sentences_bucket" in text and "seqkd_queue_sentences" in text


@pytest.mark.parametrize("body,status,message", [
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe{}", 400, "not UTF-8"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (json.dumps({"q": 5}).encode(), 400, "q must be a string or a list of strings"),
    (json.dumps({"q": ["w1", "  "]}).encode(), 400, "q[1] is empty"),
    (json.dumps({"q": ["w1", None]}).encode(), 400, "q[1] must be a string, got null"),
    (json.dumps({"q": "w1", "alternatives": -1}).encode(), 400,
     "alternatives must be a whole number from 0 to 7"),
    (json.dumps({"q": "w1", "alternatives": True}).encode(), 400, "alternatives must be"),
    (json.dumps({"q": "w1", "alternatives": 8}).encode(), 400, "(--max-nbest 8)"),
    (json.dumps({"q": []}).encode(), 400, "empty list"),
    (json.dumps({"source": "en"}).encode(), 400, "missing q"),
    (json.dumps({"q": "w1", "source": "fr", "target": "de"}).encode(), 400,
     "translates en to de only"),
    (json.dumps({"q": "w1", "format": "html"}).encode(), 400, "format 'html' is not served"),
    (json.dumps({"q": "w1\n" * 17}).encode(), 413,
     "q holds 17 lines to translate; this server takes at most 16 sentences a request"),
    (json.dumps({"q": ["w1"] * 17}).encode(), 413, "at most 16 a request"),
    (json.dumps({"q": "w1 " * 100}).encode(), 413, "at most 200 a text"),
    (json.dumps({"q": ["w1 w2 " * 30] * 25}).encode(), 413, "at most 4000 (--max-body-bytes)"),
])
def test_bad_requests_are_json_errors_that_say_what_to_fix(server, body, status, message):
    got, _, answer = server.call("POST", "/translate", raw=body)
    assert got == status and message in answer["error"], answer
    assert "Traceback" not in "".join(server.log)
    # the log's line for the request says what the client was told
    said = f"POST /translate {status} "
    deadline = time.time() + 10
    while not any(said in x and answer["error"][:60] in x for x in server.log):
        assert time.time() < deadline, server.log[-3:]
        time.sleep(0.05)


def test_libretranslate_texts_with_line_breaks_are_translated_line_by_line(server, export):
    """A paragraph list or a document, as LibreTranslate's clients send it: each line is
    translated as seqkd translate translates it, and the breaks and blank lines are kept;
    /v1/translate, whose n-best is of one sentence, refuses them and says so."""
    expected = translate_cli(export, LINES)
    text = f"{LINES[0]}\n{LINES[1]}\r\n\n{LINES[2]}\n"
    status, _, body = server.call("POST", "/translate", {"q": [text, LINES[3]]})
    assert status == 200, body
    assert body == {"translatedText": [f"{expected[0]}\n{expected[1]}\r\n\n{expected[2]}\n",
                                       expected[3]]}
    status, _, body = server.call("POST", "/translate", {"q": text, "alternatives": 1})
    lists = [[h["text"] for h in t["nbest"]] for t in server.call(
        "POST", "/v1/translate", {"texts": LINES[:3], "beam": 2, "nbest": 2})[2]["translations"]]
    assert body["translatedText"] == f"{lists[0][0]}\n{lists[1][0]}\r\n\n{lists[2][0]}\n"
    assert body["alternatives"] == [f"{lists[0][1]}\n{lists[1][1]}\r\n\n{lists[2][1]}\n"]
    status, _, body = server.call("POST", "/v1/translate", {"texts": [text]})
    assert status == 400 and "texts[0] holds a line break" in body["error"]
    assert "POST /translate translates each line" in body["error"]


def test_libretranslate_alternatives_are_the_rest_of_the_n_best(server):
    """LibreTranslate's ``alternatives`` (clients send 2 or 3): the first translation and
    the others are /v1/translate's n-best at a beam as wide as the list, for one text or a
    list, in JSON or a form."""
    status, _, nbest = server.call("POST", "/v1/translate", {"texts": LINES[:2], "beam": 3,
                                                             "nbest": 3})
    lists = [[h["text"] for h in t["nbest"]] for t in nbest["translations"]]
    status, _, body = server.call("POST", "/translate", {"q": LINES[:2], "alternatives": 2})
    assert status == 200
    assert body == {"translatedText": [x[0] for x in lists],
                    "alternatives": [x[1:] for x in lists]}
    status, _, body = server.call(
        "POST", "/translate", raw=urlencode({"q": LINES[0], "alternatives": "2"}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert body == {"translatedText": lists[0][0], "alternatives": lists[0][1:]}
    # none asked (0 or null): no alternatives key, the server's own beam
    for none in (0, None):
        body = server.call("POST", "/translate", {"q": LINES[0], "alternatives": none})[2]
        assert body == {"translatedText": translate_cli(server.export, LINES[:1])[0]}


def test_unknown_paths_methods_and_v1_options(server):
    assert server.call("GET", "/nope")[0] == 404
    status, _, body = server.call("GET", "/translate")
    assert status == 405 and "not allowed" in body["error"]
    for options, message in (({"beam": 0}, "beam must be a whole number from 1 to 64"),
                             ({"nbest": 9}, "nbest must be a whole number from 1 to 8"),
                             ({"beam": 2, "nbest": 3}, "cannot exceed beam"),
                             ({"beam": "5"}, "beam must be"),
                             ({"nbset": 3}, "unknown field(s) 'nbset'")):
        status, _, body = server.call("POST", "/v1/translate", {"texts": ["w1"], **options})
        assert status == 400 and message in body["error"], body
    # forms: LibreTranslate's urlencoded ones are read, multipart ones refused
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for raw, kind, status, message in (
            (b"q=%FF", form, 400, "percent-encoded bytes that are not UTF-8"),
            (b"--x\r\n\r\nq\r\n--x--", {"Content-Type": "multipart/form-data; boundary=x"},
             415, "multipart form bodies are not read")):
        got, _, body = server.call("POST", "/translate", raw=raw, headers=kind)
        assert got == status and message in body["error"], body


def test_a_full_queue_is_503_with_retry_after(server):
    status, headers, body = server.call("POST", "/translate", {"q": ["w1"] * 13})
    assert status == 503 and headers["retry-after"] == "1" and "busy" in body["error"]


def test_a_client_that_goes_away_does_not_break_the_server(server):
    for partial in (b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                    b"\r\nContent-Length: 500\r\n\r\n{\"q\": \"w1", b"GET /hea"):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(partial)
        sock.close()
    # a whole request whose answer nobody reads
    sock = socket.create_connection(("127.0.0.1", server.port))
    body = json.dumps({"q": LINES}).encode()
    sock.sendall(b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    sock.close()
    time.sleep(0.5)
    assert server.call("POST", "/translate", {"q": "w1 w2"})[0] == 200
    assert server.proc.poll() is None


def test_api_keys(export, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# the team's keys\nkey-one\nkey-two\n")
    s = Served(export, "--api-keys", str(keys))
    try:
        assert s.call("GET", "/health")[0] == 200  # open, for load balancers
        status, headers, body = s.call("POST", "/translate", {"q": "w1"})
        assert status == 401 and "needs an API key" in body["error"]
        assert headers.get("www-authenticate") == "Bearer"
        assert s.call("POST", "/translate", {"q": "w1"},
                      {"Authorization": "Bearer key-three"})[0] == 403
        assert s.call("POST", "/translate", {"q": "w1"},
                      {"Authorization": "Bearer key-two"})[0] == 200
        assert s.call("POST", "/translate", {"q": "w1"}, {"X-API-Key": "key-one"})[0] == 200
        assert s.call("POST", "/translate", {"q": "w1", "api_key": "key-one"})[0] == 200
        assert s.call("GET", "/metrics")[0] == 401
    finally:
        assert s.stop() == 0


def test_a_browser_page_of_a_named_origin_may_call_it_and_others_may_not(server, export,
                                                                        tmp_path):
    page, other = "https://app.example.com", "https://elsewhere.example.org"
    # by default no CORS headers: a browser keeps the answer from another origin's page
    headers = server.call("POST", "/translate", {"q": "w1"}, {"Origin": page})[1]
    assert "access-control-allow-origin" not in headers
    keys = tmp_path / "keys"
    keys.write_text("key-one\n")
    s = Served(export, "--cors-origins", page, "--api-keys", str(keys))
    try:
        ask = {"Origin": page, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type,x-api-key"}
        status, headers, _ = s.call("OPTIONS", "/translate", headers=ask)  # no key needed
        assert status == 200 and headers["access-control-allow-origin"] == page
        assert "x-api-key" in headers["access-control-allow-headers"].lower()
        status, headers, body = s.call("POST", "/translate", {"q": "w1"},
                                       {"Origin": page, "X-API-Key": "key-one"})
        assert status == 200 and body["translatedText"]
        assert headers["access-control-allow-origin"] == page
        status, headers, _ = s.call("OPTIONS", "/translate", headers={**ask, "Origin": other})
        assert status == 400 and "access-control-allow-origin" not in headers
        assert s.call("POST", "/translate", {"q": "w1"}, {"Origin": page})[0] == 401
    finally:
        assert s.stop() == 0


def test_a_request_past_its_time_is_a_504_and_the_server_goes_on(export):
    s = Served(export, "--max-wait-ms", "700", "--request-timeout", "0.2")
    try:
        status, _, body = s.call("POST", "/translate", {"q": LINES[0]})
        assert status == 504 and "--request-timeout" in body["error"]
        time.sleep(0.8)  # its batch went by without it
        assert s.call("GET", "/health")[0] == 200
    finally:
        assert s.stop() == 0


def test_sigterm_finishes_the_requests_in_flight_and_exits_0(export):
    s = Served(export, "--max-wait-ms", "700")  # requests wait in the batcher
    results = []

    def one(i):
        results.append(s.call("POST", "/translate", {"q": LINES[i]})[0])
    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    time.sleep(0.3)  # the four are in flight, none answered yet
    assert results == []
    s.proc.send_signal(signal.SIGTERM)
    [t.join(timeout=60) for t in threads]
    assert s.proc.wait(timeout=60) == 0
    assert results == [200] * 4
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=2)
    log = "".join(s.log)
    assert "Traceback" not in log and log.count("POST /translate 200") == 4
    assert '"w1' not in log  # no request text in the log unless asked


def test_serve_bench_measures_levels_and_translate_in_one_run(export, tmp_path):
    test = tmp_path / "test.en"
    test.write_text("".join(f"{line}\n" for line in LINES * 4))
    assert seqkd("serve-bench", export, "--test-file", test, "--out", tmp_path / "sb",
                 "--clients", "1", "4", "--per-request", "1", "4", "--hold-seconds", "1",
                 "--soak-seconds", "2", "--no-repeat-ngram", "2", "-q") == 0
    report = json.loads((tmp_path / "sb" / "report.json").read_text())
    assert [(lv["clients"], lv["per_request"]) for lv in report["levels"]] == [
        (1, 1), (4, 1), (1, 4), (4, 4)]
    assert all(lv["errors"] == 0 and lv["src_wps"] > 0 for lv in report["levels"])
    assert report["levels"][0]["requests"] == 20 and report["levels"][2]["requests"] == 5
    assert report["hold"]["errors"] == 0 and report["hold"]["requests"] >= 20
    soak = report["soak"]  # memory after its first second and at its end
    assert soak["errors"] == 0 and soak["rss_end_mb"] > 0 and soak["rss_after_first_mb"] > 0
    assert soak["growth_percent"] == pytest.approx(
        100 * (soak["rss_end_mb"] - soak["rss_after_first_mb"]) / soak["rss_after_first_mb"],
        abs=0.5)
    assert report["translate"]["src_wps"] > 0 and report["server_exit_code"] == 0
    for lv in report["levels"]:  # each level against a translate run just before it
        assert lv["translate_src_wps"] > 0 and lv["translate_latency_p50_ms"] > 0
        assert lv["x_translate"] == pytest.approx(lv["src_wps"] / lv["translate_src_wps"],
                                                  abs=1e-3)
    md = (tmp_path / "sb" / "report.md").read_text()
    assert "× translate" in md and "no n-gram of 2 pieces repeated" in md
    assert report["no_repeat_ngram"] == 2  # both the server and translate decoded with it
