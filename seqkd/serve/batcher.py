"""Request batching for ``seqkd serve``: the sentences of concurrent requests are merged into
one CTranslate2 call, which runs in a worker thread (CTranslate2 releases the interpreter while
it translates), so the event loop keeps answering.

A batch is sent when a worker is free (``parallel`` of them: CTranslate2's parallel batches)
and its sentences reach the budget of source pieces, or its first sentence has waited
``max_wait`` seconds, or, when the last batch merged several requests, either as many
requests are queued as it had or ``gather`` seconds have passed since it came back. The last rule is
for clients that send their next request as soon as they are answered: without it, the first
of them to come back would be sent alone, the others would gather behind it, and batches
would alternate between one request and all the others; a lone client never waits. Requests with other decoding options (beam, n-best)
wait for a batch of their own. The queue is bounded in sentences: a request that would pass
it is refused at once (:class:`QueueFull`), never queued."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Deque, List, Optional, Sequence, Tuple

from seqkd.line_breaks import Result  # what a batch gives back per sentence: its n-best

#: translate(texts, beam, nbest) -> one n-best list per text; runs in a worker thread
TranslateFn = Callable[[Sequence[str], Optional[int], int], List[Result]]


class QueueFull(Exception):
    """The queue holds as many sentences as it may."""


@dataclass
class _Item:
    texts: List[str]
    pieces: int
    options: Tuple[Optional[int], int]
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)


class Batcher:
    """Merges the sentences of concurrent requests into batches; ``on_batch(sentences)`` is
    told each batch's size (a metric)."""

    def __init__(self, translate: TranslateFn, count_pieces: Callable[[str], int],
                 budget: int, max_wait: float, parallel: int, queue_sentences: int,
                 on_batch: Callable[[int], None] = lambda n: None, gather: float = 0.0):
        self.translate, self.count_pieces = translate, count_pieces
        self.budget, self.max_wait, self.gather = budget, max_wait, gather
        #: requests in the last batch: as many are expected back (the gather rule)
        self.expected = 1
        #: when the last batch came back
        self.freed = 0.0
        self.queue_sentences = queue_sentences
        self.on_batch = on_batch
        self.parallel = parallel
        self.pending: Deque[_Item] = deque()
        #: sentences queued or being translated
        self.waiting = 0
        self._executor = ThreadPoolExecutor(max_workers=parallel,
                                            thread_name_prefix="seqkd-translate")
        self._wake: Optional[asyncio.Event] = None
        self._slots: Optional[asyncio.Semaphore] = None
        self._task: Optional[asyncio.Task] = None

    async def start(self) -> None:
        self._wake, self._slots = asyncio.Event(), asyncio.Semaphore(self.parallel)
        self._task = asyncio.create_task(self._dispatch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=True)

    async def submit(self, texts: List[str], beam: Optional[int] = None,
                     nbest: int = 1) -> List[Result]:
        """The n-best lists of ``texts`` once their batch is translated; QueueFull at once
        when the queue cannot take them."""
        if self.waiting + len(texts) > self.queue_sentences:
            raise QueueFull()
        future = asyncio.get_running_loop().create_future()
        self.pending.append(_Item(texts, sum(self.count_pieces(t) for t in texts),
                                  (beam, nbest), future))
        self.waiting += len(texts)
        self._wake.set()
        try:
            return await future
        finally:
            if not future.done():  # the request gave up (timeout, client gone)
                future.cancel()

    def _due(self, first: _Item) -> float:
        """Seconds the batch of ``first`` may still wait for more requests (0 or less: send
        it now)."""
        like = [i for i in self.pending if i.options == first.options]
        if sum(i.pieces for i in like) >= self.budget:
            return 0.0
        due = first.arrived + self.max_wait
        if len(like) < self.expected:  # counted from when the last batch came back
            due = max(due, max(first.arrived, self.freed) + self.gather)
        return due - time.monotonic()

    def _take(self, options) -> List[_Item]:
        """The next batch: queued requests with these options, in order, up to the budget
        (at least one); the others keep their places."""
        batch, kept, pieces = [], deque(), 0
        while self.pending:
            item = self.pending.popleft()
            if item.future.done():  # cancelled while it waited
                self.waiting -= len(item.texts)
            elif item.options == options and (not batch or pieces + item.pieces <= self.budget):
                batch.append(item)
                pieces += item.pieces
            else:
                kept.append(item)
        self.pending = kept
        return batch

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()  # a free worker first: the batch is chosen for it
            loop.create_task(self._run(await self._next_batch()))

    async def _next_batch(self) -> List[_Item]:
        while True:
            self.pending = deque(i for i in self.pending if not self._drop_if_gone(i))
            if not self.pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            first = self.pending[0]
            due = self._due(first)
            if due > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), due)
                except asyncio.TimeoutError:
                    pass
                continue
            batch = self._take(first.options)
            if batch:
                return batch

    def _drop_if_gone(self, item: _Item) -> bool:
        if item.future.done():
            self.waiting -= len(item.texts)
            return True
        return False

    async def _run(self, batch: List[_Item]) -> None:
        texts = [t for item in batch for t in item.texts]
        beam, nbest = batch[0].options
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._executor, self.translate, texts, beam, nbest)
        except Exception as e:  # noqa: BLE001 (every waiting request is told)
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(e)
        else:
            self.on_batch(len(texts))
            self.expected, self.freed = len(batch), time.monotonic()
            k = 0
            for item in batch:
                if not item.future.done():
                    item.future.set_result(results[k:k + len(item.texts)])
                k += len(item.texts)
        finally:
            self.waiting -= len(texts)
            self._slots.release()
            self._wake.set()
