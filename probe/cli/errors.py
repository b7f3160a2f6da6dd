"""Errors at the command line: one line each, the fix in it, a non-zero exit."""

from __future__ import annotations

import functools
import sys

import click

from probe import interrupt
from probe.errors import ProbeError
from probe.workload import bodyfn


def friendly_errors(f):
    """Turn the library's user-facing errors into one-line exits; signals into 130/143."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            with interrupt.handling():
                return f(*args, **kwargs)
        except interrupt.Interrupted as exc:
            click.echo(f"interrupted by {exc}; servers stopped, results kept", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; servers stopped, results kept", err=True)
            sys.exit(130)
        except ProbeError as exc:  # one line, and the exit code its class says
            tail = getattr(exc, "log_tail", "")  # a server that did not start: its log
            verbose = click.get_current_context().find_root().params.get("verbose")
            click.echo(f"Error: {exc}" + (f"\n{tail}" if tail and verbose else ""), err=True)
            sys.exit(exc.exit_code)
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}:{where}") from None
        finally:
            bodyfn.stop()  # the body builder, if the command made bodies

    return wrapper


class OneLineUsageError(click.ClickException):
    """A usage error shown as its one-line message, without click's usage block."""

    exit_code = 2


class ProbeGroup(click.Group):
    """Prints every usage error as one line "Error: <what is wrong; what to do>", exit 2."""

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from None


def _one_line(exc: click.UsageError) -> click.ClickException:
    if type(exc).__name__ == "NoArgsIsHelpError":  # click >= 8.2 shows help for bare `probe`
        return exc
    return OneLineUsageError(exc.format_message())
