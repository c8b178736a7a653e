"""Conversation dynamics against hand counts, and what measuring them costs.

    python benchmarks/coaching_dynamics.py            # agreement table with the hand counts
    python benchmarks/coaching_dynamics.py --turns 600 --repeat 20   # + time per 1-hour call

The timed transcripts and their hand counts live in tests/fixtures/coaching/dynamics/
(hand_counts.yaml says how each was counted; two have a hold or silence between two cues of one
speaker, joined into one turn). Interruptions and turn numbers must match exactly; pace, talk
ratio, holds, silences and reply times within 1 % (the hand figures are rounded to one decimal).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coaching import Transcript, Turn  # noqa: E402
from coaching.dynamics import measure_dynamics  # noqa: E402
from coaching.parsers import load_transcripts  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "coaching" / "dynamics"
TOLERANCE = 0.01


def agrees(measured, expected) -> bool:
    if isinstance(expected, bool | int) and not isinstance(measured, float):
        return measured == expected  # counts and yes/no: exactly
    if measured is None:
        return False
    return abs(measured - expected) <= TOLERANCE * max(abs(expected), 1.0)


def compare(path: Path, expected: dict) -> list[tuple[str, object, object, bool]]:
    transcript = load_transcripts(path)[0]
    measured = measure_dynamics(transcript, path.name[:2]).to_dict()
    return [(key, measured.get(key), want, agrees(measured.get(key), want))
            for key, want in expected.items()]  # fmt: skip


def agreement() -> None:
    hand = yaml.safe_load((FIXTURES / "hand_counts.yaml").read_text(encoding="utf-8"))
    print(f"{'transcript':<22}{'measure':<22}{'hand':>9}{'calmdesk':>10}  agree")
    per_measure: dict[str, list[bool]] = {}
    for name, expected in hand.items():
        for key, got, want, ok in compare(FIXTURES / name, expected):
            per_measure.setdefault(key, []).append(ok)
            print(f"{name:<22}{key:<22}{want!s:>9}{got!s:>10}  {'yes' if ok else 'NO'}")
    print()
    print(f"{'measure':<24}{'agree':>8}")
    for key, oks in per_measure.items():
        print(f"{key:<24}{sum(oks):>4}/{len(oks):<3}")
    all_ok = [ok for oks in per_measure.values() for ok in oks]
    print(f"{'all':<24}{sum(all_ok):>4}/{len(all_ok):<3} ({len(hand)} transcripts)")


def long_call(n_agent_turns: int) -> Transcript:
    """A timed 1-hour call: every turn 2.5 s, every fifth agent turn cutting in."""
    customer = "my order has not arrived and nobody calls me back"
    agent = "let me check that for you right now, one moment"
    turns, at = [], 0.0
    for i in range(n_agent_turns):
        turns.append(Turn("Customer", "customer", customer, start=at, end=at + 3.0))
        start = at + 2.0 if i % 5 == 0 else at + 3.2
        turns.append(Turn("Agent", "agent", agent, start=start, end=start + 2.5))
        at = start + 2.8
    return Transcript(turns=turns, id="hour", lang="en")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=0, help="also time a call of this many turns")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    agreement()
    if args.turns:
        call = long_call(args.turns)
        measure_dynamics(call, "en")
        start = time.perf_counter()
        for _ in range(args.repeat):
            measure_dynamics(call, "en")
        ms = (time.perf_counter() - start) / args.repeat * 1000
        print(f"\nmeasure_dynamics on a {args.turns}-agent-turn timed call: {ms:.1f} ms")


if __name__ == "__main__":
    main()
