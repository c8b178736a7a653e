"""Retraining from the desk's corrections.

The new model learns from the base data plus every corrected ticket; where a corrected ticket's
text is also in the base data, the desk's labels replace the base labels for the heads the desk
corrected. Old and new models are scored on the same dev data, which never contains corrected
texts, so the comparison is fair.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from api.store import TicketStore, create_store_engine, run_migrations
from calmdesk.errors import InputError
from calmdesk.settings import default_triage_model
from calmdesk.text import features_text
from triage.backends.base import HEADS

DEV_SPLITS = ("dev", "validation")


@dataclass
class RetrainPlan:
    database_url: str
    base_data: list[Path]
    out: Path
    dev_data: Path | None = None
    old_model: Path | None = None
    backend: str | None = None
    force: bool = False
    dev_fraction: float = 0.2
    seed: int = 13


@dataclass
class RetrainReport:
    out: Path
    old_dir: Path
    old_version: str
    new_version: str
    old_metrics: dict
    new_metrics: dict
    counts: dict[str, int] = field(default_factory=dict)


def corrections_from_store(store: TicketStore) -> list[dict]:
    """One training record per corrected ticket: for each head the latest correction wins;
    heads the desk never corrected stay None (they do not train that head)."""
    records = []
    for ticket, history in store.iter_corrections():
        labels: dict = dict.fromkeys(HEADS)
        for feedback in history:  # oldest first, so later values overwrite earlier ones
            for head in HEADS:
                value = getattr(feedback, head)
                if value is not None:
                    labels[head] = list(value) if head == "emotions" else value
        records.append(
            {
                "id": f"ticket-{ticket.id}",
                "lang": ticket.lang,
                "source": "desk_feedback",
                "text": ticket.text,
                **labels,
            }
        )
    return records


def _key(record: dict) -> tuple[str, str]:
    return record["lang"], features_text(record["text"], record["lang"]).casefold()


def merge_corrections(base: list[dict], corrections: list[dict]) -> tuple[list[dict], dict]:
    """Base records with corrected labels applied, plus corrected texts new to the base."""
    by_key: dict[tuple[str, str], dict] = {}
    for record in corrections:  # later tickets with the same text win
        previous = by_key.get(_key(record))
        if previous is None:
            by_key[_key(record)] = dict(record)
        else:
            previous.update({h: record[h] for h in HEADS if record[h] is not None})
    merged, overridden = [], 0
    used: set[tuple[str, str]] = set()
    for record in base:
        correction = by_key.get(_key(record))
        if correction is None:
            merged.append(record)
            continue
        used.add(_key(record))
        overridden += 1
        fixed = dict(record)
        fixed.update({h: correction[h] for h in HEADS if correction[h] is not None})
        fixed["source"] = f"{record.get('source')}+desk_feedback"
        merged.append(fixed)
    added = [r for k, r in by_key.items() if k not in used]
    return merged + added, {
        "corrections": len(corrections),
        "overridden_base": overridden,
        "added": len(added),
    }


def _load(paths: list[Path]) -> tuple[list[dict], list[dict]]:
    """(train, dev) records from the base data; dev only when the data has a dev split."""
    from triage.data import load_splits

    train: list[dict] = []
    dev: list[dict] = []
    for path in paths:
        splits = load_splits(path)
        train += splits.get("train", [])
        for name in DEV_SPLITS:
            dev += splits.get(name, [])
        if "train" not in splits:
            raise InputError(f"{path}: no training split found (expected train.* files)")
    return train, dev


def _hold_out(records: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_dev = max(1, int(len(records) * fraction))
    dev_idx = set(order[:n_dev])
    train = [r for i, r in enumerate(records) if i not in dev_idx]
    dev = [r for i, r in enumerate(records) if i in dev_idx]
    return train, dev


def retrain_model(plan: RetrainPlan) -> RetrainReport:
    from triage.data import load_records
    from triage.evaluate import evaluate
    from triage.model import TriageModel
    from triage.training import train_model

    old_dir = Path(plan.old_model) if plan.old_model else default_triage_model()
    if not old_dir.is_dir():
        raise InputError(f"old model directory not found: {old_dir} (pass --old-model DIR)")
    out = Path(plan.out)
    if out.exists() and any(out.iterdir()) and not plan.force:
        raise InputError(f"output directory {out} is not empty; pass --force to overwrite")
    old = TriageModel.load(old_dir)

    engine = create_store_engine(plan.database_url)
    try:
        run_migrations(engine)
        corrections = corrections_from_store(TicketStore(engine))
    finally:
        engine.dispose()

    train, dev = _load(plan.base_data)
    if plan.dev_data is not None:
        dev = load_records(plan.dev_data)
    elif not dev:
        train, dev = _hold_out(train, plan.dev_fraction, plan.seed)
    # Corrected texts must not be scored: they would favour the new model unfairly.
    corrected_keys = {_key(r) for r in corrections}
    dev = [r for r in dev if _key(r) not in corrected_keys]
    if not dev:
        raise InputError("no dev records left to compare the models on")
    records, counts = merge_corrections(train, corrections)
    counts.update(base_train=len(train), train=len(records), dev=len(dev))

    taxonomy = old.taxonomy
    for i, record in enumerate(records):
        for head in ("cause", "department"):
            if record[head] is not None and not taxonomy.contains(head, record[head]):
                raise InputError(
                    f"{record['source']} {record['id']} (record {i}): {head} {record[head]!r} "
                    f"is not in the old model's taxonomy"
                )
    backend = plan.backend or old.info.get("backend", "linear")
    # Thresholds are tuned on the dev data, as `calmdesk train` does when data has a dev split,
    # so the new model is tuned the way the old one was and the comparison is like for like.
    new = train_model(
        records,
        dev_records=dev,
        backend=backend,
        taxonomy=taxonomy,
        data_info={"sources": _sources(records, old.info), "retrained_from": old.version},
    )
    if out.exists():
        shutil.rmtree(out)
    new.save(out)
    return RetrainReport(
        out=out,
        old_dir=old_dir,
        old_version=str(old.version),
        new_version=str(new.version),
        old_metrics=evaluate(old, dev),
        new_metrics=evaluate(new, dev),
        counts=counts,
    )


def _sources(records: list[dict], old_info: dict) -> list[dict]:
    """Training data per source for the model card, keeping the licences the old card named."""
    known = old_info.get("training_data")
    if isinstance(known, dict):
        known = known.get("sources")
    licences = {
        str(d.get("name")): d.get("licence") or d.get("license")
        for d in (known if isinstance(known, list) else [])
        if isinstance(d, dict)
    }
    licences.setdefault("desk_feedback", "the desk's own corrections (stored by the API)")
    counts = Counter(str(r.get("source") or "unknown") for r in records)
    return [
        {"name": name, "records": n, "licence": licences.get(name) or "not stated"}
        for name, n in sorted(counts.items())
    ]


HEADLINE = (
    ("cause", "macro_f1"),
    ("cause", "accuracy"),
    ("department", "macro_f1"),
    ("department", "accuracy"),
    ("emotions", "macro_f1"),
    ("emotions", "micro_f1"),
)


def print_report(report: RetrainReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)
    c = report.counts
    console.print(
        f"training records: {c['train']} ({c['base_train']} base, {c['corrections']} "
        f"corrected tickets: {c['overridden_base']} replaced base labels, {c['added']} new); "
        f"dev records: {c['dev']}"
    )
    console.print(f"old model: {report.old_version} ({report.old_dir})")
    console.print(f"new model: {report.new_version} ({report.out})")
    table = Table(title="old vs new on the same dev data")
    table.add_column("head")
    table.add_column("metric")
    table.add_column("old", justify="right")
    table.add_column("new", justify="right")
    table.add_column("change", justify="right")
    for head, metric in HEADLINE:
        old = report.old_metrics[head][metric]
        new = report.new_metrics[head][metric]
        table.add_row(head, metric, f"{old:.3f}", f"{new:.3f}", f"{new - old:+.3f}")
    console.print(table)
    console.print(
        f"new model written to {report.out}; serve it with `calmdesk serve --model {report.out}`"
    )
