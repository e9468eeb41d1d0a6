"""seqkd serve's batcher: concurrent requests merged into one call, the budget kept, other
decoding options batched apart, a full queue refused at once, a request that gave up never
translated, and the server's own settings checked like every other."""

import asyncio
import re
import threading
import time

import pytest

from seqkd.serve.batcher import Batcher, QueueFull


class FakeModel:
    """Records each call (its texts and options); answers each text with its upper case."""

    def __init__(self, delay=0.0):
        self.calls, self.delay = [], delay
        self.threads = set()

    def __call__(self, texts, beam, nbest):
        self.calls.append((list(texts), beam, nbest))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return [[(t.upper(), -0.1 * k) for k in range(nbest)] for t in texts]


def run(coro):
    return asyncio.run(coro)


def batcher(model, **kw):
    settings = dict(budget=100, max_wait=0.05, parallel=1, queue_sentences=100)
    settings.update(kw)
    return Batcher(model, lambda t: len(t.split()), **settings)


def test_concurrent_requests_are_merged_and_answered_in_their_order():
    model = FakeModel()

    async def main():
        b = batcher(model)
        await b.start()
        got = await asyncio.gather(b.submit(["a b"]), b.submit(["c", "d e"]), b.submit(["f"]))
        await b.stop()
        return got

    got = run(main())
    assert got == [[[("A B", 0.0)]], [[("C", 0.0)], [("D E", 0.0)]], [[("F", 0.0)]]]
    assert model.calls == [(["a b", "c", "d e", "f"], None, 1)]  # one call for all three
    assert all(name.startswith("seqkd-translate") for name in model.threads)


def test_the_budget_splits_batches_and_other_options_wait_for_their_own():
    model = FakeModel()

    async def main():
        b = batcher(model, budget=3)
        await b.start()
        await asyncio.gather(b.submit(["a b"]), b.submit(["c d"]), b.submit(["e"], beam=4,
                                                                            nbest=2))
        await b.stop()

    run(main())
    assert sorted(model.calls) == sorted([(["a b"], None, 1), (["c d"], None, 1),
                                          (["e"], 4, 2)])


def test_a_full_queue_is_refused_at_once_and_a_request_that_gave_up_is_dropped():
    model = FakeModel(delay=0.2)

    async def main():
        b = batcher(model, queue_sentences=3, max_wait=0.0)
        await b.start()
        first = asyncio.create_task(b.submit(["a", "b"]))
        await asyncio.sleep(0.05)  # "a b" is being translated
        with pytest.raises(QueueFull):
            await b.submit(["c", "d"])
        late = asyncio.create_task(b.submit(["x"]))
        await asyncio.sleep(0.01)
        late.cancel()  # the client gave up before its batch was taken
        assert await first == [[("A", 0.0)], [("B", 0.0)]]
        await asyncio.sleep(0.3)
        waiting = b.waiting
        await b.stop()
        return waiting

    assert run(main()) == 0
    assert [c[0] for c in model.calls] == [["a", "b"]]  # "x" was never translated


@pytest.mark.parametrize("gather", [0.0, 0.3])
def test_clients_coming_back_one_by_one_are_gathered_and_a_lone_client_never_waits(gather):
    """Three clients answered by one batch send again a little apart: with a gather time they
    are merged into one batch again (without one, the first back would go alone); a client
    alone after a batch of one is sent at once."""
    model = FakeModel()

    async def main():
        b = batcher(model, max_wait=0.0, gather=gather)
        await b.start()
        await asyncio.gather(*(b.submit([w]) for w in "abc"))  # one batch of three

        async def later(w, delay):
            await asyncio.sleep(delay)
            return await b.submit([w])
        await asyncio.gather(later("d", 0.0), later("e", 0.03), later("f", 0.06))
        n = len(model.calls)
        await asyncio.sleep(gather + 0.05)
        await b.submit(["g"])  # after a batch of one: g waits for no one
        await b.submit(["h"])
        t0 = time.monotonic()
        await b.submit(["i"])
        alone = time.monotonic() - t0
        await b.stop()
        return n, alone

    n, alone = run(main())
    assert model.calls[0][0] == ["a", "b", "c"]
    if gather:
        assert n == 2 and model.calls[1][0] == ["d", "e", "f"]
        assert alone < gather / 2
    else:
        assert n == 4  # d, e and f each alone
    assert [c[0] for c in model.calls[n:]] == [["g"], ["h"], ["i"]]


