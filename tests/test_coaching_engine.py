"""Engine, checker, config and score behaviour; the dev-set precision/recall floor."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

import coaching.engine as engine_module
from calmdesk.errors import InputError, UnsupportedLanguageError
from coaching import Checker, CoachConfig, Finding, Transcript, Turn
from coaching.engine import RuleEngine, match_text, matchable_text
from coaching.rulebook import CATEGORIES, parse_rulebook
from coaching.scoring import score

FIXTURES = Path(__file__).parent / "fixtures" / "coaching"


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker()


def _engine(rules_yaml: str, lang: str = "en") -> RuleEngine:
    _, rules = parse_rulebook(yaml.safe_load(f"lang: {lang}\nrules:\n{rules_yaml}"), "test.yaml")
    return RuleEngine(rules, lang)


def _rule(rule_id: str, patterns: str, exceptions: str = "[]") -> str:
    return f"""
  - id: {rule_id}
    category: negative_language
    severity: error
    message: {{en: "m"}}
    suggestion: "s"
    patterns: {patterns}
    exceptions: {exceptions}
    examples: {{match: ["x"], no_match: ["y"]}}
"""


# --------------------------------------------------------------------------- engine


@pytest.mark.parametrize(
    ("lang", "text", "rule_id", "span"),
    [
        ("es", "Lo siento, no podemos hacerlo hoy.", "es.negative_language.no_puedo", "no podemos"),
        ("ru", "К сожалению, мы не сможем.", "ru.negative_language.ne_mogu", "не сможем"),
        (
            "en",
            "I couldn't possibly refund it.",
            "en.negative_language.cant",
            "I couldn't possibly",
        ),
        ("en", "I can’t change it.", "en.negative_language.cant", "I can’t"),
        ("es", "Puedo no podemos.", "es.negative_language.no_puedo", "no podemos"),
        ("ru", "Всё проверю, но мы не знаем сроков.", "ru.negative_language.ne_znayu", "не знаем"),
    ],
)
def test_lemma_aware_matches_quote_the_original_text(lang, text, rule_id, span):
    hits = [m for m in match_text(text, lang) if m.rule.id == rule_id]
    assert [h.text for h in hits] == [span]
    assert text[hits[0].start : hits[0].end] == span


def test_capitalised_inflected_forms_are_lemmatised():
    # The spaCy lookup lemmatizer leaves "Podemos" alone; the engine lemmatises the lower case.
    assert any(
        m.rule.id == "es.negative_language.no_puedo" for m in match_text("NO PODEMOS.", "es")
    )


def test_contrastive_but_highlights_only_the_but():
    text = "I'm sorry for the wait, but the refund takes ten days."
    hits = [m for m in match_text(text, "en") if m.rule.category == "contrastive_but"]
    assert [(h.text, h.start) for h in hits] == [("but", text.index("but"))]


def test_not_every_but_is_flagged():
    for text in (
        "Not only will we refund it, but we'll also send a voucher.",
        "But of course I can help with that.",
        "The parcel left today but the tracking updates tomorrow.",
    ):
        assert not [m for m in match_text(text, "en") if m.rule.category == "contrastive_but"]


def test_traditional_chinese_offsets_point_into_the_original():
    text = "您好，這個問題我們沒辦法處理，這不關我的事。"
    found = {m.rule.id: m for m in match_text(text, "zh")}
    assert found["zh.negative_language.bu_neng"].text == "沒辦法"
    assert found["zh.blame_shifting.bu_shi_wo_de_gongzuo"].text == "不關我的事"
    for m in found.values():
        assert text[m.start : m.end] == m.text


def test_chinese_length_change_falls_back_to_per_character_conversion(monkeypatch):
    real = engine_module.to_simplified

    def lengthening(text: str) -> str:  # a phrase conversion that changes the length
        return real(text) + ("X" if len(text) > 1 else "")

    monkeypatch.setattr(engine_module, "to_simplified", lengthening)
    engine_module._simplify_char.cache_clear()
    original = "我們沒辦法"
    seen = matchable_text(original, "zh")
    assert seen == "我们没办法" and len(seen) == len(original)
    engine_module._simplify_char.cache_clear()


def test_matchable_text_keeps_length():
    for text, lang in [("I can’t “do” it", "en"), ("Всё ещё", "ru"), ("這個ＡＢＣ１２３", "zh")]:
        assert len(matchable_text(text, lang)) == len(text)
    assert matchable_text("Всё", "ru") == "Все"


def test_overlapping_matches_of_one_rule_are_merged():
    engine = _engine(_rule("en.negative_language.t", '[[{LOWER: "a"}, {LOWER: "b"}], '
                                                      '[{LOWER: "b"}, {LOWER: "c"}]]'))  # fmt: skip
    hits = engine.match_text("x a b c y")
    assert [(h.text, h.start, h.end) for h in hits] == [("a b c", 2, 7)]


def test_an_exception_cancels_only_the_match_it_overlaps():
    engine = _engine(
        _rule(
            "en.negative_language.t",
            '[[{LOWER: "nope"}]]',
            '[[{LOWER: "nope"}, {LOWER: "problem"}]]',
        )
    )
    text = "Nope problem here, but nope."
    hits = engine.match_text(text)
    assert [h.start for h in hits] == [text.rindex("nope")]


def test_regex_mark_group_sets_the_span():
    engine = _engine(_rule("en.negative_language.t", '[{regex: "well,? (?P<mark>no)\\\\b"}]'))
    text = "Well, no."
    assert [(h.text, h.start) for h in engine.match_text(text)] == [("no", 6)]


def test_bounded_repeat_limits_the_window():
    engine = _engine(
        _rule("en.negative_language.t", '[[{LOWER: "sorry"}, {OP: "{0,2}"}, {LOWER: "but"}]]')
    )
    assert engine.match_text("sorry a b but")
    assert not engine.match_text("sorry a b c but")


def test_bounded_repeats_become_wildcards_with_a_length_limit():
    # spaCy expands {0,10} into ten optional tokens (slow); the engine uses `*` plus a length check.
    tokens, max_len = engine_module._unbounded(
        [{"LOWER": "a"}, {"OP": "{0,2}"}, {"LOWER": "b", "OP": "?"}]
    )
    assert tokens[1] == {"OP": "*"} and max_len == 4
    assert engine_module._unbounded([{"LOWER": "a"}, {"OP": "*"}]) == (
        [{"LOWER": "a"}, {"OP": "*"}],
        None,
    )


def test_empty_text_has_no_matches():
    assert match_text("", "en") == []


# --------------------------------------------------------------------------- checker


def _transcript(*turns: tuple[str, str], lang: str | None = None) -> Transcript:
    return Transcript(
        turns=[Turn(speaker=s, role="agent" if s.startswith("A") else "customer", text=t)
               for s, t in turns],
        id="call-1", agent_id="maria", lang=lang,
    )  # fmt: skip


def test_only_agent_turns_are_checked(checker):
    t = _transcript(("Customer", "I can't log in and I don't know why."),
                    ("Agent", "Thanks for calling. I can't see the order."))  # fmt: skip
    result = checker.check(t)
    assert result.lang == "en" and result.n_agent_turns == 1
    assert [(f.turn, f.speaker, f.text) for f in result.findings] == [(1, "Agent", "I can't")]
    finding = result.findings[0]
    assert finding.rule_id == "en.negative_language.cant" and finding.severity == "error"
    assert finding.message_en and "I can't" in finding.suggestion
    assert result.counts == {**dict.fromkeys(CATEGORIES, 0), "negative_language": 1}
    assert result.id == "call-1" and result.agent_id == "maria"


def test_language_is_given_then_transcript_then_detected(checker):
    spanish = _transcript(("Agente", "Lo siento, no puedo hacer eso por usted hoy."))
    assert checker.check(spanish).lang == "es"
    assert Checker(lang="es").check(_transcript(("Agent", "no puedo"), lang="en")).lang == "es"
    assert checker.check(_transcript(("Agent", "no puedo"), lang="es")).lang == "es"


def test_clean_call_scores_100_and_findings_lower_it(checker):
    clean = _transcript(("Agent", "Thank you, I'll fix it now."), ("Agent", "Anything else?"))
    bad = _transcript(("Agent", "I can't do that."), ("Agent", "Calm down, sir."))
    worse = _transcript(("Agent", "I can't do that. I don't know."), ("Agent", "Calm down."))
    assert checker.check(clean).score == 100.0
    assert 0 < checker.check(worse).score < checker.check(bad).score < 100


def test_check_text_errors(checker):
    with pytest.raises(InputError, match="empty text"):
        checker.check_text("   ", lang="en")
    with pytest.raises(InputError, match="too long"):
        checker.check_text("no " * 40_000, lang="en")
    with pytest.raises(UnsupportedLanguageError):
        checker.check_text("Je ne peux pas", lang="fr")


def test_transcript_without_agent_turns_is_an_error(checker):
    with pytest.raises(InputError, match="no agent turn"):
        checker.check(_transcript(("Customer", "Hello?")))


def test_check_many_keeps_order(checker):
    calls = [_transcript(("Agent", "No lo sé.")), _transcript(("Agent", "Не знаю."))]
    assert [r.lang for r in checker.check_many(calls)] == ["es", "ru"]


def test_follow_up_script_findings_and_summary_are_merged(monkeypatch):
    import coaching.script_check as script_check

    step = Finding("script.follow_up.closing", "script", "warning", None, None, None, None, "",
                   "m", "m", "s")  # fmt: skip
    calls = []

    def fake_check_script(transcript, lang, script):
        calls.append((lang, script))
        return [step], {"script": script, "missing": ["closing"]}

    monkeypatch.setattr(script_check, "check_script", fake_check_script)
    result = Checker(script="follow-up").check(_transcript(("Agent", "I can't do that.")))
    assert calls == [("en", "follow-up")]
    assert result.script == {"script": "follow-up", "missing": ["closing"]}
    assert [f.rule_id for f in result.findings][-1] == "script.follow_up.closing"
    assert result.counts["script"] == 1


# --------------------------------------------------------------------------- config


def test_disable_by_id_category_and_glob():
    text = "I'm sorry, but I can't do that."
    assert {f.category for f in Checker().check_text(text, "en")} == {
        "contrastive_but", "negative_language"}  # fmt: skip
    by_id = Checker(config=CoachConfig(disable=("en.negative_language.cant",)))
    assert {f.category for f in by_id.check_text(text, "en")} == {"contrastive_but"}
    by_cat = Checker(config=CoachConfig(disable=("contrastive_but",)))
    assert {f.category for f in by_cat.check_text(text, "en")} == {"negative_language"}
    by_glob = Checker(config=CoachConfig(disable=("en.*",)))
    assert by_glob.check_text(text, "en") == []


def test_severity_override_rule_id_beats_category():
    config = CoachConfig.load(
        severity=["negative_language=info", "en.negative_language.cant=warning"]
    )
    findings = Checker(config=config).check_text("I can't. I don't know.", "en")
    assert {(f.rule_id, f.severity) for f in findings} == {
        ("en.negative_language.cant", "warning"),
        ("en.negative_language.dont_know", "info"),
    }


def test_allow_listed_phrase_drops_only_overlapping_findings():
    config = CoachConfig(allow=("no way the",))
    findings = Checker(config=config).check_text(
        "There's no way the box broke here. I can't help.", "en"
    )
    assert [f.rule_id for f in findings] == ["en.negative_language.cant"]


def test_allow_list_matches_traditional_chinese_through_simplified_form():
    config = CoachConfig(allow=("没办法",))
    assert not Checker(config=config).check_text("我們沒辦法。", "zh")


@pytest.mark.parametrize(
    ("marker", "left"),
    [
        ("calmdesk: ignore", set()),
        ("[calmdesk: ignore en.negative_language.cant]", {"contrastive_but"}),
        ("(calmdesk: ignore contrastive_but, quoting the customer)", {"negative_language"}),
        ("calmdesk:ignore en.*", set()),
    ],
)
def test_inline_silence_marker(marker, left):
    findings = Checker().check_text(f"I'm sorry, but I can't do that. {marker}", "en")
    assert {f.category for f in findings} == left


def test_user_rulebook_from_config_file(tmp_path):
    (tmp_path / "house.yaml").write_text(
        "lang: en\nrules:\n"
        + _rule(
            "en.dismissive.house_policy", '[[{LOWER: "policy"}, {LOWER: "is"}, {LOWER: "policy"}]]'
        ),
        encoding="utf-8",
    )
    (tmp_path / "coach.yaml").write_text(
        "rulebooks: [house.yaml]\nseverity: {en.dismissive.house_policy: info}\n", encoding="utf-8"
    )
    checker = Checker(config=CoachConfig.from_file(tmp_path / "coach.yaml"))
    findings = checker.check_text("Policy is policy.", "en")
    assert [(f.rule_id, f.severity, f.text) for f in findings] == [
        ("en.dismissive.house_policy", "info", "Policy is policy")]  # fmt: skip
    assert checker.check_text("No puedo.", "es")  # other languages keep their shipped rules


def test_config_file_plus_options(tmp_path):
    path = tmp_path / "coach.yaml"
    path.write_text("disable: [contrastive_but]\nallow: [no problem]\n", encoding="utf-8")
    config = CoachConfig.load(path, disable=["flat_denial"], allow=["no worries"])
    assert config.disable == ("contrastive_but", "flat_denial")
    assert config.allow == ("no problem", "no worries")
    assert config.with_overrides(severity={"easy_promise": "info"}).severity == {
        "easy_promise": "info"
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("colour: red\n", "unknown key(s) colour"),
        ("severity: {contrastive_but: loud}\n", "expected one of error, warning, info"),
        ("disable: 3\n", "'disable' must be a list"),
        ("rules: [x]\n", "unknown key(s) rules"),
        ("[a, b]\n", "expected a mapping"),
        ("disable: [x\n", "not valid YAML"),
    ],
)
def test_config_file_errors_name_the_file(tmp_path, text, expected):
    path = tmp_path / "coach.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        CoachConfig.from_file(path)
    assert expected in str(err.value) and "coach.yaml" in str(err.value)


def test_unknown_rule_in_config_is_reported_as_a_typo():
    with pytest.raises(InputError, match=r"'en\.negative_language\.cnat' is neither a rule id"):
        Checker(config=CoachConfig(disable=("en.negative_language.cnat",)))
    with pytest.raises(InputError, match="expected RULE_OR_CATEGORY=LEVEL"):
        CoachConfig.load(severity=["contrastive_but"])
    with pytest.raises(InputError, match="no such file"):
        CoachConfig.from_file("/nonexistent/coach.yaml")
    with pytest.raises(InputError, match="too short"):
        CoachConfig.load(allow=["a"])


def test_user_rulebook_errors_surface_through_the_checker(tmp_path):
    (tmp_path / "bad.yaml").write_text("lang: en\nrules:\n" + _rule("en.grumpy.x", "[]"))
    with pytest.raises(InputError, match=r"bad.yaml: rule en.grumpy.x"):
        Checker(config=CoachConfig(rulebooks=(tmp_path / "bad.yaml",))).check_text("hi", "en")


# --------------------------------------------------------------------------- score


def test_score_formula():
    def f(severity):
        return Finding("r", "c", severity, 0, "a", 0, 1, "x", "m", "m", "s")

    assert score([], 20) == 100.0
    assert score([f("error")], 20) == round(100 * math.exp(-3 * 1 / 20), 1) == 86.1
    assert score([f("warning")], 20) == 92.8
    assert score([f("info")] * 5, 20) == score([f("error")], 20)
    assert score([], 0) == 100.0


# --------------------------------------------------------------------------- dev set floor


@pytest.mark.parametrize("lang", ["en", "es", "zh", "ru"])
def test_dev_set_precision_and_recall_stay_above_the_floor(checker, lang):
    rows = [json.loads(line) for line in (FIXTURES / f"devset_{lang}.jsonl").open(encoding="utf-8")]
    assert len(rows) >= 150
    tp = fp = fn = 0
    for row in rows:
        flagged = bool(checker.check_text(row["text"], lang))
        tp += flagged and row["expected"]
        fp += flagged and not row["expected"]
        fn += row["expected"] and not flagged
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert precision >= 0.9 and recall >= 0.85, (lang, precision, recall)
