"""calmdesk: complaint triage and agent coaching for complaint desks (en, es, zh, ru)."""

from calmdesk.errors import CalmdeskError, InputError, UnsupportedLanguageError

__version__ = "0.1.0"
SUPPORTED_LANGUAGES = ("en", "es", "zh", "ru")  # the one list; calmdesk.langid.SUPPORTED is it

__all__ = [
    "SUPPORTED_LANGUAGES",
    "CalmdeskError",
    "InputError",
    "UnsupportedLanguageError",
    "__version__",
]
