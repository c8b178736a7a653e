"""Writes the redaction test set: per language (en, es, zh, ru) 200 sentences each holding one
personal-data string, with valid checksums where the format has one, and 100 near misses that
must stay as written (a card failing Luhn, an id with a wrong check digit, order numbers, dates).

    python benchmarks/make_redaction_set.py   # -> tests/fixtures/redaction/<lang>.jsonl

Seeded, so the files are reproducible. Check digits are computed here from the published
definitions, independently of calmdesk/redact.py. Each line: {"text", "pii" (the substring that
must go, or null for a near miss), "kind"}.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "redaction"
N_PII, N_NEAR = 200, 100

# --- check digits, from the standards ----------------------------------------------------


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return str((10 - total % 10) % 10)


def iban(country: str, bban: str) -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def cn_id(region: str, born: date, seq: str) -> str:
    body = f"{region}{born:%Y%m%d}{seq}"
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def snils(body9: str) -> str:
    total = sum(int(d) * w for d, w in zip(body9, range(9, 0, -1), strict=True))
    while total > 101:
        total %= 101
    check = 0 if total in (100, 101) else total
    return f"{body9[:3]}-{body9[3:6]}-{body9[6:]} {check:02d}"


def inn10(body9: str) -> str:
    w = [2, 4, 10, 3, 5, 9, 4, 6, 8]
    return body9 + str(sum(int(d) * k for d, k in zip(body9, w, strict=True)) % 11 % 10)


def inn12(body10: str) -> str:
    w1 = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8]
    d11 = str(sum(int(d) * k for d, k in zip(body10, w1, strict=True)) % 11 % 10)
    w2 = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]
    d12 = str(sum(int(d) * k for d, k in zip(body10 + d11, w2, strict=True)) % 11 % 10)
    return body10 + d11 + d12


DNI_TABLE = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni(number: int) -> str:
    return f"{number:08d}{DNI_TABLE[number % 23]}"


def nie(prefix: str, number: int) -> str:
    return f"{prefix}{number:07d}{DNI_TABLE[int('XYZ'.index(prefix) * 10**7 + number) % 23]}"


# --- generators of one value each ----------------------------------------------------------


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def card(rng: random.Random, prefix: str, length: int = 16) -> str:
    body = prefix + digits(rng, length - 1 - len(prefix))
    number = body + luhn_digit(body)
    style = rng.choice(["space", "dash", "plain"])
    if style == "plain" or length != 16:
        return number
    sep = " " if style == "space" else "-"
    return sep.join(number[i : i + 4] for i in range(0, 16, 4))


def grouped_iban(value: str, rng: random.Random) -> str:
    if rng.random() < 0.3:
        return value
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


NAMES = ["ana", "john.smith", "li.wei", "ivan_petrov", "maria-g", "k.tanaka", "olga77", "desk"]
DOMAINS = ["gmail.com", "yahoo.es", "163.com", "mail.ru", "example.co.uk", "qq.com", "yandex.ru"]


def email(rng: random.Random) -> str:
    value = f"{rng.choice(NAMES)}{rng.randint(1, 999)}@{rng.choice(DOMAINS)}"
    if rng.random() < 0.2:
        value = value.title()  # Ana.Lopez12@Gmail.Com
    if rng.random() < 0.1:
        local, domain = value.split("@")
        value = f"{local}+desk@mail.{domain}"
    return value


def birth(rng: random.Random) -> date:
    return date(1950, 1, 1) + timedelta(days=rng.randint(0, 20000))


def phone(rng: random.Random, lang: str) -> str:
    if lang == "en":
        a, b, c = rng.randint(201, 989), rng.randint(200, 999), digits(rng, 4)
        return rng.choice(
            [
                f"({a}) {b}-{c}",
                f"{a}-{b}-{c}",
                f"+1 {a} {b} {c}",
                f"07{digits(rng, 3)} {digits(rng, 6)}",
                f"+44 20 {digits(rng, 4)} {digits(rng, 4)}",
                f"{a}.{b}.{c}",
                f"1-800-{b}-{c}",
                f"+44 7{digits(rng, 3)} {digits(rng, 6)}",
            ]
        )
    if lang == "es":
        first = rng.choice("67")
        return rng.choice(
            [
                f"{first}{digits(rng, 2)} {digits(rng, 3)} {digits(rng, 3)}",
                f"{first}{digits(rng, 8)}",
                f"+34 {first}{digits(rng, 2)} {digits(rng, 2)} {digits(rng, 2)} {digits(rng, 2)}",
                f"91 {digits(rng, 3)} {digits(rng, 2)} {digits(rng, 2)}",
                f"+34-{first}{digits(rng, 2)}-{digits(rng, 3)}-{digits(rng, 3)}",
                f"(+34) {first}{digits(rng, 8)}",
                f"0034 {first}{digits(rng, 2)} {digits(rng, 2)} {digits(rng, 2)} {digits(rng, 2)}",
            ]
        )
    if lang == "zh":
        mobile = f"1{rng.choice('3456789')}{digits(rng, 9)}"
        return rng.choice(
            [
                mobile,
                f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}",
                f"+86 {mobile}",
                f"010-{rng.randint(2, 9)}{digits(rng, 7)}",
                f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}",
                mobile.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"}),
                f"+86-{mobile}",
            ]
        )
    code = f"9{digits(rng, 2)}"
    return rng.choice(
        [
            f"+7 ({code}) {digits(rng, 3)}-{digits(rng, 2)}-{digits(rng, 2)}",
            f"8 {code} {digits(rng, 3)} {digits(rng, 2)} {digits(rng, 2)}",
            f"8{code}{digits(rng, 7)}",
            f"8 (495) {digits(rng, 3)}-{digits(rng, 2)}-{digits(rng, 2)}",
            f"8-{code}-{digits(rng, 3)}-{digits(rng, 2)}-{digits(rng, 2)}",
            f"+7({code}){digits(rng, 7)}",
            f"+7 {code} {digits(rng, 3)} {digits(rng, 2)} {digits(rng, 2)}",
        ]
    )


# kind -> (share of the 200, value maker) per language
def makers(lang: str):
    common = {
        "email": lambda r: email(r),
        "phone": lambda r: phone(r, lang),
    }
    if lang == "en":
        return {
            **common,
            "card": lambda r: card(r, r.choice(["4", "51", "55", "6011"])),
            "iban": lambda r: grouped_iban(_en_iban(r), r),
        }
    if lang == "es":
        return {
            **common,
            "card": lambda r: card(r, r.choice(["4", "53"])),
            "iban": lambda r: grouped_iban(iban("ES", digits(r, 20)), r),
            "dni": lambda r: dni(r.randint(1_000_000, 99_999_999)),
            "nie": lambda r: nie(r.choice("XYZ"), r.randint(0, 9_999_999)),
        }
    if lang == "zh":
        return {
            **common,
            "card": lambda r: card(r, "62", r.choice([16, 19])),
            "cn_resident_id": lambda r: cn_id(
                r.choice(["110105", "310104", "440305", "510107", "330106"]),
                birth(r),
                digits(r, 3),
            ),
        }
    return {
        **common,
        "card": lambda r: card(r, r.choice(["2200", "2202", "4"])),
        "snils": lambda r: snils(f"{r.randint(2, 9)}{digits(r, 8)}"),
        "inn": lambda r: inn12(f"77{digits(r, 8)}") if r.random() < 0.5 else inn10(digits(r, 9)),
        "passport": lambda r: rng_passport(r),
    }


def _en_iban(r: random.Random) -> str:
    if r.random() < 0.5:
        return iban("GB", r.choice(["NWBK", "BARC", "MIDL"]) + digits(r, 14))
    return iban("DE", digits(r, 18))


def rng_passport(r: random.Random) -> str:
    series = f"{r.randint(10, 99)}{digits(r, 2)}"
    return r.choice([f"{series[:2]} {series[2:]} {digits(r, 6)}", f"{series} {digits(r, 6)}"])


TEMPLATES = {
    "en": [
        "Please call me back on {v}, nobody answers my emails.",
        "My details: {v}. I was charged twice!",
        "Refund it to {v} as soon as possible.",
        "You can reach me at {v} after 5pm.",
        "I already sent it twice: {v}",
    ],
    "es": [
        "Llámenme al {v}, nadie me contesta.",
        "Mis datos son {v}, me cobraron dos veces.",
        "Devuelvan el dinero a {v} por favor.",
        "Pueden escribirme a {v} cuando quieran.",
        "Ya lo envié dos veces: {v}",
    ],
    "zh": [
        "请打我电话{v}，一直没人回复。",
        "我的信息：{v}，被扣了两次钱！",
        "退款请退到{v}。",
        "身份证号{v}，请尽快处理。",
        "联系方式 {v} 谢谢",
    ],
    "ru": [
        "Перезвоните мне по номеру {v}, никто не отвечает.",
        "Мои данные: {v}. С меня списали дважды!",
        "Верните деньги на {v}, пожалуйста.",
        "Мой паспорт {v}, СНИЛС и ИНН могу прислать.",
        "Уже дважды отправлял: {v}",
    ],
}


def near_misses(rng: random.Random, lang: str) -> list[tuple[str, str]]:
    """(value, kind) that look like personal data and are not (or are not checkable)."""
    out = []
    for _ in range(N_NEAR):
        kind = rng.choice(
            ["card_luhn", "order", "date", "amount", "tracking", "version", "time", "id_check"]
        )
        if kind == "card_luhn":
            body = "4" + digits(rng, 14)
            bad = str((int(luhn_digit(body)) + rng.randint(1, 9)) % 10)
            value = " ".join((body + bad)[i : i + 4] for i in range(0, 16, 4))
        elif kind == "order":
            value = f"#{digits(rng, 7)}" if rng.random() < 0.5 else f"A{digits(rng, 8)}"
        elif kind == "date":
            d = birth(rng)
            value = rng.choice([f"{d:%Y-%m-%d}", f"{d:%d.%m.%Y}", f"{d:%d/%m/%Y}"])
        elif kind == "amount":
            value = rng.choice(
                [f"{rng.randint(1, 99)},{digits(rng, 2)} €", f"${rng.randint(100, 99999):,}.99"]
            )
        elif kind == "tracking":
            value = f"{rng.choice(['SF', 'YT', 'RR'])}{digits(rng, 10)}{rng.choice(['', 'CN'])}"
        elif kind == "version":
            value = f"{rng.randint(1, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}"
        elif kind == "time":
            value = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
        else:
            value = _bad_id(rng, lang)
        out.append((value, kind))
    return out


def _bad_id(rng: random.Random, lang: str) -> str:
    """An id of the language's kind with its check digit or letter wrong."""
    if lang == "es":
        good = dni(rng.randint(1_000_000, 99_999_999))
        letters = DNI_TABLE.replace(good[-1], "")
        return good[:-1] + rng.choice(letters)
    if lang == "zh":
        good = cn_id("110105", birth(rng), digits(rng, 3))
        return good[:-1] + rng.choice([c for c in "0123456789X" if c != good[-1]])
    if lang == "ru":
        good = inn12(f"77{digits(rng, 8)}")
        return good[:-1] + str((int(good[-1]) + rng.randint(1, 9)) % 10)
    body = "GB" + "00" + "NWBK" + digits(rng, 14)  # a check pair that cannot be right
    return body


def build(lang: str) -> list[dict]:
    rng = random.Random(f"redaction-{lang}")
    kinds = makers(lang)
    names = sorted(kinds)
    rows = []
    for i in range(N_PII):
        kind = names[i % len(names)]
        value = kinds[kind](rng)
        text = rng.choice(TEMPLATES[lang]).format(v=value)
        rows.append({"text": text, "pii": value, "kind": kind})
    for value, kind in near_misses(rng, lang):
        text = rng.choice(TEMPLATES[lang]).format(v=value)
        rows.append({"text": text, "pii": None, "kind": f"near_miss:{kind}"})
    return rows


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for lang in ("en", "es", "zh", "ru"):
        rows = build(lang)
        path = OUT / f"{lang}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{path}: {sum(r['pii'] is not None for r in rows)} personal data, "
              f"{sum(r['pii'] is None for r in rows)} near misses")  # fmt: skip


if __name__ == "__main__":
    main()
