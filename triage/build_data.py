"""Assemble the default training set: the complaint corpus plus mapped public data sets.

Each public set enters through a YAML mapping in `triage/mappings/` that says which files to
read, which columns hold the text and the labels, how every source label maps onto our cause /
department / emotions (or that a head must not learn from it), its sample weight, a row cap and
its licence. No mapping lives in code, and every extra text that matches a complaint of any
split (train, dev or test) is dropped, so nothing of the test split leaks into training.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from calmdesk.errors import InputError
from calmdesk.settings import datasets_dir as default_datasets_dir
from calmdesk.text import features_text
from triage.backends.base import HEADS as HEAD_NAMES

MAPPINGS_DIR = Path(__file__).with_name("mappings")
DEFAULT_SET_FILE = MAPPINGS_DIR / "default_set.yaml"
_KEY_JUNK = re.compile(r"[\W_]+", re.UNICODE)
_LIST_TOKEN = re.compile(r"[^\s,;\[\]'\"|]+")
# a complaint text may have been trimmed when the corpus was drawn: also match on a long prefix.
_PREFIX_CHARS = 60


@dataclass
class Mapping:
    """One public data set and how its labels become our targets (read from YAML)."""

    name: str
    licence: str
    files: list[dict]
    text_column: str
    label: dict
    weight: float = 1.0
    max_rows: int | None = None
    where: dict = field(default_factory=dict)
    label_map: dict = field(default_factory=dict)
    emotions: dict = field(default_factory=dict)
    unmapped: str = "drop"
    ignore: list = field(default_factory=list)
    description: str = ""
    # complaint sources drawn from the same raw set: leave-one-source-out drops this set from
    # the training folds that hold them out, so a held-out channel is truly unseen.
    complaint_sources: list = field(default_factory=list)
    path: Path | None = None

    @property
    def heads(self) -> list[str]:
        """The heads this mapping can train."""
        heads = {h for targets in self.label_map.values() for h in (targets or {})}
        if self.emotions:
            heads.add("emotions")
        return [h for h in HEAD_NAMES if h in heads]


_REQUIRED = ("name", "licence", "files", "text_column", "label")
_KNOWN = {f for f in Mapping.__dataclass_fields__ if f != "path"}


def read_yaml_file(path: Path, missing: str) -> Any:
    """A YAML file's content; `missing` names what was expected when there is no file."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{missing} {path}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from exc


def load_mapping(path: str | Path) -> Mapping:
    """Read and check one mapping file; errors name the file and the field."""
    path = Path(path)
    raw = read_yaml_file(path, "no mapping file")
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping of fields, got {type(raw).__name__}")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise InputError(f"{path}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise InputError(f"{path}: unknown field(s) {', '.join(unknown)}")
    mapping = Mapping(**raw, path=path)
    if not mapping.label_map and not mapping.emotions:
        raise InputError(f"{path}: give `label_map` (cause/department) or `emotions`")
    if mapping.unmapped not in ("drop", "calm"):
        raise InputError(f"{path}: unmapped must be 'drop' or 'calm', got {mapping.unmapped!r}")
    kind = mapping.label.get("kind", "single")
    if kind not in ("single", "list", "columns"):
        raise InputError(f"{path}: label.kind must be single, list or columns, got {kind!r}")
    for source_label, targets in mapping.label_map.items():
        bad = sorted(set(targets or {}) - {"cause", "department"})
        if bad:
            raise InputError(f"{path}: label_map[{source_label!r}] names unknown head(s) {bad}")
    if not isinstance(mapping.complaint_sources, list) or not all(
        isinstance(x, str) for x in mapping.complaint_sources
    ):
        raise InputError(f"{path}: complaint_sources must be a list of complaint source names")
    for file_spec in mapping.files:
        if "path" not in file_spec or "lang" not in file_spec:
            raise InputError(f"{path}: every entry of `files` needs `path` and `lang`")
    return mapping


def available_mappings(directory: Path = MAPPINGS_DIR) -> dict[str, Path]:
    """{name: file} of every mapping shipped in `directory`."""
    return {p.stem: p for p in sorted(directory.glob("*.yaml")) if p.name != DEFAULT_SET_FILE.name}


def default_labelled() -> dict[str, float | None]:
    """{label set: weight or None} that the default training set adds (`labelled:` in
    default_set.yaml; the label files live in `triage/labels/`, see `triage/labelled_extra.py`)."""
    raw = yaml.safe_load(DEFAULT_SET_FILE.read_text(encoding="utf-8")) or {}
    chosen = raw.get("labelled") or {}
    if isinstance(chosen, list):
        return dict.fromkeys(chosen)
    return {name: (spec or {}).get("weight") for name, spec in chosen.items()}


def default_sources() -> dict[str, float | None]:
    """{mapping name: weight override or None} of the default training set (default_set.yaml)."""
    raw = yaml.safe_load(DEFAULT_SET_FILE.read_text(encoding="utf-8")) or {}
    sources = raw.get("sources") or {}
    if isinstance(sources, list):
        return dict.fromkeys(sources)
    return {name: (spec or {}).get("weight") for name, spec in sources.items()}


