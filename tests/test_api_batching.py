"""Dynamic batching: requests queued together share one model call and one commit, and one
request's bad input fails only that request."""

from __future__ import annotations

import asyncio

import pytest

from api.batching import TriageBatcher, TriageJob
from api.errors import ApiError
from api.schemas import TriageRequest
from api.services import TriageService
from api.store import TicketStore, create_store_engine, run_migrations


@pytest.fixture(scope="module")
def service(trained_triage_model) -> TriageService:
    return TriageService(trained_triage_model).load()


def _store(tmp_path) -> TicketStore:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'b.db'}")
    run_migrations(engine)
    return TicketStore(engine)


def test_jobs_queued_together_are_one_batch_and_errors_stay_with_their_job(
    service, tmp_path, monkeypatch
):
    store = _store(tmp_path)
    batcher = TriageBatcher(service, store)
    calls: list[int] = []
    predict = service.model.predict

    def counting_predict(texts, **kwargs):
        calls.append(len(texts))
        return predict(texts, **kwargs)

    monkeypatch.setattr(service.model, "predict", counting_predict)
    jobs = [
        TriageJob([TriageRequest(text="My parcel is three weeks late")], 1000),
        TriageJob([TriageRequest(text="   ")], 1000),
        TriageJob(
            [TriageRequest(text="Me cobraron dos veces"), TriageRequest(text="服务太差")], 1000
        ),
    ]

    async def run() -> list:
        tasks = [asyncio.ensure_future(batcher.submit(job)) for job in jobs]
        await asyncio.sleep(0)  # every job is queued before the worker starts
        batcher.start()
        return await asyncio.gather(*tasks, return_exceptions=True)

    first, bad, third = asyncio.run(run())
    batcher.stop()
    assert calls == [3]  # one model call for the three good texts
    assert isinstance(bad, ApiError) and bad.code == "empty_text"
    assert [r["lang"] for r in first + third] == ["en", "es", "zh"]
    alone = predict(["Me cobraron dos veces"], langs=["es"], ids=["x"])[0]
    assert third[0]["cause"] == alone["cause"] and third[0]["emotions"] == alone["emotions"]
    assert store.counts()["tickets"] == 3
    assert store.get_ticket(first[0]["ticket_id"]).text == "My parcel is three weeks late"


def test_a_failing_batch_is_retried_request_by_request(service, tmp_path, monkeypatch):
    store = _store(tmp_path)
    batcher = TriageBatcher(service, store)
    predict = service.model.predict

    def picky_predict(texts, **kwargs):
        if any("boom" in t for t in texts):
            raise RuntimeError("model failure")
        return predict(texts, **kwargs)

    monkeypatch.setattr(service.model, "predict", picky_predict)

    async def run() -> list:
        tasks = [
            asyncio.ensure_future(batcher.submit(TriageJob([TriageRequest(text=t)], 1000)))
            for t in ("boom, my order exploded", "My order is late")
        ]
        await asyncio.sleep(0)
        batcher.start()
        return await asyncio.gather(*tasks, return_exceptions=True)

    failed, fine = asyncio.run(run())
    batcher.stop()
    assert isinstance(failed, RuntimeError)
    assert fine[0]["lang"] == "en"
    assert store.counts()["tickets"] == 1