def test_a_failing_model_fails_its_requests_and_the_batcher_goes_on():
    calls = []

    def flaky(texts, beam, nbest):
        calls.append(texts)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return [[(t, 0.0)] for t in texts]

    async def main():
        b = batcher(flaky, max_wait=0.0)
        await b.start()
        with pytest.raises(RuntimeError):
            await b.submit(["a"])
        got = await b.submit(["b"])
        await b.stop()
        return got

    assert run(main()) == [[("b", 0.0)]]


def test_serve_settings_and_api_keys(tmp_path):
    from seqkd.config import Problems
    from seqkd.errors import SeqkdError
    from seqkd.serve.config import ServeConfig, key_matches, read_api_keys

    problems = Problems("")
    problems.build(ServeConfig, {"port": 70000, "max_wait_ms": float("nan"),
                                 "request_timeout": 0}, "serve")
    assert len(problems.items) == 3 and "port must be at most 65535" in problems.items[0]
    keys = tmp_path / "keys"
    keys.write_text("# ours\nalpha-1\n\n  beta-2  \n")
    assert read_api_keys(str(keys)) == [b"alpha-1", b"beta-2"]
    keys.write_bytes("\ufeffalpha-1\r\nbeta-2\r\n".encode())  # as Notepad saves it
    assert read_api_keys(str(keys)) == [b"alpha-1", b"beta-2"]
    keys.write_bytes(b"alpha-1\n\xff\n")
    with pytest.raises(SeqkdError, match="--api-keys: .*keys, line 2: bytes that are not "
                                         "valid UTF-8"):
        read_api_keys(str(keys))
    assert key_matches("beta-2", [b"alpha-1", b"beta-2"]) and not key_matches("beta", [b"beta-2"])
    assert not key_matches(None, [b"x"])
    keys.write_text("# nothing\n")
    with pytest.raises(SeqkdError, match="holds no key"):
        read_api_keys(str(keys))
    with pytest.raises(SeqkdError, match="is not a file"):
        read_api_keys(str(tmp_path / "none"))


def test_cors_origins_are_origins_as_a_browser_sends_them():
    from seqkd.errors import SeqkdError
    from seqkd.serve.app import _cors
    from seqkd.serve.config import check_origins

    good = ["*", "https://app.example.com", "http://localhost:3000", "https://[::1]:8443"]
    assert check_origins(good) == good
    for bad in ("https://app.example.com/", "app.example.com", "ftp://example.com",
                "https://example.com/translate", "https://a.com?x=1", ""):
        with pytest.raises(SeqkdError, match="is not an origin: give scheme://host"):
            check_origins(["https://ok.example.com", bad])
    assert _cors([]) == []  # no CORS headers unless origins are given
    (middleware,) = _cors(["https://app.example.com"])
    assert middleware.kwargs["allow_origins"] == ["https://app.example.com"]
    assert {"Authorization", "X-API-Key"} <= set(middleware.kwargs["allow_headers"])


def test_a_port_that_cannot_be_taken_says_what_to_change():
    import socket

    from seqkd.errors import SeqkdError
    from seqkd.serve import _bind

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(SeqkdError, match="another program holds the port; choose another"):
            _bind("127.0.0.1", port)
    finally:
        taken.close()
    # an address no interface has (TEST-NET-1, RFC 5737): the host is what to change
    with pytest.raises(SeqkdError, match="give one it has as --host"):
        _bind("192.0.2.1", port)
    with pytest.raises(SeqkdError, match="is not an address this machine has"):
        _bind("no-such-host.invalid", port)
    sock = _bind("127.0.0.1", 0)
    assert sock.getsockname()[0] == "127.0.0.1"
    sock.close()


def test_serve_bench_cores_are_checked_and_a_server_that_ends_at_once_says_why(monkeypatch):
    import os
    import subprocess
    import sys

    from seqkd.errors import SeqkdError
    from seqkd.serve.load import LoadConfig, _wait_ready, cores_of

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert cores_of("1") == [1] and cores_of("0-1") == [0, 1] and cores_of("1,0") == [0, 1]
    for text, message in (("x", "not a list of CPUs such as 1, 2-3 or 0,2-3"),
                          ("1-0", "not a list of CPUs"),
                          ("0-3", "names CPU(s) 2, 3, which this process may not use (it "
                                  "may use 0, 1)")):
        with pytest.raises(SeqkdError, match=re.escape(message)):
            LoadConfig(model="m", test_file="t", out_dir="o", cores=text)
    # taskset's own words, even when the process has ended before they were read
    server = subprocess.Popen([sys.executable, "-c", "import sys; sys.stderr.write("
                               "'taskset: failed to set affinity\\n'); sys.exit(1)"],
                              stderr=subprocess.PIPE, text=True)
    with pytest.raises(SeqkdError, match="did not start: taskset: failed to set affinity$"):
        _wait_ready(server)
