"""Label files that point into raw data sets: resolving, drift and error messages, shipped files."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

import triage.labelled_extra as labelled_extra
from calmdesk.cli import app
from calmdesk.errors import InputError
from triage.build_data import build_default_training_set
from triage.labelled_extra import (
    LABELS_DIR,
    SOURCES_FILE_NAME,
    available_label_sets,
    labelled_records,
    load_label_file,
    load_sources,
    text_hash,
)
from triage.taxonomy import Taxonomy

FIXTURE_DATASETS = Path(__file__).parent / "fixtures" / "datasets"
TWEETS = {"t-1": "@Airline my bag is lost, nobody answers", "t-2": "Love the new lounge"}
CHATS = ["The app billed me twice for one ticket", "how do I close my account?"]
SOURCES_YAML = """
sets:
  toy_tweets:
    licence: CC BY 4.0 (toy)
    text_column: text
    id_column: tweet_id
    files:
      - {path: tickets/toy/tweets.csv}
  toy_chats:
    licence: CC0 (toy)
    text_column: text
    files:
      - {path: tickets/toy/chats.json}
"""


def _entry(id_, file, row, key, text, **labels):
    entry = {
        "id": id_,
        "file": file,
        "row": row,
        "key": key,
        "sha1": text_hash(text),
        "lang": "en",
        "channel": "tweet" if key else "chat_turn",
        "source": "toy_tweets" if key else "toy_chats",
        "cause": "delivery_delay",
        "department": "logistics",
        "emotions": ["angry"],
    }
    entry.update(labels)
    return entry


def _write_labels(labels_dir: Path, entries: list[dict], name: str = "toy") -> Path:
    path = labels_dir / f"{name}.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries))
    return path


@pytest.fixture
def toy(tmp_path):
    """A datasets folder with two raw files and a labels folder pointing into them."""
    root = tmp_path / "datasets"
    raw = root / "tickets" / "toy"
    raw.mkdir(parents=True)
    (raw / "tweets.csv").write_text(
        "tweet_id,text\n" + "".join(f'{k},"{v}"\n' for k, v in TWEETS.items()), encoding="utf-8"
    )
    (raw / "chats.json").write_text(json.dumps([{"text": t} for t in CHATS]), encoding="utf-8")
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / SOURCES_FILE_NAME).write_text(SOURCES_YAML, encoding="utf-8")
    entries = [
        _entry("x-1", "tickets/toy/tweets.csv", 0, "t-1", TWEETS["t-1"]),
        _entry(
            "x-2",
            "tickets/toy/chats.json",
            0,
            None,
            CHATS[0],
            cause="billing",
            department="billing_finance",
            emotions=[],
        ),
    ]
    _write_labels(labels, entries)
    return root, labels, entries


def test_resolves_texts_by_row_id_and_by_row_number(toy):
    root, labels, _ = toy
    records = labelled_records(datasets_dir=root, labels_dir=labels)
    assert [r["text"] for r in records] == [TWEETS["t-1"], CHATS[0]]
    assert set(records[0]) == {"id", "lang", "source", "text", "cause", "department", "emotions"}
    assert records[1]["cause"] == "billing" and records[1]["emotions"] == []
    with_channel = labelled_records(["toy"], root, labels_dir=labels, with_channel=True)
    assert [r["channel"] for r in with_channel] == ["tweet", "chat_turn"]


def test_row_id_wins_over_a_stale_row_number(toy):
    root, labels, entries = toy
    entries[0]["row"] = 1  # the file was reordered; the id still finds the text
    _write_labels(labels, entries)
    assert labelled_records(datasets_dir=root, labels_dir=labels)[0]["text"] == TWEETS["t-1"]


def test_missing_raw_file_is_named(toy):
    root, labels, _ = toy
    (root / "tickets" / "toy" / "chats.json").unlink()
    with pytest.raises(InputError, match=r"toy\.jsonl line 2: raw file .*chats\.json not found"):
        labelled_records(datasets_dir=root, labels_dir=labels)


def test_missing_row_id_and_row_number_are_named(toy):
    root, labels, entries = toy
    entries[0]["key"] = "t-404"
    _write_labels(labels, entries)
    with pytest.raises(InputError, match=r"line 1: no row with tweet_id 't-404'.*id x-1"):
        labelled_records(datasets_dir=root, labels_dir=labels)
    entries[0]["key"] = "t-1"
    entries[1]["row"] = 7
    _write_labels(labels, entries)
    with pytest.raises(InputError, match=r"line 2: no row 7 in .*chats\.json \(2 rows"):
        labelled_records(datasets_dir=root, labels_dir=labels)


def test_changed_text_is_a_hash_mismatch(toy):
    root, labels, _ = toy
    edited = [{"text": "The app billed me THREE times for one ticket"}, {"text": CHATS[1]}]
    (root / "tickets" / "toy" / "chats.json").write_text(json.dumps(edited))
    with pytest.raises(InputError, match=r"line 2: the text of tickets/toy/chats\.json row 0 has"):
        labelled_records(datasets_dir=root, labels_dir=labels)


def test_raw_file_not_described_in_sources(toy):
    root, labels, entries = toy
    entries[1]["file"] = "tickets/toy/other.json"
    _write_labels(labels, entries)
    with pytest.raises(InputError, match=r"line 2: raw file tickets/toy/other\.json is not"):
        labelled_records(datasets_dir=root, labels_dir=labels)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cause": "weather"}, r"line 1: cause 'weather' is not in the taxonomy"),
        ({"emotions": ["angry", "angry"]}, r"line 1: an emotion is listed twice"),
        ({"lang": "fr"}, r"line 1: lang 'fr' is not one of"),
        ({"sha1": "XYZ"}, r"line 1: sha1 must be 12 lower-case hex"),
        ({"row": "3"}, r"line 1: field 'row' has the wrong type"),
    ],
)
def test_bad_label_lines_are_named(toy, change, message):
    _, labels, entries = toy
    entries[0].update(change)
    path = _write_labels(labels, entries)
    with pytest.raises(InputError, match=message):
        load_label_file(path)


def test_repeated_id_and_unknown_set(toy):
    root, labels, entries = toy
    path = _write_labels(labels, [entries[0], entries[0]])
    with pytest.raises(InputError, match=r"line 2: id 'x-1' repeats line 1"):
        load_label_file(path)
    with pytest.raises(InputError, match=r"unknown label set\(s\) \['nope'\]"):
        labelled_records(["nope"], root, labels_dir=labels)


def test_default_training_set_adds_labels_and_drops_complaint_texts(toy, tmp_path, monkeypatch):
    root, labels, entries = toy
    shutil.copytree(FIXTURE_DATASETS / "complaints", root / "complaints")
    # a raw text that is also in complaints/test.jsonl must never reach training.
    test_text = json.loads((root / "complaints" / "test.jsonl").read_text().splitlines()[0])
    chats = [{"text": t} for t in CHATS] + [{"text": test_text["text"]}]
    (root / "tickets" / "toy" / "chats.json").write_text(json.dumps(chats))
    entries.append(_entry("x-3", "tickets/toy/chats.json", 2, None, test_text["text"]))
    _write_labels(labels, entries)
    monkeypatch.setattr(labelled_extra, "LABELS_DIR", labels)
    train, _, info = build_default_training_set(root, sources=[], labelled={"toy": 0.7})
    added = {r["id"]: r for r in train if r["id"].startswith("x-")}
    assert set(added) == {"x-1", "x-2"}
    assert added["x-1"]["weight"] == 0.7 and added["x-1"]["emotions"] == ["angry"]
    entry = info["datasets"][-1]
    assert entry["name"] == "labels/toy" and entry["dropped"] == {"also in complaints/": 1}
    assert "toy_tweets: CC BY 4.0 (toy)" in entry["licence"]


def test_a_label_set_can_train_only_some_heads(toy, tmp_path, monkeypatch):
    root, labels, _ = toy
    shutil.copytree(FIXTURE_DATASETS / "complaints", root / "complaints")
    monkeypatch.setattr(labelled_extra, "LABELS_DIR", labels)
    train, _, info = build_default_training_set(root, sources=[], labelled=["toy:department,cause"])
    added = {r["id"]: r for r in train if r["id"].startswith("x-")}
    assert set(added) == {"x-1", "x-2"}
    assert added["x-1"]["cause"] == "delivery_delay" and added["x-1"]["department"] == "logistics"
    assert added["x-1"]["emotions"] is None and added["x-2"]["emotions"] is None
    assert info["datasets"][-1]["heads"] == ["cause", "department"]
    full, _, info = build_default_training_set(root, sources=[], labelled=["toy"])
    assert [r["emotions"] for r in full if r["id"] == "x-1"] == [["angry"]]
    assert info["datasets"][-1]["heads"] == ["cause", "department", "emotions"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [("toy:", "heads must be"), ("toy:mood", "unknown \\['mood'\\]"), (":cause", "no name")],
)
def test_bad_label_set_specs_are_named(spec, message):
    with pytest.raises(InputError, match=message):
        labelled_extra.parse_label_set_spec(spec)


def test_loso_and_train_take_label_sets_beside_the_complaints_alone(toy, tmp_path, monkeypatch):
    """The shipped encoder models' recipe: complaints/ + a label set, no mapped public set."""
    from triage.loso import loso_data

    root, labels, entries = toy
    shutil.copytree(FIXTURE_DATASETS / "complaints", root / "complaints")
    _write_labels(labels, entries)
    monkeypatch.setattr(labelled_extra, "LABELS_DIR", labels)
    complaints, extra, _ = loso_data("complaints", root, labelled=["toy"])
    assert sorted(r["id"] for r in extra) == ["x-1", "x-2"]
    assert not any(r["id"].startswith("x-") for r in complaints)
    assert loso_data("complaints", root)[1] == []  # no label set unless asked for
    monkeypatch.setenv("CALMDESK_DATASETS", str(root))
    out = tmp_path / "model"
    result = CliRunner().invoke(
        app,
        ["train", "--default-data", "--public-set", "none", "--labelled-set", "toy",
         "--dev", str(Path(__file__).parent / "fixtures" / "complaints_small.jsonl"),
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = json.loads((out / "model.json").read_text())
    assert [d["name"] for d in info["training_data"]["datasets"]] == ["complaints", "labels/toy"]
    # the card says how to train it again: every option that differs from its default
    dev = Path(__file__).parent / "fixtures" / "complaints_small.jsonl"
    command = (
        f"calmdesk train --out {out} --dev {dev} --default-data --public-set none "
        "--labelled-set toy"
    )
    assert info["training_command"] == command
    assert f"Trained with `{command}`." in (out / "README.md").read_text()
    # NAME:HEAD,HEAD takes only those heads of the set
    result = CliRunner().invoke(
        app,
        ["train", "--default-data", "--public-set", "none", "--labelled-set",
         "toy:cause,department", "--dev", str(dev), "--out", str(tmp_path / "heads")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "heads" / "model.json").read_text())
    assert info["training_data"]["datasets"][-1]["heads"] == ["cause", "department"]
    result = CliRunner().invoke(
        app,
        ["train", "--default-data", "--public-set", "none", "--labelled-set", "toy:mood",
         "--dev", str(dev), "--out", str(tmp_path / "bad")],
    )  # fmt: skip
    assert isinstance(result.exception, InputError)
    assert "heads must be" in str(result.exception)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "x.csv", "--public-set", "none"], "chooses the sets of --default-data"),
        (["--default-data", "--public-set", "none", "--public-set", "xed"], "do not combine"),
    ],
)
def test_public_set_option_is_checked(args, message, tmp_path):
    result = CliRunner().invoke(app, ["train", *args, "--out", str(tmp_path / "m")])
    assert isinstance(result.exception, InputError)
    assert message in str(result.exception)


