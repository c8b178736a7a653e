"""Labelled complaints kept as pointers into the shared raw data sets, resolved at training time.

A label file in `triage/labels/` (JSON lines) holds, for each complaint, the raw file it comes
from (relative to the datasets folder), a locator (the file's own row id where it has one, else
the row number as the file is read), a short SHA-1 of the text to detect drift, and our labels.
The texts are never copied into the project: they are read from `$CALMDESK_DATASETS` when a
model is trained, so the raw sets' licences stay with the raw sets. `labels/sources.yaml` says
how each raw file is read and under which licence it was published.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from calmdesk.errors import InputError
from triage.backends.base import HEADS
from triage.taxonomy import Taxonomy

LABELS_DIR = Path(__file__).with_name("labels")
SOURCES_FILE_NAME = "sources.yaml"
LANGS = ("en", "es", "zh", "ru")
HASH_CHARS = 12
_FIELDS = {
    "id": str,
    "file": str,
    "row": int,
    "key": (str, type(None)),
    "sha1": str,
    "lang": str,
    "channel": str,
    "source": str,
    "cause": str,
    "department": str,
    "emotions": list,
}
_HEX = re.compile(rf"[0-9a-f]{{{HASH_CHARS}}}")
_READING_OPTIONS = {"path", "format", "header", "columns", "sep", "encoding", "no_quoting"}


@dataclass
class RawSet:
    """One public raw set that labels point into, as described in `sources.yaml`."""

    name: str
    licence: str
    text_column: str
    files: dict[str, dict] = field(default_factory=dict)
    id_column: str | None = None
    origin: str = ""


def text_hash(text: str) -> str:
    """The drift check stored with every label: the first characters of the text's SHA-1."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


def load_sources(path: str | Path) -> dict[str, RawSet]:
    """{raw file path: its RawSet} from a sources.yaml; errors name the file and the set."""
    from triage.build_data import read_yaml_file

    path = Path(path)
    raw = read_yaml_file(path, "no raw-set description")
    sets = raw.get("sets") if isinstance(raw, dict) else None
    if not isinstance(sets, dict) or not sets:
        raise InputError(f"{path}: expected a `sets:` mapping of raw sets")
    by_file: dict[str, RawSet] = {}
    for name, spec in sets.items():
        if not isinstance(spec, dict):
            raise InputError(f"{path}: set {name!r} must be a mapping")
        missing = [k for k in ("licence", "text_column", "files") if not spec.get(k)]
        if missing:
            raise InputError(f"{path}: set {name!r} lacks {', '.join(missing)}")
        raw_set = RawSet(
            name=name,
            licence=str(spec["licence"]),
            text_column=str(spec["text_column"]),
            id_column=spec.get("id_column"),
            origin=str(spec.get("origin", "")),
        )
        for file_spec in spec["files"]:
            if not isinstance(file_spec, dict) or "path" not in file_spec:
                raise InputError(f"{path}: every file of set {name!r} needs a `path`")
            unknown = sorted(set(file_spec) - _READING_OPTIONS)
            if unknown:
                raise InputError(f"{path}: set {name!r}: unknown reading option(s) {unknown}")
            if file_spec["path"] in by_file:
                raise InputError(f"{path}: {file_spec['path']} is listed in two sets")
            raw_set.files[file_spec["path"]] = dict(file_spec)
            by_file[file_spec["path"]] = raw_set
    return by_file


def available_label_sets(labels_dir: str | Path | None = None) -> dict[str, Path]:
    """{name: file} of every label file (`<name>.jsonl`) in `labels_dir` (default: shipped)."""
    return {p.stem: p for p in sorted(Path(labels_dir or LABELS_DIR).glob("*.jsonl"))}


