"""Transcript parsers: every format, speaker roles in four languages, detection, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calmdesk.errors import InputError
from coaching import load_transcripts, parse_transcript, transcript_from_dict
from coaching.parsers import (
    SpeakerRoles,
    agent_id_from_name,
    detect_format,
    parse_speaker_option,
)

FIXTURES = Path(__file__).parent / "fixtures" / "coaching" / "transcripts"


def _roles(t) -> list[str]:
    return [turn.role for turn in t.turns]


# --------------------------------------------------------------------------- plain text


def test_text_prefixes_timestamps_and_continuation_lines():
    t = load_transcripts(FIXTURES / "ana_en_followup.txt")[0]
    assert t.id == "ana_en_followup" and t.agent_id == "ana"
    assert len(t.turns) == 13
    assert _roles(t)[:4] == ["agent", "customer", "agent", "customer"]
    assert t.turns[0].start == 1.0 and t.turns[6].start == 30.0
    # the unprefixed line belongs to the previous agent turn
    assert t.turns[8].text.endswith("look at the brakes for free.")
    assert "\nNot only will they check" in t.turns[8].text


def test_chat_export_dates_and_times():
    text = "[12/05/2024, 10:31:02] Agente: Hola\n[2024-05-12 10:31:40] Cliente: Buenas"
    t = parse_transcript(text)
    assert [(x.speaker, x.role, x.text, x.start) for x in t.turns] == [
        ("Agente", "agent", "Hola", 37862.0),
        ("Cliente", "customer", "Buenas", 37900.0),
    ]


def test_clock_times_before_or_after_the_speaker():
    text = "Agent (00:01:02): Hello: there\nCustomer [01:05]: hi\n00:12 Agent: at 10:30 we open"
    t = parse_transcript(text)
    assert [(x.speaker, x.text, x.start) for x in t.turns] == [
        ("Agent", "Hello: there", 62.0),
        ("Customer", "hi", 65.0),
        ("Agent", "at 10:30 we open", 12.0),
    ]


@pytest.mark.parametrize(
    ("text", "roles"),
    [
        ("Agent: Hello\nCustomer: Hi", ["agent", "customer"]),
        ("Agente: Hola\nCliente: Buenas", ["agent", "customer"]),
        ("客服: 您好\n顾客: 你好", ["agent", "customer"]),
        ("客服：您好\n客戶：你好", ["agent", "customer"]),  # full-width colon, traditional
        ("Оператор: Здравствуйте\nКлиент: Добрый день", ["agent", "customer"]),
        ("AGENTE: hola\ncliente: hola", ["agent", "customer"]),  # any case
        ("Agent Maria: hi\nCustomer (Juan): hello", ["agent", "customer"]),
        ("客服小王：您好\n顾客：你好", ["agent", "customer"]),
        ("Customer Service: Hello\nCustomer: Hi", ["agent", "customer"]),
        ("客户经理李明：您好\n客户：你好", ["agent", "customer"]),
        ("Atención al cliente: Hola\nCliente: Hola", ["agent", "customer"]),
        ("Служба поддержки: Добрый день\nКлиент: Здравствуйте", ["agent", "customer"]),
    ],
)
def test_speaker_roles_in_four_languages(text, roles):
    assert _roles(parse_transcript(text)) == roles


def test_every_line_is_kept_in_some_turn():
    text = "Call 1234, recorded 2024-05-01\nAgent: Hello\n\nNote: ref 55\nCustomer: Hi\n  more\n"
    t = parse_transcript(text)
    assert [(x.speaker, x.role) for x in t.turns] == [
        ("", "other"),
        ("Agent", "agent"),
        ("Note", "other"),
        ("Customer", "customer"),
    ]
    kept = " ".join(x.text for x in t.turns)
    for piece in ("Call 1234", "Hello", "ref 55", "Hi", "more"):
        assert piece in kept


def test_speakers_argument_maps_names_to_roles():
    text = "Maria: Buenos días\nJuan: Hola\nMaria: ¿En qué le ayudo?"
    with pytest.raises(InputError) as err:
        parse_transcript(text, name="call.txt")
    message = str(err.value)
    assert "no agent turn found" in message and "'Maria'" in message and "'Juan'" in message
    assert "--speaker" in message and "call.txt" in message
    t = parse_transcript(text, speakers={"Maria": "agent", "Juan": "customer"})
    assert _roles(t) == ["agent", "customer", "agent"]
    t = parse_transcript(text, speakers={"agent": ["maria"]})  # the YAML shape works too
    assert _roles(t) == ["agent", "other", "agent"]


def test_speakers_yaml_file(tmp_path):
    path = tmp_path / "speakers.yaml"
    path.write_text("agent: [Maria]\ncustomer: [Juan]\n", encoding="utf-8")
    t = parse_transcript("Maria: hola\nJuan: hola", speakers=path)
    assert _roles(t) == ["agent", "customer"]
    path.write_text("agent: [Maria]\nboss: [Juan]\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown speaker role 'boss'"):
        SpeakerRoles.from_arg(path)


def test_speaker_option_parsing():
    assert parse_speaker_option(["Maria=agent", "Juan Pérez = customer"]) == {
        "Maria": "agent",
        "Juan Pérez": "customer",
    }
    with pytest.raises(InputError, match="NAME=ROLE"):
        parse_speaker_option(["Maria"])


def test_traditional_chinese_text_fixture():
    t = load_transcripts(FIXTURES / "chen_zh_hant.txt")[0]
    assert t.agent_id == "chen"
    assert _roles(t) == ["agent", "customer"] * 4 + ["agent"]
    assert t.turns[6].text.startswith("真的很抱歉讓您久等了")  # original script kept


def test_turn_without_text_is_an_error():
    with pytest.raises(InputError, match=r"line 2: turn without text"):
        parse_transcript("Agent: Hello\nCustomer:\nAgent: Are you there?")


def test_text_without_any_prefix_is_an_error():
    with pytest.raises(InputError, match="no speaker prefixes"):
        parse_transcript("Hello, how are you\nFine thanks", format="text", name="notes.txt")


# --------------------------------------------------------------------------- JSON / JSONL


def test_json_fixture_with_roles_timings_and_extra_fields():
    t = load_transcripts(FIXTURES / "ben_en_complaint.json")[0]
    assert (t.id, t.agent_id, t.lang) == ("call-0042", "ben", "en")
    assert _roles(t) == ["agent", "customer"] * 3 + ["agent"]
    assert t.turns[0].speaker == "Ben" and t.turns[1].start == 4.5
    assert t.meta == {"channel": "phone"}


def test_transcript_from_dict_roles_from_speaker_names_and_clock_times():
    t = transcript_from_dict(
        {
            "id": 7,
            "turns": [
                {"speaker": "Оператор", "text": "Добрый день", "start": "00:00:01.500"},
                {"speaker": "Клиент", "text": "Здравствуйте", "start": 3, "end": "0:04"},
            ],
        }
    )
    assert t.id == "7" and _roles(t) == ["agent", "customer"]
    assert t.turns[0].start == 1.5 and t.turns[1].end == 4.0


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"turns": []}, "non-empty 'turns'"),
        ({"id": "x"}, "non-empty 'turns'"),
        ({"turns": [{"speaker": "Agent", "text": ""}]}, r"turns\[0\]: turn without text"),
        ({"turns": [{"speaker": "Agent"}]}, r"turns\[0\]: turn without text"),
        ({"turns": [{"text": "hi"}]}, r"turns\[0\]: turn without 'speaker'"),
        ({"turns": [{"speaker": "A", "role": "boss", "text": "hi"}]}, "unknown speaker role"),
        ({"turns": [{"speaker": "Agent", "text": "hi", "start": "soon"}]}, r"turns\[0\]: start"),
        ({"lang": "fr", "turns": [{"speaker": "Agent", "text": "hi"}]}, "lang: unsupported"),
        ({"turns": [{"speaker": "Customer", "text": "hi"}]}, "no agent turn found"),
        (["not", "an", "object"], "expected a transcript object"),
    ],
)
def test_transcript_from_dict_errors(obj, expected):
    with pytest.raises(InputError, match=expected):
        transcript_from_dict(obj)


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "call.json"
    path.write_text('{"id": "a",\n "turns": [\n  {"speaker": "Agent" "text": "hi"}]}')
    with pytest.raises(InputError, match=r"call\.json: line 3 column .*malformed JSON"):
        load_transcripts(path)


def test_jsonl_batch_ids_and_line_numbers(tmp_path):
    ts = load_transcripts(FIXTURES / "batch.jsonl")
    assert [t.id for t in ts] == ["b-en-1", "b-es-1", "b-zh-1", "b-zh-2", "b-ru-1"]
    assert [t.agent_id for t in ts] == ["ana", "luis", "wang", "chen", "olga"]
    assert ts[2].lang is None and ts[3].lang == "zh"
    path = tmp_path / "calls.jsonl"
    good = json.dumps({"turns": [{"speaker": "Agent", "text": "hi"}]})
    path.write_text(f"{good}\n\n{good}\n", encoding="utf-8")
    assert [t.id for t in load_transcripts(path)] == ["calls:1", "calls:3"]  # ids from lines
    path.write_text(f"{good}\n{{broken\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"calls\.jsonl: line 2: malformed JSON"):
        load_transcripts(path)
    bad_turn = json.dumps({"turns": [{"speaker": "Agent", "text": " "}]})
    path.write_text(f"{good}\n{bad_turn}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2: turns\[0\]: turn without text"):
        load_transcripts(path)


def test_parse_transcript_refuses_a_batch():
    lines = "\n".join(json.dumps({"turns": [{"speaker": "Agent", "text": "hi"}]}) for _ in "ab")
    with pytest.raises(InputError, match="holds 2 transcripts"):
        parse_transcript(lines, format="jsonl")


# --------------------------------------------------------------------------- WebVTT / SRT


def test_vtt_voice_tags_entities_notes_and_merged_cues():
    t = load_transcripts(FIXTURES / "wang_zh_followup.vtt")[0]
    assert t.agent_id == "wang" and len(t.turns) == 12
    assert _roles(t)[:2] == ["agent", "customer"]
    # cue 10 has no voice tag: it continues cue 9, joined without a space (Chinese)
    assert t.turns[8].text == "没问题，我马上把您的情况转给维修主管，他今天会给您回电话。"
    assert (t.turns[8].start, t.turns[8].end) == (33.5, 41.0)
    assert all("NOTE" not in turn.text and "<" not in turn.text for turn in t.turns)


def test_vtt_prefixes_in_cue_text_and_entities():
    text = (
        "WEBVTT\n\n00:01.000 --> 00:02.000\nAgente: Hola &amp; bienvenido\n\n"
        "1:00:03.000 --> 1:00:04.250\n<v.loud Cliente>Hola</v>\n"
    )
    t = parse_transcript(text)
    assert t.turns[0].text == "Hola & bienvenido" and t.turns[0].start == 1.0
    assert t.turns[1].role == "customer" and t.turns[1].end == 3604.25


def test_vtt_without_header_or_with_broken_timing():
    with pytest.raises(InputError, match=r"call\.vtt: line 1: not a WebVTT file"):
        parse_transcript("00:01.000 --> 00:02.000\n<v Agent>hi", name="call.vtt")
    broken = "WEBVTT\n\n1\n00:01 --> 00:02.000\n<v Agent>hi\n"
    with pytest.raises(InputError, match=r"cue at line 4: broken timing line '00:01 --> "):
        parse_transcript(broken)
    no_timing = "WEBVTT\n\n<v Agent>hi\n"
    with pytest.raises(InputError, match="cue at line 3: no timing line"):
        parse_transcript(no_timing)


def test_srt_prefixes_multiline_cues_and_timings():
    t = load_transcripts(FIXTURES / "olga_ru_followup.srt")[0]
    assert t.agent_id == "olga" and len(t.turns) == 11
    assert _roles(t) == ["agent", "customer"] * 5 + ["agent"]
    assert t.turns[4].text == "Спасибо, что воспользовались нашим сервисом. Вы довольны ремонтом?"
    assert (t.turns[4].start, t.turns[4].end) == (12.5, 17.0)


def test_srt_broken_timing_names_the_cue():
    text = "1\n00:00:01,000 --> 00:00:02,000\nAgent: hi\n\n2\n00:00:03 -> 00:00:04\nCustomer: yo\n"
    with pytest.raises(InputError, match=r"x\.srt: cue 2 \(line 6\): broken timing line"):
        parse_transcript(text, name="x.srt")


# --------------------------------------------------------------------------- CSV


def test_csv_fixture_quoted_commas_and_timings():
    t = load_transcripts(FIXTURES / "marta_es_chat.csv")[0]
    assert t.agent_id == "marta" and len(t.turns) == 7
    assert t.turns[1].text.startswith("Me cobraron dos veces el pedido 4471, y el importe")
    assert (t.turns[4].start, t.turns[4].end) == (15.5, 21.0)


def test_csv_semicolons_and_role_column():
    t = parse_transcript("Speaker;Role;Text\nMaria;agent;Hola\nJuan;customer;Buenas\n")
    assert [(x.speaker, x.role) for x in t.turns] == [("Maria", "agent"), ("Juan", "customer")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("who,what\nAgent,hi\n", r"line 1: the CSV needs the columns speaker,text.*found: who"),
        ("speaker,text\nAgent,hi\nCustomer,\n", r"row 2 \(line 3\): turn without text"),
        ("speaker,text\nAgent,hi,extra\n", r"row 1 \(line 2\): 3 fields but the header has 2"),
        ("speaker,text,start\nAgent,hi,later\n", r"row 1 \(line 2\): start"),
    ],
)
def test_csv_errors(text, expected):
    with pytest.raises(InputError, match=expected):
        parse_transcript(text, format="csv", name="chat.csv")


# --------------------------------------------------------------------------- detection, files


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("WEBVTT\n\n00:01.000 --> 00:02.000\nhi", None, "vtt"),
        ("1\n00:00:01,000 --> 00:00:02,000\nAgent: hi", None, "srt"),
        ('{"turns": []}', None, "json"),
        ('{"turns": []}\n{"turns": []}', None, "jsonl"),
        ("[{}]", None, "json"),
        ('[{"turns": [}]', None, "json"),  # broken JSON stays JSON, for a clear error
        ("[2024-05-12 10:31:40] Agent: hi", None, "text"),  # a chat export
        ("speaker,text\nAgent,hi", None, "csv"),
        ("Agent: hi, text, speaker", None, "text"),
        ("Agent: hi", "call.vtt", "vtt"),  # a known extension wins over the content
        ("anything", "call.SRT", "srt"),
        ("Agent: hi", "call.log", "text"),  # unknown extension: content decides
    ],
)
def test_format_detection(text, name, expected):
    assert detect_format(text, name) == expected


def test_explicit_format_wins_over_detection():
    with pytest.raises(InputError, match="not a WebVTT file"):
        parse_transcript("Agent: hi\nCustomer: hello", format="vtt")
    with pytest.raises(InputError, match="unknown transcript format 'docx'"):
        parse_transcript("Agent: hi", format="docx")


def test_empty_missing_and_non_utf8_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(InputError, match=r"empty\.txt: empty file"):
        load_transcripts(empty)
    with pytest.raises(InputError, match="no such file or folder"):
        load_transcripts(tmp_path / "nope.txt")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Agente: ¿Qué tal?".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1\.txt: not UTF-8"):
        load_transcripts(latin1)


def test_folder_loads_every_transcript_recursively(tmp_path, caplog):
    ts = load_transcripts(FIXTURES)
    assert len(ts) == 12  # 7 single-call files + 5 batch lines
    assert {t.agent_id for t in ts} == {"ana", "luis", "wang", "chen", "olga", "ben", "marta"}
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "joe_1.txt").write_text("Agent: hi\nCustomer: hey", encoding="utf-8")
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    ts = load_transcripts(tmp_path)
    assert [t.agent_id for t in ts] == ["joe"]
    assert "skipped" in caplog.text and "notes.docx" in caplog.text
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: no transcript files found"):
        load_transcripts(tmp_path / "empty")


def test_lang_argument_sets_and_validates_the_language():
    assert parse_transcript("Agent: hi", lang="ES").lang == "es"
    with pytest.raises(InputError, match="unsupported language"):
        parse_transcript("Agent: hi", lang="fr")


def test_agent_id_from_file_name():
    assert agent_id_from_name("calls/maria_2024-05-01.txt") == "maria"
    assert agent_id_from_name("call42.vtt") == "call42"
    assert agent_id_from_name(None) is None and agent_id_from_name("<stdin>") is None


def test_json_list_is_a_batch_with_ids_from_the_file(tmp_path):
    one = {"agent_id": "zoe", "turns": [{"speaker": "Agent", "text": "hi"}]}
    path = tmp_path / "calls.json"
    path.write_text(json.dumps([one, {**one, "id": "own-id"}]), encoding="utf-8")
    ts = load_transcripts(path)
    assert [t.id for t in ts] == ["calls:0", "own-id"] and ts[0].agent_id == "zoe"
    with pytest.raises(InputError, match=r"calls\.json: \[1\]: turns\[0\]: turn without text"):
        bad = {"turns": [{"speaker": "Agent", "text": ""}]}
        path.write_text(json.dumps([one, bad]), encoding="utf-8")
        load_transcripts(path)
