"""Follow-up call script check: complete calls pass, missing steps are findings (four languages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from calmdesk.errors import InputError
from coaching import load_transcripts, parse_transcript
from coaching.script_check import CATEGORY, check_script, load_script

FIXTURES = Path(__file__).parent / "fixtures" / "coaching" / "transcripts"
COMPLETE = {
    "en": "ana_en_followup.txt",
    "es": "luis_es_followup.txt",
    "zh": "wang_zh_followup.vtt",
    "ru": "olga_ru_followup.srt",
}
STEPS = [s.id for s in load_script("follow-up").steps]


@pytest.mark.parametrize("lang", sorted(COMPLETE))
def test_complete_follow_up_call_passes(lang):
    transcript = load_transcripts(FIXTURES / COMPLETE[lang])[0]
    findings, summary = check_script(transcript, lang)
    assert findings == []
    assert summary["complete"] and summary["found"] == summary["total"] == len(STEPS) == 8
    assert [s["id"] for s in summary["steps"]] == STEPS
    agent_turns = {i for i, _ in transcript.agent_turns}
    assert all(s["turn"] in agent_turns and s["text"] for s in summary["steps"])


def test_traditional_chinese_call_passes_and_quotes_the_original_script():
    transcript = load_transcripts(FIXTURES / "chen_zh_hant.txt")[0]
    findings, summary = check_script(transcript, "zh")
    assert findings == [] and summary["complete"]
    confirm = next(s for s in summary["steps"] if s["id"] == "confirm_customer")
    assert confirm["text"] == "請問您是張小姐"  # traditional, as the agent wrote it
    turn = transcript.turns[confirm["turn"]].text
    assert turn[confirm["start"] : confirm["end"]] == confirm["text"]


def test_steps_match_across_line_breaks_and_curly_apostrophes():
    text = (
        "Agent: Hello, I\u2019m Sam calling from Acme.\nAm I speaking with Ms Lee?\nCustomer: Yes."
    )
    _, summary = check_script(parse_transcript(text), "en")
    found = {s["id"]: s["text"] for s in summary["steps"] if s["found"]}
    assert found["introduction"] == "I\u2019m Sam calling from"
    assert "confirm_customer" in found


# Calls that greet and close, but skip the introduction, the apology and the satisfaction
# question: the check must name exactly those steps.
PARTIAL = {
    "en": [
        "Agent: Hello, am I speaking with Mrs Green?",
        "Customer: Yes.",
        "Agent: Your washing machine was repaired on Monday; the technician left the invoice.",
        "Customer: OK.",
        "Agent: Thanks a lot. Call us any time. Have a nice day!",
    ],
    "es": [
        "Agente: Buenas tardes, ¿hablo con el señor Pérez?",
        "Cliente: Sí.",
        "Agente: Le llamo porque la reparación de su lavadora terminó el lunes.",
        "Cliente: Vale.",
        "Agente: Muchas gracias. Llámenos cuando quiera. ¡Que tenga un buen día!",
    ],
    "zh": [
        "客服：您好，请问是王先生吗？",
        "顾客：是的。",
        "客服：您的洗衣机周一已经修好了。",
        "顾客：好。",
        "客服：谢谢您，有问题随时联系我们，祝您生活愉快！",
    ],
    "ru": [
        "Оператор: Добрый день, я говорю с Анной Сергеевной?",
        "Клиент: Да.",
        "Оператор: Ремонт вашей стиральной машины закончен в понедельник.",
        "Клиент: Хорошо.",
        "Оператор: Спасибо! Звоните нам в любое время. Всего доброго!",
    ],
}


@pytest.mark.parametrize("lang", sorted(PARTIAL))
def test_missing_steps_are_transcript_level_findings(lang):
    transcript = parse_transcript("\n".join(PARTIAL[lang]))
    findings, summary = check_script(transcript, lang)
    missing = {"introduction", "apology_disturbing", "satisfaction_question"}
    assert {s["id"] for s in summary["steps"] if not s["found"]} == missing
    assert not summary["complete"] and summary["found"] == 5
    assert {f.rule_id for f in findings} == {f"script.follow_up.{m}" for m in missing}
    for f in findings:
        assert f.category == CATEGORY and f.severity == "warning"
        assert f.turn is None and f.start is None and f.speaker is None
        assert f.message and f.message_en and f.suggestion
    if lang != "en":  # the message is in the call's language, with an English twin
        assert all(f.message != f.message_en for f in findings)


def test_opening_steps_only_count_at_the_start_and_closing_at_the_end():
    lines = ["Agent: Let's start.", "Customer: Sure."] * 4
    lines += ["Agent: Good morning, this is Tom from Acme. Sorry to bother you."]
    lines = ["Agent: Thank you, have a nice day, call us any time.", *lines]
    _, summary = check_script(parse_transcript("\n".join(lines)), "en")
    found = {s["id"] for s in summary["steps"] if s["found"]}
    assert "greeting" not in found and "apology_disturbing" not in found  # too late
    assert "thanks" not in found and "good_wishes" not in found  # too early


def test_customer_turns_do_not_count():
    text = "Agent: Hi.\nCustomer: Thank you, have a nice day, call me any time!\nAgent: Bye."
    _, summary = check_script(parse_transcript(text), "en")
    found = {s["id"] for s in summary["steps"] if s["found"]}
    assert found == {"greeting"}


def test_unknown_script_and_language():
    transcript = parse_transcript("Agent: hi")
    with pytest.raises(InputError, match=r"unknown call script 'welcome'.*follow-up"):
        check_script(transcript, "en", script="welcome")
    with pytest.raises(InputError, match="unsupported language"):
        check_script(transcript, "fr")
