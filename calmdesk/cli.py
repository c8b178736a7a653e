"""The one `calmdesk` command. Each part (triage, coaching, api) registers its own sub-commands."""

from __future__ import annotations

import importlib
import sys

import typer

from calmdesk import __version__
from calmdesk.errors import CalmdeskError

app = typer.Typer(
    name="calmdesk",
    help=(
        "Complaint triage (cause, department, emotions) and agent coaching (banned phrases) "
        "for complaint desks, in English, Spanish, Chinese and Russian.\n\n"
        'Start with:  calmdesk triage "my card was charged twice"'
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines `register(app)`; the order here is the order of `calmdesk --help`.
COMMAND_MODULES = (
    "triage.cli",
    "triage.transformer_cli",
    "coaching.cli",
    "api.cli",
    "calmdesk.encoder.cli",
)


@app.command("version")
def version() -> None:
    """Print the calmdesk version."""
    typer.echo(__version__)


@app.command("detect-lang")
def detect_lang(text: str = typer.Argument(..., help="Text whose language to detect.")) -> None:
    """Print the detected language code (en, es, zh, ru), or explain why none fits."""
    from calmdesk.langid import detect_language

    typer.echo(detect_language(text))


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that part is not installed; its own import errors still raise
                continue
            raise
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one clear line on stderr and exit code 2."""
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except CalmdeskError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except FileNotFoundError as exc:
        typer.echo(f"error: file not found: {exc.filename or exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