# ---------------------------------------------------------------------------- reading files
def _read_file(root: Path, spec: dict, mapping: Mapping) -> pd.DataFrame:
    """One file, or every file a glob pattern (`fold*.json`) matches, as one table."""
    if any(ch in spec["path"] for ch in "*?["):
        paths = sorted(root.glob(spec["path"]))
        if not paths:
            raise InputError(f"mapping {mapping.name}: no data file matches {root / spec['path']}")
        return pd.concat([_read_one(path, spec, mapping) for path in paths], ignore_index=True)
    return _read_one(root / spec["path"], spec, mapping)


def _read_one(path: Path, spec: dict, mapping: Mapping) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"mapping {mapping.name}: data file {path} not found")
    fmt = spec.get("format") or path.suffix.lstrip(".")
    encoding = spec.get("encoding", "utf-8-sig")
    try:
        if fmt in ("csv", "tsv"):
            header = spec.get("header", True)
            frame = pd.read_csv(
                path,
                sep=spec.get("sep", "\t" if fmt == "tsv" else ","),
                header=0 if header else None,
                names=spec.get("columns"),
                encoding=encoding,
                dtype=str,
                keep_default_na=False,
                quoting=csv.QUOTE_NONE if spec.get("no_quoting") else csv.QUOTE_MINIMAL,
                on_bad_lines="skip",
                engine="python" if spec.get("no_quoting") else "c",
            )
        elif fmt in ("jsonl", "json"):
            text = path.read_text(encoding=encoding)
            if fmt == "json" or text.lstrip().startswith("["):
                rows = json.loads(text)
            else:
                rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            frame = pd.DataFrame(rows)
        else:
            raise InputError(f"mapping {mapping.name}: unknown format {fmt!r} for {path}")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"mapping {mapping.name}: cannot read {path} as {fmt} ({exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _source_labels(row: pd.Series, label: dict) -> list[str]:
    """The source labels of one row, as names (ids translated through label.names)."""
    kind = label.get("kind", "single")
    names = {str(k): str(v) for k, v in (label.get("names") or {}).items()}
    if kind == "columns":
        minimum = float(label.get("min_value", 1))
        found = []
        for column in label["columns"]:
            value = str(row.get(column, "")).strip()
            try:
                if value and float(value) >= minimum:
                    found.append(column)
            except ValueError:
                continue
        return found
    value = row.get(label["column"])
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if kind == "list" and isinstance(value, list):
        raw = [str(v) for v in value]
    elif kind == "list":
        raw = _LIST_TOKEN.findall(str(value))
    else:
        raw = [str(value).strip()]
    return [names.get(v, v) for v in raw if v != ""]


def _targets(labels: list[str], mapping: Mapping) -> dict[str, Any] | None:
    """Our targets for one row, or None when the row must be dropped."""
    if mapping.emotions:
        ignored = set(mapping.ignore)
        emotions = sorted(
            {ours for ours, theirs in mapping.emotions.items() if set(theirs) & set(labels)}
        )
        if not emotions:
            if labels and set(labels) <= ignored:
                return None
            if mapping.unmapped == "drop" and labels:
                return None
        return {"cause": None, "department": None, "emotions": emotions}
    present = set(labels)
    for source_label in mapping.label_map:  # the first entry of label_map the row carries wins
        if source_label in present:
            targets = mapping.label_map[source_label] or {}
            if not targets:
                return None
            return {
                "cause": targets.get("cause"),
                "department": targets.get("department"),
                "emotions": None,
            }
    return None


def text_key(text: str, lang: str) -> str:
    """How two texts are judged the same: normalised, simplified, lower-case, no punctuation."""
    return _KEY_JUNK.sub("", features_text(text, lang).lower())


def _is_known(key: str, known: set[str], prefixes: set[str]) -> bool:
    return key in known or (len(key) >= _PREFIX_CHARS and key[:_PREFIX_CHARS] in prefixes)


