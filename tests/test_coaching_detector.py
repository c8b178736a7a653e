"""The learned conduct detector: training and loading on a tiny encoder, thresholds, the
descriptive-vs-refusal check, rules+model merging and the --detector switch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calmdesk.errors import InputError
from coaching.detector import ConductDetector, content_words, pick_threshold
from coaching.findings import Finding
from tests.coaching_tiny_encoder import build_tiny_encoder

RUDE = ["calm down xx", "xx whatever", "relax xx now", "xx seriously", "you xx again", "oh xx"]
FINE = ["thanks a lot", "your parcel ships today", "happy to help", "one moment please",
        "the refund is done", "have a good day"]  # fmt: skip
ZH_RUDE = ["冷静xx", "xx没问题", "您好xx"]
ZH_FINE = ["您好", "谢谢", "没问题"]


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="module")
def trained(encoder_dir, tmp_path_factory):
    texts = RUDE * 3 + FINE * 3 + ZH_RUDE * 3 + ZH_FINE * 3
    labels = [["rude_language"] if "xx" in t else [] for t in texts]
    langs = ["zh" if any("\u4e00" <= c <= "\u9fff" for c in t) else "en" for t in texts]
    det = ConductDetector(
        encoder_dir, n_layers=2, n_trainable=1, epochs=25, batch_size=8,
        learning_rate=3e-3, head_learning_rate=3e-2, threads=1,
    ).fit(texts, labels, langs)  # fmt: skip
    det.set_thresholds(texts, labels, langs)
    out = det.save(tmp_path_factory.mktemp("detector") / "det")
    return det, out


def test_training_learns_and_only_the_top_layer_and_head_are_stored(trained):
    det, out = trained
    proba = det.predict_proba(RUDE + FINE)[:, det.classes_.index("rude_language")]
    assert proba[: len(RUDE)].min() > proba[len(RUDE) :].max()
    assert det.loss_curve_[-1] < det.loss_curve_[0]
    from safetensors import safe_open

    with safe_open(str(out / "detector.safetensors"), "pt") as fh:
        keys = list(fh.keys())
        assert {fh.get_tensor(k).dtype for k in keys} == {__import__("torch").float16}
    assert keys and all(k.startswith(("layers.1.", "head.")) for k in keys)
    config = json.loads((out / "detector.json").read_text())
    assert set(config["thresholds"]) == {"en", "zh"}


def test_a_loaded_detector_gives_the_same_probabilities(trained, encoder_dir):
    det, out = trained
    plain = ConductDetector.load(out, encoder_path=encoder_dir, quantize=False)
    assert plain.thresholds_ == det.thresholds_
    texts = RUDE + ZH_FINE
    det.quantize = False
    try:
        assert np.allclose(det.predict_proba(texts), plain.predict_proba(texts), atol=2e-3)
    finally:
        det.quantize = True
    fast = ConductDetector.load(out, encoder_path=encoder_dir)  # int8 linear layers
    assert np.allclose(fast.predict_proba(texts), plain.predict_proba(texts), atol=0.05)
    assert fast.predict(["calm down xx", "thanks a lot"], ["en", "en"]) == [["rude_language"], []]
    with pytest.raises(InputError, match="cannot be saved"):
        fast.save(out.parent / "again")


def test_loading_without_an_encoder_or_detector_is_a_clear_error(trained, tmp_path):
    _, out = trained
    with pytest.raises(InputError, match="no built encoder"):
        ConductDetector.load(out, encoder_path=tmp_path)
    with pytest.raises(InputError, match="not a conduct detector directory"):
        ConductDetector.load(tmp_path, encoder_path=tmp_path)
    with pytest.raises(InputError, match="not trained"):
        ConductDetector().predict_proba(["x"])


def test_unknown_category_in_training_labels_is_refused(encoder_dir):
    with pytest.raises(InputError, match="unknown category 'grumpy'"):
        ConductDetector(encoder_dir).fit(["a"], [["grumpy"]])


@pytest.mark.parametrize("head_hidden", [0, 16])
def test_a_frozen_encoder_trains_only_the_head(encoder_dir, tmp_path, head_hidden):
    """n_trainable=0: every encoder layer frozen, the head learns from cached pooled
    embeddings; only the head is stored, and a loaded copy scores the same."""
    texts = RUDE * 3 + FINE * 3
    labels = [["rude_language"] if "xx" in t else [] for t in texts]
    det = ConductDetector(
        encoder_dir, n_layers=3, n_trainable=0, head_hidden=head_hidden, epochs=150,
        batch_size=8, head_learning_rate=2e-2, threads=1, quantize=False, prefix="",
    ).fit(texts, labels)  # fmt: skip
    assert det.loss_curve_[-1] < det.loss_curve_[0] * 0.7
    proba = det.predict_proba(RUDE + FINE)[:, det.classes_.index("rude_language")]
    assert proba[: len(RUDE)].mean() > proba[len(RUDE) :].mean() + 0.2
    det.set_thresholds(texts, labels, ["en"] * len(texts))
    out = det.save(tmp_path / "frozen")
    from safetensors import safe_open

    with safe_open(str(out / "detector.safetensors"), "pt") as fh:
        keys = list(fh.keys())
    assert keys and all(k.startswith("head.") for k in keys)
    assert (len(keys) == 4) == bool(head_hidden)  # MLP: two linear layers' weight and bias
    config = json.loads((out / "detector.json").read_text())
    assert config["params"]["n_trainable"] == 0
    assert config["params"]["head_hidden"] == head_hidden
    assert config["params"]["prefix"] == ""  # no "query: " before the sentence
    loaded = ConductDetector.load(out, encoder_path=encoder_dir, quantize=False)
    assert loaded.prefix == ""
    assert loaded._tokenize(["ab"]) == [loaded.tokenizer_("ab")["input_ids"]]
    assert np.allclose(loaded.predict_proba(FINE), det.predict_proba(FINE), atol=2e-3)


def test_a_first_format_detector_without_head_hidden_still_loads(trained, encoder_dir, tmp_path):
    """Detectors saved before head_hidden existed have a linear head: they load unchanged."""
    import shutil

    _, out = trained
    old = tmp_path / "old"
    shutil.copytree(out, old)
    config = json.loads((old / "detector.json").read_text())
    config["params"].pop("head_hidden", None)
    config["params"].pop("prefix", None)
    config["params"].pop("min_words", None)
    (old / "detector.json").write_text(json.dumps(config))
    det = ConductDetector.load(old, encoder_path=encoder_dir, quantize=False)
    assert det.head_hidden == 0 and det.predict_proba(["thanks a lot"]).shape == (1, 9)
    assert det.prefix == "query: "  # e5's prefix, as the first detector was trained with
    assert det.min_words == 0  # every sentence judged


def test_layer_settings_are_checked(encoder_dir):
    with pytest.raises(InputError, match="n_trainable"):
        ConductDetector(encoder_dir, n_layers=2, n_trainable=3).fit(["a"], [[]])
    with pytest.raises(InputError, match="head_hidden"):
        ConductDetector(encoder_dir, n_layers=2, n_trainable=0, head_hidden=-1).fit(["a"], [[]])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Anything else?", 2),
        ("Thank you, I'll fix it now.", 6),
        ("@celinni13 Celinni.", 1),
        ("✨ #CadaPasoCuenta https://t.co/x 2639", 0),
        ("不行。", 2),
        ("這個辦不了", 5),
        ("Не могу.", 2),
    ],
)
def test_content_words(text, words):
    assert content_words(text) == words


def test_short_sentences_score_zero_with_min_words(trained, encoder_dir, tmp_path):
    """min_words: a sentence too short to judge scores 0 for every category; the setting is
    saved, and save_config rewrites only detector.json of a loaded (int8) detector."""
    _, out = trained
    det = ConductDetector.load(out, encoder_path=encoder_dir)
    full = det.predict_proba(["calm down xx", "xx"])
    assert full[1].max() > 0
    det.min_words = 2
    short = det.predict_proba(["calm down xx", "xx", "@someone xx"])
    assert np.allclose(short[0], full[0], atol=1e-3) and short[1:].max() == 0.0
    assert det.predict_proba(["xx"]).shape == (1, 9)
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    weights = (copy / "detector.safetensors").read_bytes()
    det.save_config(copy)
    assert (copy / "detector.safetensors").read_bytes() == weights
    assert ConductDetector.load(copy, encoder_path=encoder_dir).min_words == 2


def test_keeping_thresholds_only_measures_their_support(trained):
    det, _ = trained
    texts = RUDE + FINE
    labels = [["rude_language"]] * len(RUDE) + [[]] * len(FINE)
    before = dict(det.thresholds_)
    support = dict(det.threshold_support_)
    try:
        det.set_thresholds(texts, labels, ["en"] * len(texts), keep=True)
        assert det.thresholds_ == before
        assert det.threshold_support_["en"]["sentences"] == len(texts)
        assert det.threshold_support_["en"]["precision"] == 1.0
    finally:
        det.thresholds_, det.threshold_support_ = before, support


def test_threshold_is_the_lowest_that_keeps_precision():
    scores = np.array([0.99, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.4])
    positive = np.array([1, 1, 1, 1, 0, 1, 0, 0], dtype=bool)
    t, p, r = pick_threshold(scores, positive, target=0.95, floor=0.5)
    assert t == 0.85 and p == 1.0 and r == 0.8
    t, p, r = pick_threshold(scores, positive, target=0.8, floor=0.5)
    assert t == 0.7 and p == pytest.approx(5 / 6) and r == 1.0
    # the floor wins over a lower threshold, and nothing reaching the target flags nothing seen
    assert pick_threshold(scores, np.ones(8, bool), 0.95, floor=0.5)[0] == 0.5
    t, _, r = pick_threshold(scores, np.zeros(8, bool), 0.95, floor=0.5)
    assert t > 0.99 and r == 0.0


def test_thresholds_are_set_per_language(trained):
    det, _ = trained
    assert set(det.thresholds_) == {"en", "zh"}
    for lang, info in det.threshold_support_.items():
        assert info["precision"] >= 0.95, (lang, info)
        assert 0.5 <= det.thresholds_[lang] <= 1.0
    assert det.threshold_for("ru") == max(det.thresholds_.values())  # unseen language: strictest


@pytest.mark.parametrize(
    ("sentence", "lang", "expected"),
    [
        ("屏幕无法亮起一般是电量耗尽，建议充电半小时。", "zh", True),
        ("不知道您现在方便接电话吗？", "zh", True),
        ("相機無法對焦。", "zh", True),
        ("我们无法给您退款。", "zh", False),
        ("Siento mucho que no pueda acceder a su cuenta.", "es", True),
        ("No podemos devolverle el dinero.", "es", False),
        ("Не могу не отметить ваше терпение.", "ru", True),
        ("Я не могу вернуть деньги.", "ru", False),
        ("Даже представить не могу, каково это — сидеть без отопления.", "ru", True),
        ("Я даже представить не могу, каково это.", "ru", True),
        ("我无法给您退款。", "zh", False),
        ("Не могу представить вам справку.", "ru", False),
        ("开不了机的话，多半是电池没电了。", "zh", True),
        ("这个订单我们开不了发票。", "zh", False),
        ("我真的無法想像您在機場等了兩個小時有多難受。", "zh", True),
        ("No me puedo ni imaginar lo que fue quedarse sin luz.", "es", True),
        ("Si la caldera no enciende con este frío, no puede esperar.", "es", True),
        ("No puedo cambiarle la tarifa.", "es", False),
        ("The camera can't focus in low light.", "en", True),
        ("No problem, happy to help!", "en", True),
        ("I can't refund that.", "en", False),
        ("Siento que no puedas ver el recibo en la app.", "es", True),
        ("La cerradura no puede abrirse con la app si se queda sin batería.", "es", True),
        ("El vinilo mate no se puede pegar sobre pared recién pintada.", "es", True),
        ("No se lo podemos cambiar, la cerradura es nueva.", "es", False),
        ("这款摄像头晚上没办法对焦到玻璃外面。", "zh", True),
        ("很抱歉师傅今天无法准时到。", "zh", True),
        ("门锁开不了是因为线接反了。", "zh", True),
        ("门锁的费用我们没办法退。", "zh", False),
    ],
)
def test_descriptive_vs_refusal(sentence, lang, expected):
    from coaching.descriptive import is_descriptive, keeps

    assert is_descriptive(sentence, lang) is expected
    assert keeps("negative_language", sentence, lang) is not expected
    assert keeps("rude_language", sentence, lang)  # the check only concerns refusals


def _rule_finding(start, end, category="negative_language", text="x") -> Finding:
    return Finding(
        rule_id=f"en.{category}.r", category=category, severity="error", turn=0,
        speaker="agent", start=start, end=end, text=text, message="m", message_en="m",
        suggestion="s",
    )  # fmt: skip


def test_rules_and_model_merge_into_one_finding_per_sentence_and_category():
    from coaching.detector_runtime import SentenceHit, merge_turn

    text = "I can't do that. Calm down. Thanks."
    rule = _rule_finding(0, 7, text="I can't")
    hits = [
        SentenceHit(0, 0, 16, "negative_language", 0.97),  # same sentence, same category
        SentenceHit(0, 17, 27, "rude_language", 0.91),  # a sentence the rules missed
    ]
    out = merge_turn([rule], hits, text, "en", 3, "agent", "both")
    assert [(f.source, f.category, f.start, f.end) for f in out] == [
        ("both", "negative_language", 0, 7),  # the rule's exact span and rewrite are kept
        ("model", "rude_language", 17, 27),
    ]
    assert out[0].probability == 0.97 and out[0].suggestion == "s"
    model = out[1]
    assert model.text == "Calm down." and model.turn == 3 and model.rule_id.endswith(".model")
    assert model.severity == "warning" and model.probability == 0.91
    # a second hit on the same sentence and category does not duplicate the merged finding
    again = merge_turn([_rule_finding(0, 7)], [*hits, hits[0]], text, "en", 3, "agent", "both")
    assert len(again) == 2
    # model mode: only the model's findings, in the turn's language
    only = merge_turn([], hits, text, "es", 3, "agent", "model")
    assert [f.source for f in only] == ["model", "model"]
    assert "cliente" in only[0].message and only[0].message_en != only[0].message


def test_both_mode_drops_a_rule_refusal_on_a_descriptive_sentence():
    from coaching.detector_runtime import merge_turn

    text = "相机无法对焦是正常的。我们无法退款。"
    described, refused = _rule_finding(2, 4), _rule_finding(13, 15)
    out = merge_turn([described, refused], [], text, "zh", 0, "agent", "both")
    assert out == [refused]


@pytest.fixture
def no_encoder(tmp_path, monkeypatch):
    """A cache without a built encoder (another test may have built one in the shared one)."""
    monkeypatch.setenv("CALMDESK_CACHE_DIR", str(tmp_path / "empty-cache"))


def test_detector_mode_defaults_and_unavailable_model(tmp_path, no_encoder):
    from coaching.checker import Checker
    from coaching.detector_runtime import resolve_mode

    missing = tmp_path / "nothing"
    assert resolve_mode(None, detector_dir=missing) == "rules"
    assert Checker(detector_dir=str(missing)).mode == "rules"
    with pytest.raises(InputError, match="unavailable: no trained detector"):
        Checker(detector="model", detector_dir=str(missing))
    with pytest.raises(InputError, match="unknown detector 'smart'"):
        resolve_mode("smart")
    # the test cache has no built encoder: the shipped detector cannot run either
    with pytest.raises(InputError, match="calmdesk encoder build"):
        resolve_mode("both")
    assert resolve_mode(None) == "rules" and resolve_mode("RULES") == "rules"


def test_checker_with_the_model_reports_sources(trained, encoder_dir):
    from coaching import Transcript, Turn
    from coaching.checker import Checker

    _, out = trained
    opts = {"detector_dir": str(out), "encoder_path": str(encoder_dir)}
    both = Checker(lang="en", detector="both", **opts)
    assert both.mode == "both"
    call = Transcript(
        turns=[
            Turn("Agent", "agent", "I can't do that. oh xx"),
            Turn("Customer", "customer", "What?"),
            Turn("Agent", "agent", "thanks a lot"),
        ]
    )
    result = both.check(call)
    sources = {(f.turn, f.category, f.source) for f in result.findings}
    assert (0, "negative_language", "rules") in sources
    assert (0, "rude_language", "model") in sources
    assert all(f.turn == 0 for f in result.findings)
    model_only = Checker(lang="en", detector="model", **opts).check(call)
    assert {f.source for f in model_only.findings} == {"model"}
    assert Checker(lang="en", detector="rules", **opts).check(call).findings[0].source == "rules"
    # the config applies to model findings too
    from coaching.config import CoachConfig

    quiet = Checker(lang="en", detector="both", config=CoachConfig(disable=["rude_language"]),
                    **opts)  # fmt: skip
    assert "rude_language" not in {f.category for f in quiet.check(call).findings}
    assert both.check_text("oh xx", lang="en")[0].source == "model"
    # and so does a turn's inline silence marker, by rule id glob or category
    for marker in ("calmdesk: ignore en.*", "calmdesk: ignore rude_language"):
        assert both.check_text(f"oh xx. {marker}", lang="en") == []
    assert both.check_text("oh xx. calmdesk: ignore contrastive_but", lang="en")


def test_cli_detector_flag(tmp_path, capsys, monkeypatch, no_encoder):
    from tests.test_coaching_cli import coach_in_process

    call = tmp_path / "call.txt"
    call.write_text("Agent: I can't do that.\nCustomer: Why?\n", encoding="utf-8")
    proc = coach_in_process(capsys, monkeypatch, str(call), "--detector", "model")
    assert proc.returncode == 2 and proc.stderr.startswith("error:")
    assert "calmdesk encoder build" in proc.stderr and "Traceback" not in proc.stderr
    proc = coach_in_process(capsys, monkeypatch, str(call), "--detector", "smart")
    assert proc.returncode == 2 and "unknown detector 'smart'" in proc.stderr
    proc = coach_in_process(capsys, monkeypatch, str(call), "--detector", "rules", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["findings"][0]["source"] == "rules"


def test_api_detector_field(no_encoder):
    from pydantic import ValidationError

    from api.errors import ApiError
    from api.schemas import CoachRequest, CoachResult
    from api.services import CoachService

    service = CoachService()
    service.loaded = True  # skip the warm-up of every language; "en" compiles on first use
    body = {"text": "Agent: I can't do that.\nCustomer: Why?", "lang": "en"}
    ok = service.check(CoachRequest(**body, detector="rules"), 500, 60)
    assert ok["findings"][0]["source"] == "rules"
    assert CoachResult(**ok).findings[0].source == "rules"
    default = service.check(CoachRequest(**body), 500, 60)  # no model here: rules
    assert default["findings"] == ok["findings"]
    with pytest.raises(ApiError) as missing:
        service.check(CoachRequest(**body, detector="model"), 500, 60, "items.2")
    assert missing.value.status_code == 503 and missing.value.code == "model_unavailable"
    assert "needs the learned model" in missing.value.detail
    with pytest.raises(ValidationError, match="detector"):
        CoachRequest(**body, detector="smart")


def test_the_training_command_sets_thresholds_on_the_detector_as_served(
    encoder_dir, tmp_path, monkeypatch
):
    import coaching.detector_train as train_cli

    data = tmp_path / "data"
    data.mkdir()

    def row(text, lang, split):
        spans = [[0, len(text), "rude_language"]] if "xx" in text else []
        return {"text": text, "lang": lang, "spans": spans, "split": split}

    for split, copies in (("train", 3), ("heldout", 1)):
        rows = [row(t, "en", split) for t in (RUDE + FINE) * copies]
        rows += [row(t, "zh", split) for t in (ZH_RUDE + ZH_FINE) * copies]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    extra = [{"text": "xx you again. Thanks a lot.", "lang": "en", "labels": ["rude_language"]},
             {"text": "the refund is done", "lang": "en", "labels": []}]  # fmt: skip
    (data / "written_extra.jsonl").write_text("".join(json.dumps(r) + "\n" for r in extra))
    monkeypatch.setattr(train_cli, "DATA_DIR", data)
    out = tmp_path / "det"
    args = ["--encoder", str(encoder_dir), "--out", str(out), "--layers", "2", "--epochs", "3",
            "--threads", "1", "--extra", "written_extra:2", "--localise-with", ""]  # fmt: skip
    teacher = tmp_path / "teacher"
    det = ConductDetector(encoder_dir, n_layers=2, n_trainable=1, epochs=1, threads=1)
    det.fit(RUDE + FINE, [["rude_language"]] * len(RUDE) + [[]] * len(FINE))
    det.set_thresholds(RUDE + FINE, [["rude_language"]] * len(RUDE) + [[]] * len(FINE),
                       ["en"] * 12).save(teacher)  # fmt: skip
    args[-1] = str(teacher)
    train_cli.main(args)
    config = json.loads((out / "detector.json").read_text())
    # + the extra split twice: the look-alike's sentence and the rude sentence of the positive
    # turn (its "Thanks a lot." is left out)
    assert config["n_train_sentences"] == 36 + 18 + 2 * 2
    served = ConductDetector.load(out, encoder_path=encoder_dir)
    heldout = train_cli.sentence_rows(train_cli.load_rows("heldout", data))
    again = {k: v for k, v in served.set_thresholds(*heldout).thresholds_.items()}
    assert config["thresholds"] == again  # what the command wrote is what the served one picks