def load_label_file(path: str | Path, taxonomy: Taxonomy | None = None) -> list[dict]:
    """The entries of one label file, checked line by line (errors name the file and line)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise InputError(f"no label file {path}") from exc
    taxonomy = taxonomy or Taxonomy.default()
    entries: list[dict] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON ({exc.msg})") from exc
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected a JSON object")
        for name, kind in _FIELDS.items():
            if name not in entry:
                raise InputError(f"{where}: missing field {name!r}")
            if not isinstance(entry[name], kind) or isinstance(entry[name], bool):
                raise InputError(f"{where}: field {name!r} has the wrong type ({entry[name]!r})")
        unknown = sorted(set(entry) - set(_FIELDS))
        if unknown:
            raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}")
        if entry["row"] < 0:
            raise InputError(f"{where}: row must be 0 or more, got {entry['row']}")
        if not _HEX.fullmatch(entry["sha1"]):
            raise InputError(f"{where}: sha1 must be {HASH_CHARS} lower-case hex characters")
        if entry["lang"] not in LANGS:
            raise InputError(f"{where}: lang {entry['lang']!r} is not one of {', '.join(LANGS)}")
        if not all(isinstance(e, str) for e in entry["emotions"]):
            raise InputError(f"{where}: emotions must be a list of strings")
        if len(set(entry["emotions"])) != len(entry["emotions"]):
            raise InputError(f"{where}: an emotion is listed twice")
        taxonomy.check_record(entry, where)
        if entry["id"] in seen:
            raise InputError(f"{where}: id {entry['id']!r} repeats line {seen[entry['id']]}")
        seen[entry["id"]] = number
        entry["line"] = number
        entries.append(entry)
    if not entries:
        raise InputError(f"{path}: no labels in the file")
    return entries


class _RawTexts:
    """Reads each raw file once and finds a row by its id or number."""

    def __init__(self, root: Path, sources: dict[str, RawSet]):
        self.root = root
        self.sources = sources
        self._texts: dict[str, list[str]] = {}
        self._rows_by_key: dict[str, dict[str, int]] = {}

    def text(self, entry: dict, where: str) -> str:
        file = entry["file"]
        raw_set = self.sources.get(file)
        if raw_set is None:
            raise InputError(f"{where}: raw file {file} is not described in {SOURCES_FILE_NAME}")
        if file not in self._texts:
            self._read(file, raw_set, where)
        texts = self._texts[file]
        if raw_set.id_column:
            if entry["key"] is None:
                raise InputError(f"{where}: {file} rows are found by {raw_set.id_column}; no key")
            row = self._rows_by_key[file].get(entry["key"])
            if row is None:
                raise InputError(
                    f"{where}: no row with {raw_set.id_column} {entry['key']!r} in "
                    f"{self.root / file} (id {entry['id']})"
                )
        else:
            row = entry["row"]
            if row >= len(texts):
                raise InputError(
                    f"{where}: no row {row} in {self.root / file} ({len(texts)} rows; "
                    f"id {entry['id']})"
                )
        text = texts[row]
        if text_hash(text) != entry["sha1"]:
            raise InputError(
                f"{where}: the text of {file} row {row} has changed (sha1 {text_hash(text)}, "
                f"labelled as {entry['sha1']}; id {entry['id']}): restore the raw file or relabel"
            )
        return text

    def _read(self, file: str, raw_set: RawSet, where: str) -> None:
        from triage.build_data import Mapping, _read_one

        path = self.root / file
        if not path.is_file():
            raise InputError(
                f"{where}: raw file {path} not found (set CALMDESK_DATASETS to the shared "
                "datasets folder)"
            )
        reader = Mapping(
            name=f"labels/{raw_set.name}",
            licence=raw_set.licence,
            files=[],
            text_column="",
            label={},
        )
        frame = _read_one(path, raw_set.files[file], reader)
        for column in [raw_set.text_column, raw_set.id_column]:
            if column and column not in frame.columns:
                raise InputError(f"{where}: {path} has no column {column!r}")
        self._texts[file] = [
            str(value if isinstance(value, str) else "").replace("\r", "").strip()
            for value in frame[raw_set.text_column]
        ]
        if raw_set.id_column:
            keys: dict[str, int] = {}
            for row, value in enumerate(frame[raw_set.id_column]):
                keys.setdefault(str(value), row)
            self._rows_by_key[file] = keys


def resolve_entries(
    entries: Iterable[dict],
    datasets_dir: str | Path,
    sources: dict[str, RawSet],
    *,
    with_channel: bool = False,
) -> list[dict]:
    """Records in the complaints schema (id, lang, source, text, cause, department, emotions)."""
    raw = _RawTexts(Path(datasets_dir), sources)
    records = []
    for entry in entries:
        where = f"{entry.get('label_file', 'labels')} line {entry.get('line', '?')}"
        record = {
            "id": entry["id"],
            "lang": entry["lang"],
            "source": entry["source"],
            "text": raw.text(entry, where),
            "cause": entry["cause"],
            "department": entry["department"],
            "emotions": list(entry["emotions"]),
        }
        if with_channel:
            record["channel"] = entry["channel"]
        records.append(record)
    return records


def labelled_records(
    names: Iterable[str] | None = None,
    datasets_dir: str | Path | None = None,
    *,
    labels_dir: str | Path | None = None,
    taxonomy: Taxonomy | None = None,
    with_channel: bool = False,
) -> list[dict]:
    """The records of the named label sets (None: every set in `labels_dir`), texts resolved.

    Use them like `complaints/` records: as extra training data, or grouped by `source` as
    extra held-out sources for leave-one-source-out scoring (`with_channel` adds `channel`).
    """
    from calmdesk.settings import datasets_dir as default_datasets_dir

    labels_dir = Path(labels_dir or LABELS_DIR)
    root = Path(datasets_dir) if datasets_dir is not None else default_datasets_dir()
    if not root.is_dir():
        raise InputError(f"datasets folder {root} not found (set CALMDESK_DATASETS)")
    known = available_label_sets(labels_dir)
    chosen = list(known) if names is None else list(names)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise InputError(f"unknown label set(s) {unknown}; known: {', '.join(known) or 'none'}")
    sources = load_sources(labels_dir / SOURCES_FILE_NAME)
    records: list[dict] = []
    for name in chosen:
        entries = load_label_file(known[name], taxonomy)
        for entry in entries:
            entry["label_file"] = known[name].name
        records.extend(resolve_entries(entries, root, sources, with_channel=with_channel))
    return records


def parse_label_set_spec(spec: str) -> tuple[str, tuple[str, ...]]:
    """`NAME` or `NAME:HEAD,HEAD` -> (name, heads it trains).

    A recipe may take only some heads of a set, e.g. `wider_channels_r2:cause,department`
    when its emotion labels do not help on leave-one-source-out; the other heads' targets
    are then left empty for its records.
    """
    name, sep, tail = str(spec).partition(":")
    name = name.strip()
    if not name:
        raise InputError(f"label set {spec!r}: no name before ':'")
    if not sep:
        return name, HEADS
    heads = tuple(h.strip() for h in tail.split(",") if h.strip())
    unknown = sorted(set(heads) - set(HEADS))
    if not heads or unknown:
        raise InputError(
            f"label set {spec!r}: heads must be a comma list of {', '.join(HEADS)}"
            + (f"; unknown {unknown}" if unknown else "")
        )
    return name, tuple(h for h in HEADS if h in heads)


def labelled_set_records(
    name: str,
    datasets_dir: str | Path,
    exclude: set[str] | None = None,
    weight: float = 1.0,
    *,
    labels_dir: str | Path | None = None,
    heads: Iterable[str] = HEADS,
) -> tuple[list[dict], dict]:
    """One label set as training records (with `weight`) and its data_info entry.

    A text matching `exclude` (keys of build_data.text_key, e.g. every complaints split) is
    dropped, so nothing of the test split can enter training through a label set. Heads not
    in `heads` get no target (None) from this set.
    """
    from triage.build_data import _PREFIX_CHARS, _is_known, text_key

    heads = tuple(h for h in HEADS if h in set(heads))
    if not heads:
        raise InputError(f"label set {name!r}: no head to train (choose from {HEADS})")
    unused = dict.fromkeys(h for h in HEADS if h not in heads)  # no target from this set
    labels_dir = Path(labels_dir or LABELS_DIR)
    exclude = exclude or set()
    prefixes = {k[:_PREFIX_CHARS] for k in exclude if len(k) >= _PREFIX_CHARS}
    resolved = labelled_records([name], datasets_dir, labels_dir=labels_dir)
    # for data_info: the raw files and their sets' licences (already checked by the call above)
    sources = load_sources(labels_dir / SOURCES_FILE_NAME)
    files = sorted({e["file"] for e in load_label_file(available_label_sets(labels_dir)[name])})
    dropped: Counter = Counter()
    records, seen = [], set()
    for record in resolved:
        key = text_key(record["text"], record["lang"])
        if _is_known(key, exclude, prefixes):
            dropped["also in complaints/"] += 1
            continue
        if key in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(key)
        records.append({**record, **unused, "weight": float(weight)})
    raw_sets = {sources[file].name: sources[file] for file in files}
    info = {
        "name": f"labels/{name}",
        "licence": "; ".join(f"{s.name}: {s.licence}" for s in raw_sets.values()),
        "rows": len(records),
        "languages": sorted({r["lang"] for r in records}),
        "heads": list(heads),
        "weight": float(weight),
        "files": files,
        "dropped": dict(dropped),
    }
    return records, info


def label_agreement(first: Iterable[dict], second: Iterable[dict], emotions: Iterable[str]) -> dict:
    """Agreement of two labelling passes over the same ids (only ids present in both count).

    Per single-label head (when both passes have it): raw agreement and Cohen's kappa.
    Emotions: exact-set agreement, mean Jaccard (two empty sets agree fully) and, per emotion,
    agreement and Cohen's kappa.
    """
    from sklearn.metrics import cohen_kappa_score

    by_id = {r["id"]: r for r in first}
    pairs = [(by_id[r["id"]], r) for r in second if r["id"] in by_id]
    if not pairs:
        raise InputError("the two passes share no id")
    result: dict = {"items": len(pairs)}
    for head in ("cause", "department"):
        if not all(head in one and head in two for one, two in pairs):
            continue  # e.g. emotion-only labels from a public set
        a, b = [p[0][head] for p in pairs], [p[1][head] for p in pairs]
        result[head] = {
            "agreement": sum(x == y for x, y in zip(a, b, strict=True)) / len(pairs),
            "kappa": float(cohen_kappa_score(a, b)) if len(set(a) | set(b)) > 1 else 1.0,
        }
    sets = [(set(p[0]["emotions"]), set(p[1]["emotions"])) for p in pairs]
    per_label = {}
    for label in emotions:
        a = [label in x for x, _ in sets]
        b = [label in y for _, y in sets]
        same = sum(x == y for x, y in zip(a, b, strict=True)) / len(pairs)
        kappa = float(cohen_kappa_score(a, b)) if len(set(a) | set(b)) > 1 else 1.0
        per_label[label] = {"agreement": same, "kappa": kappa, "first": sum(a), "second": sum(b)}
    result["emotions"] = {
        "exact": sum(x == y for x, y in sets) / len(pairs),
        "jaccard": sum(len(x & y) / len(x | y) if x | y else 1.0 for x, y in sets) / len(pairs),
        "per_label": per_label,
    }
    return result
