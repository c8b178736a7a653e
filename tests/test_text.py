from calmdesk.text import features_text, is_traditional, normalize_text, to_simplified, tokenize


def test_normalize_text_folds_width_and_whitespace():
    assert normalize_text("  ＡＢＣ１２３\u200b \n\t ok ") == "ABC123 ok"


def test_traditional_chinese_is_simplified_for_features_only():
    original = "客服態度極差，退款一直沒到賬"
    assert is_traditional(original)
    assert not is_traditional(to_simplified(original))
    assert features_text(original, "zh") == "客服态度极差,退款一直没到账"
    assert original == "客服態度極差，退款一直沒到賬"


def test_tokenize_per_language():
    assert tokenize("No puedo ayudarle", "es") == ["no", "puedo", "ayudarle"]
    assert "客服" in tokenize("客服态度极差", "zh")
    assert tokenize("Не могу помочь", "ru") == ["не", "могу", "помочь"]


def test_to_traditional_round_trips_simplified_text():
    from calmdesk.text import to_traditional

    assert to_traditional("客服态度极差") == "客服態度極差"
    assert to_simplified(to_traditional("退款一直没到账")) == "退款一直没到账"
