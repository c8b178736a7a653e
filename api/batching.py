"""Dynamic batching of triage requests: one model call and one database commit per batch.

A single-text call to a scikit-learn model is mostly fixed overhead (input checks, sparse
matrix set-up), and a commit is mostly a disk sync, so under load the service answers many
more requests per second when the requests that arrive while a batch runs form the next batch.
One worker thread per process does the CPU work, so the event loop never blocks; with no
concurrent requests a batch is a single request and nothing waits. Every request's ticket is
committed before its answer is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from api.schemas import TriageRequest
from api.services import TriageService
from api.store import TicketStore
from api.store.repository import NewTicket

log = logging.getLogger("calmdesk.api")


@dataclass
class TriageJob:
    """One HTTP request's items; `field_prefix` names them in errors ("items.")."""

    items: Sequence[TriageRequest]
    max_text_chars: int
    field_prefix: str = ""
    ticket_ids: list[str] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)


class TriageBatcher:
    def __init__(
        self,
        triage: TriageService,
        store: TicketStore,
        max_items: int = 256,
        log_text: bool = False,
        redact: bool = True,
        keep_original: bool = False,
    ):
        self.triage = triage
        self.store = store
        self.max_items = max_items
        self.log_text = log_text  # CALMDESK_LOG_TEXT: complaint text in the log, off by default
        # CALMDESK_REDACT: personal data replaced before the text is stored or logged; the
        # model still reads the text as written (nothing of it is kept).
        self.redact = redact
        self.keep_original = keep_original  # CALMDESK_KEEP_ORIGINAL: the desk opted in
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="triage-batcher", daemon=True)

    def start(self) -> TriageBatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    async def submit(self, job: TriageJob) -> list[dict]:
        """Results for the job's items (stored, committed), or the job's ApiError."""
        self.triage.require()
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._queue.put((job, loop, future))
        return await future

    # --- worker thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first[0].items)
            stop = False
            while size < self.max_items:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry is None:
                    stop = True
                    break
                batch.append(entry)
                size += len(entry[0].items)
            self._process(batch)
            if stop:
                return

    def _process(self, batch: list) -> None:
        ready = []
        for job, loop, future in batch:
            try:
                job.langs = self.triage.check_items(job.items, job.max_text_chars, job.field_prefix)
                job.ticket_ids = [uuid.uuid4().hex for _ in job.items]
                ready.append((job, loop, future))
            except Exception as exc:  # the job's own input error: only this request fails
                _resolve(loop, future, error=exc)
        if not ready:
            return
        try:
            outcomes = self._predict_and_store([job for job, _, _ in ready])
        except Exception as exc:
            if len(ready) == 1:
                _resolve(ready[0][1], ready[0][2], error=exc)
                return
            log.warning("batch failed; retrying its requests one by one", exc_info=exc)
            for entry in ready:
                self._process_alone(entry)
            return
        for (_, loop, future), results in zip(ready, outcomes, strict=True):
            _resolve(loop, future, results)

    def _process_alone(self, entry) -> None:
        job, loop, future = entry
        try:
            [results] = self._predict_and_store([job])
        except Exception as exc:
            _resolve(loop, future, error=exc)
            return
        _resolve(loop, future, results)

    def _predict_and_store(self, jobs: list[TriageJob]) -> list[list[dict]]:
        items = [item for job in jobs for item in job.items]
        ticket_ids = [tid for job in jobs for tid in job.ticket_ids]
        langs = [lang for job in jobs for lang in job.langs]
        model = self.triage.require()
        ids = [item.id or tid for item, tid in zip(items, ticket_ids, strict=True)]
        results = model.predict([item.text for item in items], langs=langs, ids=ids)
        version = self.triage.version
        if self.redact:
            from calmdesk.redact import redact

            kept = [redact(item.text) for item in items]
        else:
            kept = [item.text for item in items]
        originals = [item.text if self.keep_original else None for item in items]
        self.store.add_tickets(
            [
                NewTicket(
                    ticket_id=tid,
                    text=text,
                    original_text=original,
                    result=result,
                    model_version=version,
                    external_id=item.id,
                    channel=item.channel,
                    customer_ref=item.customer_ref,
                )
                for item, result, tid, text, original in zip(
                    items, results, ticket_ids, kept, originals, strict=True
                )
            ]
        )
        if self.log_text:
            for text, tid in zip(kept, ticket_ids, strict=True):
                log.info("triaged", extra={"ticket_id": tid, "text": text})
        answers = [
            {**result, "model_version": version, "ticket_id": tid}
            for result, tid in zip(results, ticket_ids, strict=True)
        ]
        out, start = [], 0
        for job in jobs:
            out.append(answers[start : start + len(job.items)])
            start += len(job.items)
        return out


def _resolve(loop, future, result=None, error: BaseException | None = None) -> None:
    def settle() -> None:
        if future.done():  # the client went away and the request was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
        loop.call_soon_threadsafe(settle)
