"""Errors a user can act on; the CLI and the API turn these into clear messages, not tracebacks."""


class CalmdeskError(Exception):
    """Base class: the message is meant for the user as it is."""


class InputError(CalmdeskError, ValueError):
    """Bad input: wrong file format, missing column, empty text, label outside the taxonomy."""


class UnsupportedLanguageError(InputError):
    """The text is in a language calmdesk has no model or rulebook for."""

    def __init__(self, message: str, detected: str | None = None):
        super().__init__(message)
        self.detected = detected


def run_script(main) -> None:
    """Run a script's `main()` and exit with its code; a CalmdeskError becomes one line on
    stderr and exit code 2, as in the CLI, never a traceback."""
    import sys

    try:
        sys.exit(main())
    except CalmdeskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
