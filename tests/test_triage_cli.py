"""calmdesk triage / train / evaluate through the real command (CliRunner and one subprocess)."""

import json
import os
import shutil
import subprocess
import sys

from typer.testing import CliRunner

from calmdesk.cli import app
from calmdesk.errors import InputError

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=True)


def test_triage_one_text_readable_and_json(trained_triage_model):
    result = invoke("triage", "--model", trained_triage_model, "Me cobraron dos veces la compra")
    assert result.exit_code == 0, result.output
    assert "language     es" in result.output
    assert "calming steps" in result.output
    result = invoke("triage", "--model", trained_triage_model, "--json", "送餐太慢了，氣死了")
    data = json.loads(result.output)
    assert data["lang"] == "zh" and data["script"] == "traditional"
    assert {"cause", "department", "emotions"} <= set(data)


def test_triage_file_to_jsonl(trained_triage_model, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(
        "ticket,body\nt1,My parcel is three weeks late\n"
        't2,"Bonjour, je voudrais annuler ma commande, le colis est abîmé"\n'
        "t3,Приложение не открывается\n"
    )
    out = tmp_path / "out.jsonl"
    result = invoke(
        "triage", "--model", trained_triage_model, "--input", path, "--output", out,
        "--text-column", "body", "--id-column", "ticket",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["t1", "t2", "t3"]  # nothing dropped, order kept
    assert lines[0]["lang"] == "en" and "cause" in lines[0]
    assert lines[1]["lang"] == "fr" and "error" in lines[1]
    assert "1 could not be triaged" in result.output


def test_triage_file_with_wrong_column(trained_triage_model, small_complaints_path, tmp_path):
    result = invoke(
        "triage", "--model", trained_triage_model, "--input", small_complaints_path,
        "--text-column", "body", "--output", tmp_path / "o.jsonl",
    )  # fmt: skip
    assert isinstance(result.exception, InputError)
    assert "no column 'body'" in str(result.exception)
    assert "columns found: id, lang, source, text" in str(result.exception)


def test_text_and_input_are_exclusive(trained_triage_model, small_complaints_path):
    result = invoke("triage", "--model", trained_triage_model, "x", "-i", small_complaints_path)
    assert "either a text" in str(result.exception)


def test_evaluate_json_and_table(trained_triage_model, small_complaints_path):
    result = invoke(
        "evaluate", "--model", trained_triage_model, "--data", small_complaints_path, "--json"
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert set(metrics) == {"cause", "department", "emotions", "by_lang", "n"}
    assert metrics["n"] == 120 and set(metrics["by_lang"]) == {"en", "es", "zh", "ru"}
    result = invoke("evaluate", "--model", trained_triage_model, "--data", small_complaints_path)
    assert "cause confusion matrix" in result.output
    assert "department confusion matrix" in result.output


def test_evaluate_refuses_labels_outside_the_model(trained_triage_model, tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "late parcel", "lang": "en", "cause": "weather",
                                "department": "logistics", "emotions": []}) + "\n")  # fmt: skip
    result = invoke("evaluate", "--model", trained_triage_model, "--data", path)
    assert "cause 'weather' is not in the taxonomy" in str(result.exception)


def test_train_on_own_labels_with_taxonomy_and_params(small_complaints_path, tmp_path):
    taxonomy = tmp_path / "desk.yaml"
    taxonomy.write_text(
        "name: desk\n"
        "cause: [product_quality, service_attitude, misleading_promise, billing, "
        "delivery_delay, technical_access, policy, other, fraud]\n"
        "department: [customer_service, quality_maintenance, billing_finance, logistics, "
        "technical_support, sales_marketing]\n"
        "emotions: [angry, anxious, sad, noisy]\n"
    )
    result = invoke(
        "train", "--data", small_complaints_path, "--taxonomy", taxonomy, "--out",
        tmp_path / "m", "--param", "char_ngram_range=[2,3]", "--param", "min_df=1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "m" / "model.json").read_text())
    assert info["taxonomy"]["name"] == "desk"
    assert info["labels_without_examples"] == {"cause": ["fraud"]}
    assert info["backend_params"]["char_ngram_range"] == [2, 3]
    assert "saved model linear-" in result.output


def test_train_errors(small_complaints_path, tmp_path):
    result = invoke("train", "--out", tmp_path / "m")
    assert "give --data" in str(result.exception)
    result = invoke(
        "train", "--data", small_complaints_path, "--out", tmp_path / "m", "--param", "nonsense"
    )
    assert "expected key=value" in str(result.exception)
    result = invoke(
        "train", "--data", small_complaints_path, "--out", tmp_path / "m", "--backend", "magic"
    )
    assert "unknown triage backend 'magic'" in str(result.exception)


def test_missing_default_model_says_how_to_train(monkeypatch, tmp_path):
    monkeypatch.setenv("CALMDESK_TRIAGE_MODEL", str(tmp_path / "none"))
    result = invoke("triage", "hello there")
    assert "calmdesk train --default-data --out" in str(result.exception)


def test_real_command_prints_a_clear_error(trained_triage_model, tmp_path):
    env = {**os.environ, "CALMDESK_TRIAGE_MODEL": str(trained_triage_model)}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": \n')
    # The installed console script when on PATH, else the same `main` run as a module.
    command = (
        [shutil.which("calmdesk")]
        if shutil.which("calmdesk")
        else [sys.executable, "-m", "calmdesk.cli"]
    )
    failed = subprocess.run(
        [*command, "triage", "--input", str(bad), "--output", str(tmp_path / "o.jsonl")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 2
    assert "error:" in failed.stderr and "bad.jsonl line 2: not valid JSON" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_train_on_a_split_folder_keeps_dev_out_of_the_weights(small_complaints_path, tmp_path):
    lines = small_complaints_path.read_text(encoding="utf-8").splitlines()
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n".join(lines[i] for i in range(120) if i % 5) + "\n")
    (folder / "dev.jsonl").write_text("\n".join(lines[i] for i in range(120) if not i % 5) + "\n")
    (folder / "test.jsonl").write_text(lines[0] + "\n")
    result = invoke("train", "--data", folder, "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert "test split" in result.output and "not used for training" in result.output
    info = json.loads((tmp_path / "m" / "model.json").read_text())
    assert info["data"]["n_train"] == 96 and info["data"]["n_dev"] == 24
    # linear: thresholds from out-of-fold predictions over train+dev (triage.training, "cv")
    assert info["metrics"]["source"].startswith("5-fold cross")
    assert "120 train+dev records" in info["metrics"]["source"]
    assert info["data"]["fit_with_dev"] is False

    refit = invoke("train", "--data", folder, "--out", tmp_path / "m2", "--fit-with-dev")
    assert refit.exit_code == 0, refit.output
    info = json.loads((tmp_path / "m2" / "model.json").read_text())
    assert info["data"]["fit_with_dev"] is True


def test_backend_auto_is_the_per_language_backend(small_complaints_path, tmp_path):
    result = invoke("train", "--data", small_complaints_path, "--out", tmp_path / "m",
                    "--backend", "auto")  # fmt: skip
    assert "--backend auto" in str(result.exception) and "--base-model" in str(result.exception)
