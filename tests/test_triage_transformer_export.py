"""ONNX export with parity check, `calmdesk export-onnx`, `--backend auto` routing, and the
transformer backend through the model wrapper (train_model, save, load, predict)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from test_triage_transformer import build_tiny_encoder, columns, tiny_backend
from typer.testing import CliRunner

from calmdesk.cli import app
from triage.backends.per_language import PerLanguageBackend
from triage.backends.transformer import ONNX_FILE, TransformerBackend
from triage.onnx_export import export_backend

HEADS3 = ("cause", "department", "emotions")


@pytest.fixture(scope="module")
def records(small_complaints_path) -> list[dict]:
    return [json.loads(line) for line in small_complaints_path.read_text().splitlines() if line]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory, records) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), [r["text"] for r in records])


@pytest.fixture(scope="module")
def saved_dir(tmp_path_factory, tiny_encoder, records) -> Path:
    texts, langs, targets = columns(records)
    backend = tiny_backend(tiny_encoder, epochs=4).fit(texts, langs, targets)
    directory = tmp_path_factory.mktemp("backend")
    backend.save(directory)
    return directory


def test_fp32_export_passes_parity_and_becomes_the_runtime(saved_dir, records, tmp_path):
    texts = [r["text"] for r in records]
    out = tmp_path / "onnx"
    report, written = export_backend(saved_dir, texts, out, quantize=False)
    assert report.passed and written == out / ONNX_FILE and written.is_file()
    assert set(report.max_abs_diff) == set(HEADS3)
    assert max(report.max_abs_diff.values()) < 1e-4
    assert json.loads((out / "onnx_parity.json").read_text())["n_texts"] == len(texts)

    # a backend directory with model.onnx runs through onnxruntime by default
    copy = tmp_path / "with-onnx"
    TransformerBackend.load(saved_dir).save(copy)
    (copy / ONNX_FILE).write_bytes(written.read_bytes())
    onnx_backend = TransformerBackend.load(copy)
    torch_backend = TransformerBackend.load(copy, runtime="torch")
    assert onnx_backend.uses_onnx() and not torch_backend.uses_onnx()
    a = onnx_backend.predict_proba(texts[:13], ["en"] * 13)
    b = torch_backend.predict_proba(texts[:13], ["en"] * 13)
    for head in HEADS3:
        np.testing.assert_allclose(a[head], b[head], atol=1e-4)


def test_int8_export_reports_and_fails_cleanly_when_parity_fails(saved_dir, records, tmp_path):
    texts = [r["text"] for r in records]
    report, written = export_backend(saved_dir, texts, tmp_path, quantize=True)
    assert report.quantized and report.n_texts == len(texts)
    assert report.passed == (
        not any(report.label_mismatches.values())
        and max(report.max_abs_diff.values()) <= report.tolerance
    )
    # quantised weights never reproduce fp32 exactly: a zero tolerance must fail
    strict, written = export_backend(saved_dir, texts, tmp_path / "strict", tolerance=0.0)
    assert not strict.passed and written is None
    assert not (tmp_path / "strict" / ONNX_FILE).exists()
    assert "parity FAILED" in strict.lines()[-1]


def test_runtime_onnx_without_export_is_a_clear_error(saved_dir):
    from calmdesk.errors import InputError

    with pytest.raises(InputError, match="export-onnx"):
        TransformerBackend.load(saved_dir, runtime="onnx")


def test_export_onnx_command(saved_dir, small_complaints_path, tmp_path):
    runner = CliRunner()
    out = tmp_path / "exported"
    ok = runner.invoke(
        app,
        ["export-onnx", "--model", str(saved_dir), "--out", str(out), "--no-quantize",
         "--data", str(small_complaints_path)],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "parity PASSED" in ok.output and (out / ONNX_FILE).is_file()

    failed = runner.invoke(
        app,
        ["export-onnx", "--model", str(saved_dir), "--out", str(tmp_path / "x"),
         "--tolerance", "0", "--data", str(small_complaints_path)],
    )  # fmt: skip
    assert failed.exit_code == 1
    assert "parity check failed" in failed.output
    assert not (tmp_path / "x" / ONNX_FILE).exists()


def test_export_onnx_command_errors(saved_dir, tmp_path, capsys):
    from calmdesk.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["export-onnx", "--model", str(saved_dir)])
    assert exit_info.value.code == 2
    assert "--data is required" in capsys.readouterr().err
    (tmp_path / "linear-only").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["export-onnx", "--model", str(tmp_path / "linear-only"), "--data", "x.jsonl"])
    assert exit_info.value.code == 2
    assert "no transformer backend" in capsys.readouterr().err


@pytest.fixture(scope="module")
def per_language(tiny_encoder, records) -> PerLanguageBackend:
    train, dev = records[::2], records[1::2]
    texts, langs, targets = columns(train)
    backend = PerLanguageBackend(
        base_model=str(tiny_encoder), epochs=2, batch_size=16, lr=3e-3, max_length=48,
        device="cpu", num_threads=1,
    )  # fmt: skip
    return backend.fit(texts, langs, targets, dev=columns(dev))


def test_auto_chooses_per_language_on_dev_scores(per_language, records):
    choice = per_language.choice_
    dev_langs = sorted({r["lang"] for r in records[1::2]})
    assert sorted(choice["by_language"]) == dev_langs
    for lang in dev_langs:
        scores = choice["dev_macro_f1"][lang]
        assert set(scores) == {"linear", "transformer"}
        best = max(scores.values())
        winner = choice["by_language"][lang]
        assert scores[winner] == best
        if scores["linear"] == best:
            assert winner == "linear"  # ties go to the cheaper candidate
    assert per_language.card_info()["choice"] is choice


def test_auto_routes_each_text_to_its_languages_backend(per_language, records):
    texts, langs, _ = columns(records[1::2])
    proba = per_language.predict_proba(texts, langs)
    for lang in set(langs):
        rows = [i for i, x in enumerate(langs) if x == lang]
        chosen = per_language.backends_[per_language.choice_["by_language"][lang]]
        direct = chosen.predict_proba([texts[i] for i in rows], [lang] * len(rows))
        for head in HEADS3:
            order = [chosen.classes_[head].index(c) for c in per_language.classes_[head]]
            np.testing.assert_allclose(proba[head][rows], direct[head][:, order], atol=1e-6)
    # a language without a choice (no dev record) goes to the fallback
    without_ru = copy.copy(per_language)
    without_ru.choice_ = {**per_language.choice_}
    without_ru.choice_["by_language"] = {
        k: v for k, v in per_language.choice_["by_language"].items() if k != "ru"
    }
    ru_rows = [i for i, x in enumerate(langs) if x == "ru"]
    ru_texts = [texts[i] for i in ru_rows]
    fallback = per_language.backends_[per_language.choice_["fallback"]]
    routed = without_ru.predict_proba(ru_texts, ["ru"] * len(ru_rows))["cause"]
    direct = fallback.predict_proba(ru_texts, ["ru"] * len(ru_rows))["cause"]
    order = [fallback.classes_["cause"].index(c) for c in per_language.classes_["cause"]]
    np.testing.assert_allclose(routed, direct[:, order], atol=1e-6)


def test_auto_save_load_round_trip(per_language, records, tmp_path):
    per_language.save(tmp_path / "auto")
    assert (tmp_path / "auto" / "per_language.json").is_file()
    for name in per_language.backends_:
        assert (tmp_path / "auto" / name).is_dir()
    loaded = PerLanguageBackend.load(tmp_path / "auto")
    assert loaded.choice_ == per_language.choice_
    texts, langs, _ = columns(records[:12])
    a, b = per_language.predict_proba(texts, langs), loaded.predict_proba(texts, langs)
    for head in HEADS3:
        np.testing.assert_allclose(a[head], b[head], atol=1e-6)


def test_auto_needs_a_base_model_for_the_transformer_candidate(records):
    from calmdesk.errors import InputError

    texts, langs, targets = columns(records[:20])
    with pytest.raises(InputError, match="needs --base-model"):
        PerLanguageBackend().fit(texts, langs, targets)
    with pytest.raises(InputError, match="unknown triage backend"):
        PerLanguageBackend(candidates=("linear", "bert9000")).fit(texts, langs, targets)


def test_transformer_through_the_model_wrapper(tiny_encoder, small_complaints_path, tmp_path):
    from triage.data import load_records
    from triage.model import TriageModel
    from triage.training import train_model

    records = load_records(small_complaints_path)
    params = {"base_model": str(tiny_encoder), "epochs": 3, "lr": 3e-3, "max_length": 48,
              "device": "cpu", "num_threads": 1}  # fmt: skip
    model = train_model(records[::2], records[1::2], backend="transformer", backend_params=params)
    model.save(tmp_path / "model")
    info = json.loads((tmp_path / "model" / "model.json").read_text(encoding="utf-8"))
    assert info["backend_info"]["base_model"] == str(tiny_encoder)
    assert "## Backend details" in (tmp_path / "model" / "README.md").read_text(encoding="utf-8")
    loaded = TriageModel.load(tmp_path / "model")
    assert isinstance(loaded.backend, TransformerBackend)
    results = loaded.predict(["I was charged twice for one order", "la app no funciona"])
    assert len(results) == 2
    for result in results:
        assert result["cause"]["label"] in loaded.classes["cause"]
        assert result["department"]["label"] in loaded.classes["department"]
        assert isinstance(result["emotions"]["labels"], list)

    runner = CliRunner()
    exported = runner.invoke(
        app, ["export-onnx", "--model", str(tmp_path / "model"), "--no-quantize",
              "--data", str(small_complaints_path)],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "model" / "backend" / ONNX_FILE).is_file()
    again = TriageModel.load(tmp_path / "model")
    assert again.backend.uses_onnx()
    assert [r["cause"]["label"] for r in again.predict(["I was charged twice for one order"])] == [
        results[0]["cause"]["label"]
    ]


def test_calmdesk_train_with_the_transformer_backend(tiny_encoder, small_complaints_path, tmp_path):
    from calmdesk.cli import main

    out = tmp_path / "cli-model"
    options = ["-p", "epochs=2", "-p", "lr=3e-3", "-p", "max_length=48", "-p", "device=cpu"]
    main(["train", "--data", str(small_complaints_path), "--out", str(out),
          "--backend", "transformer", "--base-model", str(tiny_encoder), *options])  # fmt: skip
    model_json = json.loads((out / "model.json").read_text())
    assert model_json["backend"] == "transformer"
    assert model_json["backend_params"]["base_model"] == str(tiny_encoder)
    assert (out / "backend" / "encoder" / "model.safetensors").is_file()


def test_calmdesk_train_with_an_unreachable_base_model(small_complaints_path, tmp_path, capsys):
    from calmdesk.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(small_complaints_path), "--out", str(tmp_path / "m"),
              "--backend", "transformer", "--base-model", "no-such-org/no-such"])  # fmt: skip
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--base-model no-such-org/no-such is neither a local directory" in err
    assert "Traceback" not in err


def test_model_card_shows_the_per_language_choice_and_its_dev_scores():
    from triage.card import render_model_card

    choice = {
        "by_language": {"en": "transformer", "es": "linear"},
        "fallback": "linear",
        "dev_macro_f1": {"en": {"linear": 0.47, "transformer": 0.5}, "es": {"linear": 0.53}},
    }
    card = render_model_card({"backend": "per_language", "backend_info": {"choice": choice}})
    assert "| en | transformer | linear 0.470, transformer 0.500 |" in card
    assert "| es | linear | linear 0.530 |" in card
    assert "Other languages: linear." in card
