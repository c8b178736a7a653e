import pytest

from calmdesk.errors import InputError, UnsupportedLanguageError
from calmdesk.langid import detect_language, normalize_lang_code
from calmdesk.text import text_language


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("My card was charged twice and nobody answers the phone.", "en"),
        ("Me cobraron dos veces y nadie contesta el teléfono.", "es"),
        ("我的卡被扣了两次钱，客服一直不接电话。", "zh"),
        ("我的卡被扣了兩次錢，客服一直不接電話。", "zh"),
        ("С моей карты дважды списали деньги, никто не отвечает.", "ru"),
        ("gracias", "es"),
        ("thanks", "en"),
    ],
)
def test_detects_supported_languages(text, lang):
    assert detect_language(text) == lang


def test_refuses_unsupported_language_with_clear_message():
    with pytest.raises(UnsupportedLanguageError, match="does not support"):
        detect_language("Ma carte a été débitée deux fois et personne ne répond au téléphone.")
    with pytest.raises(UnsupportedLanguageError, match="Japanese"):
        detect_language("カードが二回請求されました")


def test_empty_text_is_an_input_error():
    with pytest.raises(InputError, match="empty text"):
        detect_language("   ")


def test_explicit_language_overrides_detection_and_is_validated():
    assert text_language("Ma carte a été débitée deux fois.", "es") == "es"
    assert normalize_lang_code("zh-Hant") == "zh"
    with pytest.raises(UnsupportedLanguageError, match="unsupported language 'fr'"):
        normalize_lang_code("fr")


def test_only_the_opening_of_a_long_text_is_read():
    from calmdesk.langid import SAMPLE_CHARS

    opening = "Me cobraron dos veces y nadie contesta el teléfono. "
    tail = "Ma carte a été débitée deux fois et personne ne répond. " * 200
    assert len(opening) < SAMPLE_CHARS < len(opening + tail)
    assert detect_language(opening * 4 + tail) == "es"
