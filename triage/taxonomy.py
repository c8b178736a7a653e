"""Label sets per head. They come from training data or a YAML file, never from code.

`cause` and `department` are single-label heads, `emotions` is multi-label (an empty list means
calm), so a desk with its own departments only writes a YAML file or labels its own tickets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from calmdesk.errors import InputError
from triage.backends.base import HEADS

DEFAULT_TAXONOMY_FILE = Path(__file__).parent / "taxonomies" / "default.yaml"


@dataclass(frozen=True)
class Taxonomy:
    """The labels each head may predict, in a stable order (the order of the arrays)."""

    labels: dict[str, tuple[str, ...]]
    name: str = "custom"
    _sets: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        missing = [head for head in HEADS if head not in self.labels]
        if missing:
            raise InputError(f"taxonomy {self.name!r} lacks the head(s) {', '.join(missing)}")
        for head in ("cause", "department"):
            if len(self.labels[head]) < 2:
                raise InputError(
                    f"taxonomy {self.name!r}: head {head!r} needs at least 2 labels, "
                    f"got {list(self.labels[head])}"
                )
        if not self.labels["emotions"]:
            raise InputError(f"taxonomy {self.name!r}: head 'emotions' needs at least 1 label")
        for head, labels in self.labels.items():
            if len(set(labels)) != len(labels):
                raise InputError(f"taxonomy {self.name!r}: head {head!r} repeats a label")
        object.__setattr__(self, "_sets", {h: frozenset(v) for h, v in self.labels.items()})

    def __getitem__(self, head: str) -> tuple[str, ...]:
        return self.labels[head]

    def contains(self, head: str, label: str) -> bool:
        return label in self._sets[head]

    def to_dict(self) -> dict:
        return {"name": self.name, **{head: list(self.labels[head]) for head in HEADS}}

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "taxonomy") -> Taxonomy:
        if not isinstance(data, Mapping):
            raise InputError(f"{source}: a taxonomy is a mapping with keys {', '.join(HEADS)}")
        labels: dict[str, tuple[str, ...]] = {}
        for head in HEADS:
            values = data.get(head)
            if not isinstance(values, list) or not all(
                isinstance(v, str) and v.strip() for v in values
            ):
                raise InputError(
                    f"{source}: key {head!r} must be a list of label names, got {values!r}"
                )
            labels[head] = tuple(v.strip() for v in values)
        return cls(labels=labels, name=str(data.get("name") or Path(source).stem))

    @classmethod
    def from_yaml(cls, path: str | Path) -> Taxonomy:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"taxonomy file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not valid YAML ({exc})") from exc
        return cls.from_dict(data or {}, source=str(path))

    @classmethod
    def from_records(cls, records: Iterable[Mapping], name: str = "from-data") -> Taxonomy:
        """Labels as they occur in the data, sorted, so the same data gives the same taxonomy."""
        seen: dict[str, set[str]] = {head: set() for head in HEADS}
        for record in records:
            for head in ("cause", "department"):
                if record.get(head) is not None:
                    seen[head].add(record[head])
            seen["emotions"].update(record.get("emotions") or ())
        return cls(labels={h: tuple(sorted(v)) for h, v in seen.items()}, name=name)

    @classmethod
    def default(cls) -> Taxonomy:
        """The taxonomy of GUIDELINES.md, read from `taxonomies/default.yaml`."""
        return cls.from_yaml(DEFAULT_TAXONOMY_FILE)

    def check_record(self, record: Mapping, where: str) -> None:
        """Raise InputError naming `where` (file and row) when a label is outside the taxonomy."""
        for head in ("cause", "department"):
            label = record.get(head)
            if label is not None and not self.contains(head, label):
                raise InputError(
                    f"{where}: {head} {label!r} is not in the taxonomy "
                    f"(allowed: {', '.join(self.labels[head])})"
                )
        for label in record.get("emotions") or ():
            if not self.contains("emotions", label):
                raise InputError(
                    f"{where}: emotion {label!r} is not in the taxonomy "
                    f"(allowed: {', '.join(self.labels['emotions'])}; an empty list means calm)"
                )

    def check_records(self, records: Iterable[Mapping]) -> None:
        for index, record in enumerate(records, 1):
            where = f"{record.get('source') or 'data'}: record {index} (id {record.get('id')!r})"
            self.check_record(record, where)
