"""JSON from users with bounded nesting: too deep is malformed input, never a RecursionError.

Python's decoder recurses once per nesting level, so `[[[[…` a few thousand levels deep ends
in a RecursionError (a traceback, a 500), and a few hundred levels parse but then break code
that walks the value. No transcript, record or request needs more than a handful of levels, so
anything past `MAX_JSON_DEPTH` is refused as a `json.JSONDecodeError` with its line and column:
every caller already turns that into its clear "malformed JSON" message.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Transcripts need 4 levels (list, transcript, turns, turn) plus whatever a desk keeps in meta.
MAX_JSON_DEPTH = 32
_LONG_NUMBER = re.compile(r"\d{4301}")
_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[\[{]|[\]}]')  # strings skipped as one token


class JsonTooDeep(json.JSONDecodeError):
    """A JSON value nested deeper than the limit (a JSONDecodeError, so callers need no change)."""

    def __init__(self, doc: str, pos: int, limit: int):
        super().__init__(f"nested more than {limit} levels deep", doc, pos)


def nesting_depth(value: Any) -> int:
    """Levels of lists and objects in a decoded value ("x" -> 0, [] -> 1, [[1]] -> 2)."""
    depth = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth = max(depth, level)
        stack.extend((child, level + 1) for child in children)
    return depth


def _too_deep_at(doc: str, limit: int) -> int:
    """Character offset of the bracket that opens level `limit + 1`, else the end of `doc`."""
    depth = 0
    for m in _TOKENS.finditer(doc):
        token = m.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return m.start()
        elif token in "]}":
            depth -= 1
    return len(doc)


def loads(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` that raises `JsonTooDeep` (a JSONDecodeError) past `max_depth` levels."""
    doc = text.decode("utf-8-sig") if isinstance(text, bytes) else text
    try:
        value = json.loads(doc)
    except RecursionError:
        raise JsonTooDeep(doc, _too_deep_at(doc, max_depth), max_depth) from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer past Python's 4,300-digit conversion limit
        at = _LONG_NUMBER.search(doc)
        raise json.JSONDecodeError(
            "a number of more than 4,300 digits", doc, at.start() if at else 0
        ) from None
    if nesting_depth(value) > max_depth:
        raise JsonTooDeep(doc, _too_deep_at(doc, max_depth), max_depth)
    return value
