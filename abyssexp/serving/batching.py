"""Micro-batching: concurrent requests gathered into one model call.

Each request's images (decoded already) become a ``Job`` on a bounded asyncio queue. One
worker takes the first job, then gathers more until the batch holds ``max_batch`` images, or
``window`` has passed since the first job arrived, or nothing else is on its way (no request
still decoding): so one request alone is not held back, and under load every model call is a
full batch. The model runs in a thread of its own, off the event loop; the model is read once
per batch, so a swap (``swap``) takes effect between batches and every answer names the one
model that gave it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from abyssexp.serving.loaded import ServedModel

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One request's images and where its scores go."""

    images: np.ndarray
    future: asyncio.Future[tuple[np.ndarray, ServedModel]]
    #: The model serving when the images were decoded (at its input size).
    decoded_for: ServedModel
    arrived: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """Gathers jobs into batches and runs each on the current model (see the module)."""

    def __init__(
        self,
        model: ServedModel,
        max_batch: int,
        window_s: float,
        observe_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.model = model
        self.max_batch = max_batch
        self.window_s = window_s
        #: Requests admitted and still decoding: while any is, a job is on its way.
        self.arriving = 0
        self._queue: collections.deque[Job] = collections.deque()
        self._woken = asyncio.Event()
        self._stopping = False
        self._observe = observe_batch or (lambda size: None)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Finish every queued job (and the batch in the model), then stop the worker."""
        self._stopping = True
        self.wake()
        if self._worker is not None:
            await self._worker
        self._executor.shutdown(wait=True)

    def wake(self) -> None:
        """Something changed (a job queued, a request done decoding): the worker looks again."""
        self._woken.set()

    def swap(self, model: ServedModel) -> ServedModel:
        """Serve ``model`` from the next batch on (called on the event loop); returns the old."""
        old, self.model = self.model, model
        return old

    def depth(self) -> int:
        """Jobs waiting for the model."""
        return len(self._queue)

    def submit(
        self, images: np.ndarray, decoded_for: ServedModel
    ) -> asyncio.Future[tuple[np.ndarray, ServedModel]]:
        """Queue a request's images, decoded at ``decoded_for``'s input size; the future gets
        (scores, the model that gave them)."""
        future: asyncio.Future[tuple[np.ndarray, ServedModel]] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.append(Job(images, future, decoded_for))
        self.wake()
        return future

    async def _next(self, deadline: float | None) -> Job | None:
        """The next job: a queued one, or one that arrives before ``deadline`` while requests
        are still decoding (no deadline: wait for one until stopped). None: run the batch."""
        while True:
            if self._queue:
                return self._queue.popleft()
            remaining = None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.arriving == 0:
                    return None
            elif self._stopping:
                return None
            self._woken.clear()
            try:
                await asyncio.wait_for(self._woken.wait(), remaining)
            except TimeoutError:
                return None

    async def _gather(self) -> list[Job]:
        """The next batch: live jobs (a timed-out request's job is dropped) up to
        ``max_batch`` images, or fewer once the window has passed or nothing is on its way."""
        batch: list[Job] = []
        count = 0
        job = await self._next(None)
        deadline = job.arrived + self.window_s if job else 0.0
        while job is not None:
            if not job.future.done():
                if batch and (
                    count + len(job.images) > self.max_batch
                    or job.images.shape[1:] != batch[0].images.shape[1:]
                ):
                    self._queue.appendleft(job)  # starts the next batch
                    break
                batch.append(job)
                count += len(job.images)
            if count >= self.max_batch:
                break
            job = await self._next(deadline)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not (self._stopping and not self._queue):
            batch = await self._gather()
            if not batch:
                continue
            # Read once: the whole batch is this model's. Images decoded at another input
            # size (just before a swap to a model of another size) go to the model they were
            # decoded for, still in memory while they wait.
            model = self.model
            if batch[0].images.shape[1:3] != model.input_size:
                model = batch[0].decoded_for
            images = np.concatenate([job.images for job in batch])
            self._observe(len(images))
            try:
                scores = await loop.run_in_executor(self._executor, model.run, images)
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the failure
                log.exception("the model failed on a batch of %d images", len(images))
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            start = 0
            for job in batch:
                end = start + len(job.images)
                if not job.future.done():
                    job.future.set_result((scores[start:end], model))
                start = end
