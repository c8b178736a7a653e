"""Loading labelled complaints: every format, and every error names file, row and field."""

import json

import datasets
import pandas as pd
import pytest

from calmdesk.errors import InputError, UnsupportedLanguageError
from triage.data import load_records, load_splits
from triage.taxonomy import Taxonomy

ROWS = [
    {"id": "a1", "lang": "en", "source": "desk", "text": "I was charged twice!!",
     "cause": "billing", "department": "billing_finance", "emotions": ["angry", "noisy"]},
    {"id": "a2", "lang": "es", "source": "desk", "text": "Mi pedido no llegó",
     "cause": "delivery_delay", "department": "logistics", "emotions": []},
]  # fmt: skip
KEYS = {"id", "lang", "source", "text", "cause", "department", "emotions"}


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    return path


def test_jsonl_fixture_loads_every_record(small_complaints_path):
    records = load_records(small_complaints_path)
    assert len(records) == 120
    assert all(set(r) == KEYS for r in records)
    assert {r["lang"] for r in records} == {"en", "es", "zh", "ru"}
    assert records[0]["source"] == "calmdesk_fixture"


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv", "parquet", "dataset"])
def test_every_format_gives_the_same_records(tmp_path, kind):
    frame = pd.DataFrame(ROWS)
    if kind == "jsonl":
        path = write_jsonl(tmp_path / "d.jsonl", ROWS)
    elif kind == "json":
        path = tmp_path / "d.json"
        path.write_text(json.dumps(ROWS))
    elif kind == "csv":
        path = tmp_path / "d.csv"
        frame.assign(emotions=frame.emotions.map("|".join)).to_csv(path, index=False)
    elif kind == "parquet":
        path = tmp_path / "d.parquet"
        frame.to_parquet(path)
    else:
        path = tmp_path / "saved"
        datasets.Dataset.from_pandas(frame).save_to_disk(str(path))
    records = load_records(path)
    assert [r["id"] for r in records] == ["a1", "a2"]
    assert records[0]["emotions"] == ["angry", "noisy"]
    assert records[1]["emotions"] == []
    assert records[1]["cause"] == "delivery_delay"
    assert records[0]["source"] == "desk"


def test_csv_mapped_columns_comma_emotions_and_ids_kept_as_text(tmp_path):
    path = tmp_path / "desk.csv"
    path.write_text(
        "ticket,body,why,team,mood\n007,Cobro indebido en mi tarjeta,billing,billing_finance,"
        '"angry,anxious"\n008,NA,other,customer_service,\n'
    )
    records = load_records(
        path, text_column="body", id_column="ticket", cause_column="why",
        department_column="team", emotions_column="mood",
    )  # fmt: skip
    assert records[0]["id"] == "007"
    assert records[0]["emotions"] == ["angry", "anxious"]
    assert records[1]["text"] == "NA" and records[1]["emotions"] == []
    assert records[0]["lang"] == "es"  # no lang column: detected
    assert records[0]["source"] == "desk.csv"  # no source column: the file name


def test_unlabelled_input_needs_only_text(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": "hello, my card does not work"}])
    (record,) = load_records(path, require_labels=False)
    assert record["cause"] is None and record["emotions"] is None
    assert record["lang"] is None  # left for the predictor to detect and report per item
    assert record["id"] == "in-1"


def test_split_folder(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ROWS)
    write_jsonl(tmp_path / "dev.jsonl", ROWS[:1])
    splits = load_splits(tmp_path)
    assert set(splits) == {"train", "dev"}
    assert len(splits["train"]) == 2
    with pytest.raises(InputError, match=r"folder of split files"):
        load_records(tmp_path)


def test_saved_dataset_dict_names_its_splits(tmp_path):
    ds = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS)})
    ds.save_to_disk(str(tmp_path / "dd"))
    assert len(load_splits(tmp_path / "dd")["train"]) == 2
    with pytest.raises(InputError, match=r"splits train"):
        load_records(tmp_path / "dd")


