"""Label sets come from data or YAML; bad files are refused with the reason."""

import pytest

from calmdesk.errors import InputError
from triage.taxonomy import Taxonomy


def test_default_taxonomy_is_the_guidelines_one():
    taxonomy = Taxonomy.default()
    assert len(taxonomy["cause"]) == 8
    assert "quality_maintenance" in taxonomy["department"]
    assert set(taxonomy["emotions"]) == {"angry", "anxious", "sad", "noisy"}


def test_from_records_is_sorted_and_skips_unlabelled():
    records = [
        {"cause": "b", "department": "x", "emotions": ["sad"]},
        {"cause": "a", "department": None, "emotions": []},
        {"cause": None, "department": "y", "emotions": None},
    ]
    taxonomy = Taxonomy.from_records(records)
    assert taxonomy["cause"] == ("a", "b")
    assert taxonomy["department"] == ("x", "y")
    assert taxonomy["emotions"] == ("sad",)


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "desk.yaml"
    path.write_text("name: desk\ncause: [late, rude]\ndepartment: [ops, care]\nemotions: [angry]\n")
    taxonomy = Taxonomy.from_yaml(path)
    assert taxonomy.name == "desk"
    assert Taxonomy.from_dict(taxonomy.to_dict()) == taxonomy


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("cause: [a, b]\ndepartment: [c, d]\n", "key 'emotions' must be a list"),
        ("cause: [a]\ndepartment: [c, d]\nemotions: [x]\n", "at least 2 labels"),
        ("cause: [a, a]\ndepartment: [c, d]\nemotions: [x]\n", "repeats a label"),
        ("cause: [a, b\n", "not valid YAML"),
        ("- a\n- b\n", "a taxonomy is a mapping"),
    ],
)
def test_bad_yaml_is_explained(tmp_path, content, message):
    path = tmp_path / "t.yaml"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        Taxonomy.from_yaml(path)


def test_check_record_names_the_place():
    taxonomy = Taxonomy.default()
    taxonomy.check_record({"cause": "billing", "department": "logistics", "emotions": []}, "x")
    with pytest.raises(InputError, match=r"row 4: department 'legal' is not in the taxonomy"):
        taxonomy.check_record({"cause": "billing", "department": "legal"}, "row 4")
