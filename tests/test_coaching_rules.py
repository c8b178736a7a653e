"""Every rule of every shipped rulebook, checked against its own examples; rulebook validation."""

from __future__ import annotations

import textwrap

import pytest

from calmdesk.errors import InputError
from coaching.engine import shipped_engine
from coaching.rulebook import CATEGORIES, RULES_DIR, RuleBook, parse_rulebook, read_rulebook_file

LANGS = ("en", "es", "zh", "ru")
REQUIRED_CATEGORIES = set(CATEGORIES)


def _examples(kind: str):
    for lang in LANGS:
        for rule in RuleBook.load(lang):
            sentences = rule.examples_match if kind == "match" else rule.examples_no_match
            for sentence in sentences:
                yield pytest.param(lang, rule.id, sentence, id=f"{rule.id}:{sentence[:30]}")


def _fired(lang: str, rule_id: str, sentence: str) -> list:
    return [m for m in shipped_engine(lang).match_text(sentence) if m.rule.id == rule_id]


@pytest.mark.parametrize(("lang", "rule_id", "sentence"), list(_examples("match")))
def test_rule_matches_its_positive_examples(lang, rule_id, sentence):
    hits = _fired(lang, rule_id, sentence)
    assert hits, f"{rule_id} should flag {sentence!r}"
    for hit in hits:  # offsets point into the sentence as written
        assert sentence[hit.start : hit.end] == hit.text and hit.text.strip()


@pytest.mark.parametrize(("lang", "rule_id", "sentence"), list(_examples("no_match")))
def test_rule_stays_silent_on_its_antipattern_examples(lang, rule_id, sentence):
    assert not _fired(lang, rule_id, sentence), f"{rule_id} should not flag {sentence!r}"


@pytest.mark.parametrize("lang", LANGS)
def test_every_rulebook_covers_every_category_with_examples(lang):
    book = RuleBook.load(lang)
    assert {r.category for r in book} == REQUIRED_CATEGORIES
    for rule in book:
        assert rule.examples_match and rule.examples_no_match, rule.id
        assert rule.id.startswith(f"{lang}.{rule.category}."), rule.id
        assert rule.message_in(lang) and rule.message_in("en"), rule.id
        assert rule.practice, rule.id


@pytest.mark.parametrize("lang", LANGS)
def test_rulebook_file_declares_its_language(lang):
    file_lang, rules = read_rulebook_file(RULES_DIR / f"{lang}.yaml")
    assert file_lang == lang and rules


# --------------------------------------------------------------------------- validation

GOOD_RULE = """
  - id: en.negative_language.sample
    category: negative_language
    severity: error
    message: {en: "Say what you can do."}
    suggestion: "Say what you can do instead of {match}."
    patterns:
      - [{LOWER: "nope"}]
    examples: {match: ["Nope."], no_match: ["Yes."]}
"""


def _book(rules: str, lang: str = "en") -> str:
    return f"lang: {lang}\nrules:\n{textwrap.dedent(rules)}"


def _load(tmp_path, text: str):
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return read_rulebook_file(path)


def test_a_valid_user_rulebook_loads(tmp_path):
    lang, rules = _load(tmp_path, _book(GOOD_RULE))
    assert lang == "en" and rules[0].id == "en.negative_language.sample"
    assert rules[0].suggestion_for("nope") == "Say what you can do instead of nope."


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("category: negative_language", "category: grumpy"), "unknown category 'grumpy'"),
        (("severity: error", "severity: fatal"), "unknown severity 'fatal'"),
        (('    message: {en: "Say what you can do."}\n', ""), "missing field(s) message"),
        (('[{LOWER: "nope"}]', '[{LOWR: "nope"}]'), "bad token pattern"),
        (('[{LOWER: "nope"}]', '[{LOWER: "nope", OP: "~"}]'), "bad token pattern"),
        (('[{LOWER: "nope"}]', '{regex: "(unclosed"}'), "bad regex"),
        (('[{LOWER: "nope"}]', '{regex: "x*"}'), "matches the empty string"),
        (('[{LOWER: "nope"}]', '"nope"'), "expected a list of token specs"),
        (("id: en.negative_language.sample", "id: Sample"), "id must look like"),
        (("id: en.negative_language.sample", "id: es.negative_language.sample"), "id must look"),
        (('no_match: ["Yes."]', "no_match: []"), "examples.no_match"),
        (("    severity: error\n", "    severity: error\n    colour: red\n"), "unknown field"),
    ],
)
def test_rulebook_errors_name_the_file_and_the_rule(tmp_path, change, expected):
    old, new = change
    assert old in GOOD_RULE
    with pytest.raises(InputError) as err:
        _load(tmp_path, _book(GOOD_RULE.replace(old, new)))
    message = str(err.value)
    assert expected in message
    assert "mine.yaml" in message
    assert "rule " in message


def test_unquoted_yaml_boolean_in_a_pattern_is_refused(tmp_path):
    # YAML reads a bare `no` as False: the pattern would silently never match.
    with pytest.raises(InputError, match="bad token pattern"):
        _load(tmp_path, _book(GOOD_RULE.replace('[{LOWER: "nope"}]', "[{LOWER: no}]")))


def test_duplicate_rule_ids_are_refused(tmp_path):
    with pytest.raises(InputError, match="duplicate id"):
        _load(tmp_path, _book(GOOD_RULE + GOOD_RULE))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: []\n", "expected a mapping with 'lang' and 'rules'"),
        ("lang: fr\nrules: [x]\n", "unsupported language 'fr'"),
        ("lang: en\nrules: []\n", "non-empty list"),
        ("lang: en\nrules: [: :\n", "not valid YAML"),
    ],
)
def test_malformed_rulebook_files(tmp_path, text, expected):
    with pytest.raises(InputError, match=expected):
        _load(tmp_path, text)


def test_missing_rulebook_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_rulebook_file(tmp_path / "absent.yaml")


def test_spanish_message_is_required_in_a_spanish_rulebook():
    rule = textwrap.dedent(GOOD_RULE).replace("en.negative", "es.negative")
    with pytest.raises(InputError, match="lacks the text in es"):
        parse_rulebook({"lang": "es", "rules": __import__("yaml").safe_load(rule)}, "x.yaml")