def test_missing_column_lists_the_columns_found(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"body": "x", "cause": "billing"}])
    with pytest.raises(InputError, match=r"no column 'text'.*columns found: body, cause"):
        load_records(path)


def test_missing_label_column_for_training(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "charged twice", "lang": "en"}])
    with pytest.raises(InputError, match=r"no column 'cause' for the cause"):
        load_records(path)


def test_empty_text_names_the_line(tmp_path):
    rows = [ROWS[0], {**ROWS[1], "id": "b", "text": "   "}]
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n")
    with pytest.raises(InputError, match=r"d.jsonl line 3: empty text in column 'text'"):
        load_records(path)


def test_label_outside_taxonomy(tmp_path):
    bad = {**ROWS[1], "cause": "weather"}
    path = write_jsonl(tmp_path / "d.jsonl", [ROWS[0], bad])
    with pytest.raises(InputError, match=r"line 2: cause 'weather' is not in the taxonomy"):
        load_records(path, taxonomy=Taxonomy.default())
    bad_emotion = {**ROWS[1], "emotions": ["hungry"]}
    path = write_jsonl(tmp_path / "e.jsonl", [bad_emotion])
    with pytest.raises(InputError, match=r"emotion 'hungry' is not in the taxonomy"):
        load_records(path, taxonomy=Taxonomy.default())


def test_corrupt_jsonl_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(ROWS[0]) + '\n{"text": "broken\n')
    with pytest.raises(InputError, match=r"d.jsonl line 2: not valid JSON"):
        load_records(path)


def test_field_changing_type_is_named(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [ROWS[0], {**ROWS[1], "cause": {"a": 1}}])
    with pytest.raises(InputError, match=r"line 2: field 'cause' is a dict here but a str"):
        load_records(path)


def test_binary_csv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"PK\x03\x04\x00\x00binary zip, not a table")
    with pytest.raises(InputError, match=r"binary content .* in a \.csv file"):
        load_records(path)


def test_non_utf8_csv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("text,cause\nquejas del señor,billing\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"line 2: not valid UTF-8"):
        load_records(path)


def test_bad_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    path.write_text("text,cause\nthis is a csv in disguise,billing\n")
    with pytest.raises(InputError, match=r"not a Parquet file"):
        load_records(path)


def test_unknown_extension_and_missing_file(tmp_path):
    path = tmp_path / "d.xlsx"
    path.write_text("x")
    with pytest.raises(InputError, match=r"unknown file type '\.xlsx'"):
        load_records(path)
    with pytest.raises(InputError, match=r"file not found"):
        load_records(tmp_path / "nope.jsonl")


def test_unsupported_language_names_the_row(tmp_path):
    rows = [
        {**ROWS[0], "lang": None, "text": "Je voudrais annuler ma commande, le colis est abîmé"}
    ]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(UnsupportedLanguageError, match=r"d.jsonl line 1: .*'fr'"):
        load_records(path)
    path = write_jsonl(tmp_path / "k.jsonl", [{**ROWS[0], "lang": "klingon"}])
    with pytest.raises(UnsupportedLanguageError, match=r"unsupported language 'klingon'"):
        load_records(path)


def test_repeated_id(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [ROWS[0], ROWS[0]])
    with pytest.raises(InputError, match=r"id 'a1' repeats the id of d.jsonl line 1"):
        load_records(path)


def test_emotions_of_a_wrong_type(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{**ROWS[0], "emotions": {"angry": 1}}])
    with pytest.raises(InputError, match=r"must be a list of emotions"):
        load_records(path)


def test_json_list_with_mixed_field_types(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([ROWS[0], {**ROWS[1], "cause": ["billing"]}]))
    with pytest.raises(InputError, match=r"item 2: field 'cause' is a list here but a str"):
        load_records(path)


def test_json_object_instead_of_records(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"data": ROWS}, indent=2))
    with pytest.raises(InputError, match=r"one JSON object \(keys data\)"):
        load_records(path)
