"""`--help` in sections: a command's options under headings, what a user needs first and
the search's internals last (click lists options in one flat block otherwise).

Each option names its section where it is declared (`cls=SectionedOption,
section=LIMIT`); an option without one falls under "Other options". Commands opt in with
`cls=SectionedCommand`.
"""

from __future__ import annotations

import click

# the headings, in the order --help shows them
WHAT = "What to probe"
REQUEST = "The request and where n goes"
LIMIT = "The limit"
ANSWER = "The answer"
SERVER = "The server (built from --app or --fn; a --cmd sets its own)"
OUTPUT = "Output"
INTERNALS = "The search's internals"
OTHER = "Other options"
ORDER = (WHAT, REQUEST, LIMIT, ANSWER, SERVER, OUTPUT, INTERNALS, OTHER)


class SectionedOption(click.Option):
    """An option that names the --help section it is listed under."""

    def __init__(self, *args, section: str = OTHER, **kwargs):
        super().__init__(*args, **kwargs)
        self.section = section


class SectionedCommand(click.Command):
    """A click command whose --help lists its options under their sections' headings."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: dict[str, list[tuple[str, str]]] = {title: [] for title in ORDER}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                rows[getattr(param, "section", OTHER)].append(record)
        for title in ORDER:
            if rows[title]:
                with formatter.section(title):
                    formatter.write_dl(rows[title])
