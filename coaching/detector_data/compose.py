"""Compose the conduct detector's training and held-out rows from the written fragments.

    python -m coaching.detector_data.compose      # rewrites train.jsonl and heldout.jsonl here

Every row is one agent turn: a written core sentence (a positive of one category, or a
look-alike of it) with its slots filled, sometimes wrapped in neutral opening and closing
sentences, paired with a second core, or written in chat style (lower case, no punctuation,
typos, emoji, @handles, URLs, traditional Chinese). Cores are split before composing (every
fifth core of a category goes to held-out), so held-out rows test phrasings the model never saw.
Seeded: the same fragments always give the same files.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import yaml

from coaching.rulebook import CATEGORIES

HERE = Path(__file__).resolve().parent
FRAGMENTS = HERE / "fragments"
LANGS = ("en", "es", "zh", "ru")
ROWS_PER_CORE_LIST = {"train": 160, "heldout": 40}  # rows per language, category and kind
EMOJI = ["🙂", "😊", "👍", "🙏", "😅", "🤷", "👀", "✅", "😐", "🙄"]
HANDLES = ["@maria_g", "@jsmith82", "@cliente_feliz", "@user12345", "@olga.k", "@小王"]


def load_fragments(lang: str) -> dict:
    with (FRAGMENTS / f"{lang}.yaml").open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    for kind in ("positive", "lookalike"):
        missing = set(CATEGORIES) - set(data[kind])
        if missing:
            raise ValueError(f"{lang}.yaml: no {kind} fragments for {sorted(missing)}")
    return data


def split_cores(cores: list[str]) -> dict[str, list[str]]:
    return {
        "train": [c for i, c in enumerate(cores) if i % 5 != 2],
        "heldout": [c for i, c in enumerate(cores) if i % 5 == 2],
    }


def fill(template: str, slots: dict, rng: random.Random) -> str:
    values = {k: rng.choice(v) for k, v in slots.items()}
    values["num"] = str(rng.randint(1000, 99999))
    return template.format(**values)


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :] if rng.random() < 0.6 else w[:j] + w[j + 1 :]
    return " ".join(words)


def _chatty(text: str, lang: str, rng: random.Random) -> str:
    """One or two chat-style changes that keep the meaning."""
    out = text
    if rng.random() < 0.5 and lang != "zh":
        out = out.lower()
    if rng.random() < 0.5:
        out = out.rstrip(".。!！")
    if rng.random() < 0.4 and lang != "zh":
        out = _typo(out, rng)
    if lang == "en" and rng.random() < 0.5:
        out = out.replace("'", "")
    if rng.random() < 0.3:
        out = f"{out} {rng.choice(EMOJI)}"
    if rng.random() < 0.2:
        out = f"{rng.choice(HANDLES)} {out}"
    return out


class _Piece:
    def __init__(self, text: str, labels: list[str]):
        self.text, self.labels = text, labels


def compose_turn(pieces: list[_Piece], lang: str, rng: random.Random) -> dict:
    sep = "" if lang == "zh" else " "
    if rng.random() < 0.12:
        # a run-on chat turn: no sentence punctuation between the pieces
        pieces = [_Piece(p.text.rstrip(".。!！"), p.labels) for p in pieces]
        sep = " " if lang != "zh" else rng.choice(["", " "])
    text, spans = "", []
    for p in pieces:
        if text:
            text += sep
        start = len(text)
        text += p.text
        spans.extend([start, len(text), label] for label in p.labels)
    return {"text": text, "spans": spans}


def rows_for(lang: str, data: dict, split: str, rng: random.Random) -> list[dict]:
    slots = data["slots"]
    cores = {
        kind: {cat: split_cores(data[kind][cat])[split] for cat in CATEGORIES}
        for kind in ("positive", "lookalike")
    }
    all_pos = [(cat, c) for cat in CATEGORIES for c in cores["positive"][cat]]
    all_look = [c for cat in CATEGORIES for c in cores["lookalike"][cat]]
    rows = []
    for kind in ("positive", "lookalike"):
        for cat in CATEGORIES:
            for n in range(ROWS_PER_CORE_LIST[split]):
                core = cores[kind][cat][n % len(cores[kind][cat])]
                text = fill(core, slots, rng)
                style = rng.random()
                if style < 0.35:
                    text = _chatty(text, lang, rng)
                labels = [cat] if kind == "positive" else []
                pieces = [_Piece(text, labels)]
                if rng.random() < 0.35:
                    pieces.insert(0, _Piece(fill(rng.choice(data["openers"]), slots, rng), []))
                if rng.random() < 0.3:
                    pieces.append(_Piece(fill(rng.choice(data["closers"]), slots, rng), []))
                if rng.random() < 0.15:
                    # a second core in the same turn: another category's positive or a look-alike
                    if kind == "positive" and rng.random() < 0.5:
                        other_cat, other = rng.choice(all_pos)
                        extra = _Piece(fill(other, slots, rng), [other_cat])
                    else:
                        extra = _Piece(fill(rng.choice(all_look), slots, rng), [])
                    pieces.insert(rng.randrange(len(pieces) + 1), extra)
                turn = compose_turn(pieces, lang, rng)
                if lang == "zh" and rng.random() < 0.3:
                    from calmdesk.text import to_traditional

                    converted = to_traditional(turn["text"])
                    if len(converted) == len(turn["text"]):  # spans stay valid
                        turn["text"] = converted
                turn_labels = sorted({s[2] for s in turn["spans"]})
                rows.append(
                    {
                        "text": turn["text"],
                        "lang": lang,
                        "labels": turn_labels,
                        "spans": turn["spans"],
                        "kind": kind,
                        "category": cat,
                        "split": split,
                    }
                )
    return rows


def compose(seed: int = 9) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"train": [], "heldout": []}
    for lang in LANGS:
        data = load_fragments(lang)
        for split in out:
            rng = random.Random(f"{seed}-{lang}-{split}")
            out[split].extend(rows_for(lang, data, split, rng))
    return out


def main() -> None:
    for split, rows in compose().items():
        path = HERE / f"{split}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"wrote {len(rows)} rows to {path}")


if __name__ == "__main__":
    main()