def test_labelled_set_option_needs_default_data(tmp_path):
    result = CliRunner().invoke(
        app, ["train", "--data", "x.csv", "--labelled-set", "wider_channels", "--out", tmp_path]
    )
    assert isinstance(result.exception, InputError)
    assert "--labelled-set adds to the default training set" in str(result.exception)


# --- the label files shipped in triage/labels/ (read only from the project, no shared data) ---


def test_shipped_label_files_are_valid_against_the_default_taxonomy():
    sets = available_label_sets()
    assert sets, "no label file in triage/labels/"
    sources = load_sources(LABELS_DIR / SOURCES_FILE_NAME)
    taxonomy = Taxonomy.default()
    ids: Counter = Counter()
    for path in sets.values():
        entries = load_label_file(path, taxonomy)
        for entry in entries:
            raw_set = sources.get(entry["file"])
            assert raw_set is not None, f"{path.name} line {entry['line']}: {entry['file']}"
            assert entry["source"] == raw_set.name, f"{path.name} line {entry['line']}: source"
            if raw_set.id_column:
                assert entry["key"], f"{path.name} line {entry['line']}: needs its row id"
            ids[entry["id"]] += 1
        assert {e["lang"] for e in entries} <= {"en", "es", "zh", "ru"}
        if path.stem == "wider_channels":  # the broad set covers every language
            assert {e["lang"] for e in entries} == {"en", "es", "zh", "ru"}
    assert max(ids.values()) == 1, "an id is used in two label files"
    # the second-pass labels (agreement figures) refer to shipped labels, in the taxonomy.
    for number, line in enumerate((LABELS_DIR / "agreement" / "second_pass.jsonl").open(), 1):
        row = json.loads(line)
        assert row["id"] in ids, f"second_pass.jsonl line {number}: unknown id {row['id']}"
        taxonomy.check_record(row, f"second_pass.jsonl line {number}")


def test_label_agreement_counts_only_shared_ids():
    from triage.labelled_extra import label_agreement

    def rec(i, cause, emotions):
        return {"id": i, "cause": cause, "department": "logistics", "emotions": emotions}

    first = [rec("a", "billing", ["angry"]), rec("b", "other", []), rec("c", "billing", [])]
    second = [rec("a", "billing", ["angry", "noisy"]), rec("b", "policy", []), rec("z", "x", [])]
    result = label_agreement(first, second, ("angry", "noisy"))
    assert result["items"] == 2
    assert result["cause"]["agreement"] == 0.5
    assert result["cause"]["kappa"] == pytest.approx(1 / 3)  # (0.5 - 0.25) / (1 - 0.25)
    assert result["department"] == {"agreement": 1.0, "kappa": 1.0}
    assert result["emotions"]["exact"] == 0.5
    assert result["emotions"]["jaccard"] == 0.75  # {angry} vs {angry, noisy}: 1/2; {} vs {}: 1
    assert result["emotions"]["per_label"]["noisy"]["second"] == 1
    with pytest.raises(InputError, match="share no id"):
        label_agreement(first, [rec("q", "other", [])], ("angry",))
