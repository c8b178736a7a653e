"""Retraining figure: does a model retrained with the desk's corrections do better?

The desk's tickets are simulated by the complaints test split: each is triaged by the old model
and stored, then "corrected" with its true labels through the store. `calmdesk retrain` then
trains on the train split plus those corrections and scores old and new on the dev split.

    python benchmarks/api_retrain.py --old-model /tmp/complaints-model [--tickets 393]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from api.retrain import RetrainPlan, print_report, retrain_model
from api.store import TicketStore, create_store_engine, run_migrations
from api.store.repository import NewTicket
from calmdesk.settings import datasets_dir, default_triage_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old-model", type=Path, default=default_triage_model())
    parser.add_argument("--data", type=Path, default=datasets_dir() / "complaints")
    parser.add_argument("--tickets", type=int, default=None, help="how many desk tickets")
    args = parser.parse_args()

    from triage.data import load_records
    from triage.model import TriageModel

    work = Path(tempfile.mkdtemp(prefix="calmdesk-retrain-"))
    url = f"sqlite:///{work / 'desk.db'}"
    engine = create_store_engine(url)
    run_migrations(engine)
    store = TicketStore(engine)
    desk = load_records(args.data / "test.jsonl")[: args.tickets]
    old = TriageModel.load(args.old_model)
    results = old.predict([r["text"] for r in desk], langs=[r["lang"] for r in desk])
    ids = store.add_tickets(
        [
            NewTicket(text=r["text"], result=p, model_version=old.version)
            for r, p in zip(desk, results, strict=True)
        ]
    )
    wrong = 0
    for ticket_id, record, predicted in zip(ids, desk, results, strict=True):
        if predicted["cause"]["label"] != record["cause"]:
            wrong += 1
        store.add_feedback(
            ticket_id,
            cause=record["cause"],
            department=record["department"],
            emotions=record["emotions"],
        )
    engine.dispose()
    print(f"{len(desk)} desk tickets stored and corrected ({wrong} had the wrong cause)")
    start = time.perf_counter()
    report = retrain_model(
        RetrainPlan(
            database_url=url,
            base_data=[args.data / "train.jsonl"],
            dev_data=args.data / "dev.jsonl",
            out=work / "retrained",
            old_model=args.old_model,
        )
    )
    print_report(report)
    print(f"retrain took {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