def mapping_records(
    mapping: Mapping,
    root: Path,
    exclude: set[str] | None = None,
    weight: float | None = None,
    seed: int = 0,
) -> tuple[list[dict], dict]:
    """The records of one mapped data set and its data_info entry."""
    exclude = exclude or set()
    exclude_prefixes = {k[:_PREFIX_CHARS] for k in exclude if len(k) >= _PREFIX_CHARS}
    weight = mapping.weight if weight is None else weight
    records: list[dict] = []
    seen: set[str] = set()
    dropped = Counter()
    for spec in mapping.files:
        frame = _read_file(root, spec, mapping)
        text_column = spec.get("text_column", mapping.text_column)
        label_column = mapping.label.get("column")
        for column in [text_column, label_column, *mapping.where]:
            if column and column not in frame.columns:
                raise InputError(
                    f"mapping {mapping.name}: {spec['path']} has no column {column!r}; "
                    f"columns: {', '.join(frame.columns)}"
                )
        for column, allowed in mapping.where.items():
            allowed = {str(a) for a in (allowed if isinstance(allowed, list) else [allowed])}
            frame = frame[frame[column].astype(str).isin(allowed)]
        for i, row in frame.iterrows():
            text = str(row[text_column] or "").replace("\r", "").strip()
            if not text:
                dropped["empty text"] += 1
                continue
            targets = _targets(_source_labels(row, mapping.label), mapping)
            if targets is None:
                dropped["label not mapped"] += 1
                continue
            key = text_key(text, spec["lang"])
            if _is_known(key, exclude, exclude_prefixes):
                dropped["also in complaints/"] += 1
                continue
            if key in seen:
                dropped["duplicate"] += 1
                continue
            seen.add(key)
            records.append(
                {
                    "id": f"{mapping.name}-{Path(spec['path']).stem}-{i}",
                    "lang": spec["lang"],
                    "source": mapping.name,
                    "text": text,
                    **targets,
                    "weight": float(weight),
                }
            )
    if mapping.max_rows is not None and len(records) > mapping.max_rows:
        random.Random(seed).shuffle(records)
        dropped["over max_rows"] += len(records) - mapping.max_rows
        records = records[: mapping.max_rows]
    info = {
        "name": mapping.name,
        "licence": mapping.licence,
        "rows": len(records),
        "languages": sorted({r["lang"] for r in records}),
        "heads": mapping.heads,
        "weight": float(weight),
        "files": [spec["path"] for spec in mapping.files],
        "dropped": dict(dropped),
    }
    return records, info


# ---------------------------------------------------------------------------- the default set
def _complaints(root: Path, split: str) -> list[dict]:
    from triage.data import load_records

    path = root / "complaints" / f"{split}.jsonl"
    if not path.is_file():
        raise InputError(f"the complaint corpus split {path} is missing")
    return load_records(path)


def build_default_training_set(
    datasets_dir: str | Path | None = None,
    sources: Iterable[str] | dict[str, float | None] | None = None,
    labelled: Iterable[str] | dict[str, float | None] | None = None,
) -> tuple[list[dict], list[dict], dict]:
    """(train_records, dev_records, data_info) for the default triage models.

    `sources` names the mappings to add (a list, or {name: weight override}); None means the
    list in `mappings/default_set.yaml`, [] the complaint corpus alone. `labelled` names label
    sets of `triage/labels/` (fully labelled, resolved from the raw files) the same way; they
    enter before the mapped sets, so a text they share with a mapped set keeps our labels.
    A label set given as `NAME:HEAD,HEAD` trains only those heads (labelled_extra).
    """
    root = Path(datasets_dir) if datasets_dir is not None else default_datasets_dir()
    if not root.is_dir():
        raise InputError(f"datasets folder {root} not found (set CALMDESK_DATASETS)")
    train, dev, test = (_complaints(root, s) for s in ("train", "dev", "test"))
    for record in train:
        record.setdefault("weight", 1.0)
    exclude = {text_key(r["text"], r["lang"]) for r in (*train, *dev, *test)}
    data_info = {
        "datasets": [
            {
                "name": "complaints",
                "licence": "mixed, per source: see complaints/CARD.md (some non-commercial)",
                "rows": len(train),
                "languages": sorted({r["lang"] for r in train}),
                "heads": list(HEAD_NAMES),
                "weight": 1.0,
                "files": ["complaints/train.jsonl"],
            }
        ],
        "dev": {"name": "complaints", "rows": len(dev), "files": ["complaints/dev.jsonl"]},
    }
    if sources is None:
        chosen = default_sources()
    elif isinstance(sources, dict):
        chosen = dict(sources)
    else:
        chosen = dict.fromkeys(sources)
    known = available_mappings()
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise InputError(f"unknown data source(s) {unknown}; known: {', '.join(known)}")
    records = list(train)
    if labelled is None:
        labelled = default_labelled()
    elif not isinstance(labelled, dict):
        labelled = dict.fromkeys(labelled)
    if labelled:
        from triage.labelled_extra import labelled_set_records, parse_label_set_spec

        for spec, weight in labelled.items():
            name, heads = parse_label_set_spec(spec)
            extra, info = labelled_set_records(
                name, root, exclude, 1.0 if weight is None else weight, heads=heads
            )
            exclude |= {text_key(r["text"], r["lang"]) for r in extra}
            records.extend(extra)
            data_info["datasets"].append(info)
    for name, weight in chosen.items():
        extra, info = mapping_records(load_mapping(known[name]), root, exclude, weight)
        exclude |= {text_key(r["text"], r["lang"]) for r in extra}
        records.extend(extra)
        data_info["datasets"].append(info)
    data_info["rows"] = len(records)
    return records, dev, data_info


def records_by_head(records: Sequence[dict]) -> dict[str, int]:
    """How many records train each head (a quick check of a built set)."""
    return {h: sum(r.get(h) is not None for r in records) for h in HEAD_NAMES}
