"""Personal data redaction: the written set per language, checksums, near misses, hostile input,
and `calmdesk redact` on text, CSV and JSONL files."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from calmdesk.cli import main
from calmdesk.errors import InputError
from calmdesk.redact import (
    Redactor,
    cn_resident_id_ok,
    iban_ok,
    inn_ok,
    luhn_ok,
    redact,
    snils_ok,
)

FIXTURES = Path(__file__).parent / "fixtures" / "redaction"


@pytest.mark.parametrize("lang", ["en", "es", "zh", "ru"])
def test_written_set_is_found_and_near_misses_stay(lang):
    rows = [json.loads(line) for line in (FIXTURES / f"{lang}.jsonl").open(encoding="utf-8")]
    pii = [r for r in rows if r["pii"] is not None]
    near = [r for r in rows if r["pii"] is None]
    assert len(pii) == 200 and len(near) == 100
    missed = [r["pii"] for r in pii if r["pii"] in redact(r["text"])]
    assert missed == []
    changed = [r["text"] for r in near if redact(r["text"]) != r["text"]]
    assert changed == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to Ana.Lopez@Gmail.com today", "write to [EMAIL] today"),
        ("card 4111 1111 1111 1111 exp 2027", "card [CARD] exp 2027"),
        ("card 4111 1111 1111 1112", "card 4111 1111 1111 1112"),  # fails Luhn
        ("IBAN ES91 2100 0418 4502 0005 1332.", "IBAN [IBAN]."),
        ("IBAN ES92 2100 0418 4502 0005 1332.", "IBAN ES92 2100 0418 4502 0005 1332."),
        ("身份证号11010519491231002X，电话13812345678", "身份证号[ID]，电话[PHONE]"),
        ("身份证号110105194912310021", "身份证号110105194912310021"),  # wrong check
        ("СНИЛС 112-233-445 95", "СНИЛС [ID]"),
        ("СНИЛС 112-233-445 96", "СНИЛС 112-233-445 96"),
        ("ИНН 7707083893", "ИНН [ID]"),
        ("ИНН 7707083894", "ИНН 7707083894"),
        (
            "паспорт 4509123456, а номер моего заказа в магазине 4509123456",
            "паспорт [ID], а номер моего заказа в магазине 4509123456",
        ),
        ("DNI 12345678Z, NIE X1234567L", "DNI [ID], NIE [ID]"),
        ("DNI 12345678A", "DNI 12345678A"),
        ("llame al 0034 612 34 56 78", "llame al [PHONE]"),
        ("１３８１２３４５６７８", "[PHONE]"),  # full-width digits
        ("order 12345678 of 2024-03-15 for $1,299.99 at 10:30", None),
        ("tracking SF1234567890CN, version 2.10.3", None),
    ],
)
def test_each_kind_and_its_near_miss(text, expected):
    assert redact(text) == (text if expected is None else expected)


def test_checksums_follow_the_standards():
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB82WEST12345698765433")
    assert cn_resident_id_ok("11010519491231002X")
    assert not cn_resident_id_ok("11010519491331002X")  # month 13
    assert snils_ok("11223344595") and not snils_ok("00100199800")
    assert inn_ok("7707083893") and inn_ok("500100732259") and not inn_ok("500100732258")


def test_counts_and_kinds_can_be_chosen():
    text, counts = Redactor().redact_counted("a@b.com, c@d.org, 13812345678")
    assert text == "[EMAIL], [EMAIL], [PHONE]" and counts == {"email": 2, "phone": 1}
    assert Redactor(kinds=("email",)).redact("a@b.com 13812345678") == "[EMAIL] 13812345678"
    with pytest.raises(InputError, match="unknown personal data kind"):
        Redactor(kinds=("passport_photo",))


def test_input_is_capped_and_hostile_input_stays_linear():
    with pytest.raises(InputError, match="too long to redact"):
        Redactor(max_chars=100).redact("x" * 101)
    start = time.perf_counter()
    for text in ("1 " * 50_000, "a." * 50_000, "+(" * 50_000, "DE89 " * 20_000):
        Redactor().redact(text)
    assert time.perf_counter() - start < 10  # quadratic patterns would take minutes


@pytest.fixture
def _cli(monkeypatch, capsys):
    """`calmdesk redact …` in this process (a subprocess costs seconds of imports)."""

    def run(*args: str, cwd: Path) -> SimpleNamespace:
        monkeypatch.chdir(cwd)
        try:
            main(["redact", *args])
            code = 0
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run


def test_cli_redacts_text_csv_and_jsonl_files(tmp_path, _cli):
    (tmp_path / "notes.txt").write_text("call 612 345 678\nno data here\n", encoding="utf-8")
    (tmp_path / "t.csv").write_text('id,body\n4111111111111111,"mail ana@x.es"\n', encoding="utf-8")
    (tmp_path / "t.jsonl").write_text(
        '{"id": "a@b.com", "text": "DNI 12345678Z", "n": [{"x": "13812345678"}]}\n\n',
        encoding="utf-8",
    )
    text = _cli("notes.txt", cwd=tmp_path)
    assert text.returncode == 0 and text.stdout == "call [PHONE]\nno data here\n"
    assert "phone 1" in text.stderr
    only_body = _cli("t.csv", "--column", "body", "-o", "out.csv", cwd=tmp_path)
    assert only_body.returncode == 0
    assert (tmp_path / "out.csv").read_text().splitlines() == [
        "id,body",
        "4111111111111111,mail [EMAIL]",
    ]
    every = _cli("t.jsonl", cwd=tmp_path)
    assert json.loads(every.stdout.splitlines()[0]) == {
        "id": "[EMAIL]",
        "text": "DNI [ID]",
        "n": [{"x": "[PHONE]"}],
    }
    field = _cli("t.jsonl", "--field", "text", cwd=tmp_path)
    assert json.loads(field.stdout.splitlines()[0])["id"] == "a@b.com"


def test_cli_errors_are_one_line(tmp_path, _cli):
    (tmp_path / "t.csv").write_text("id,body\n1,x\n", encoding="utf-8")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    (tmp_path / "deep.jsonl").write_text("[" * 100 + "]" * 100 + "\n", encoding="utf-8")
    cases = [
        (("t.csv", "--column", "text"), "no column(s) ['text']"),
        (("bad.jsonl",), "bad.jsonl:2: not valid JSON"),
        (("deep.jsonl",), "nested deeper than 32 levels"),
        (("missing.txt",), "no such file"),
        (("t.csv", "-o", "t.csv"), "is the input file"),
    ]
    for args, message in cases:
        result = _cli(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert "Traceback" not in result.stderr
