"""`--help` in sections: a command's options under headings, what a user needs first and
the search's internals last (click lists options in one flat block otherwise).

Each option's section is named once here, by its parameter name; an option not named
falls under "Other options". Commands opt in with `cls=SectionedCommand`.
"""

from __future__ import annotations

import click

from probe.servers import settings

SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("What to probe", ("cmd", "app", "chdir", "fn", "workloads_file", "workload_name")),
    ("The request and where n goes", (
        "request_line", "expect", "json_body", "json_separators", "upload", "content",
        "filename", "content_type", "body_fn", "body_bytes", "headers", "n_env", "n_param",
        "n_unit")),
    ("The limit", ("limit", "limit_kind", "oom_group")),
    ("The answer", ("concurrency", "precision", "require_n", "cold_only", "warm_requests",
                    "settle", "no_check", "same_answer_ok", "n_start", "risk")),
    ("The server (built from --app or --fn; a --cmd sets its own)", (
        "server", *(x.param for x in settings.PREFORK), "layout", "host", "port",
        "start_timeout")),
    ("Output", ("fmt", "out", "results", "logs", "help")),
    ("The search's internals", ("lanes", "strategy", "confirm", "band", "max_probes", "fresh",
                                "request_timeout", "url", "token")),
)  # fmt: skip
_SECTION_OF = {name: title for title, names in SECTIONS for name in names}
_ORDER = [title for title, _ in SECTIONS] + ["Other options"]


class SectionedCommand(click.Command):
    """A click command whose --help lists its options under SECTIONS' headings."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: dict[str, list[tuple[str, str]]] = {title: [] for title in _ORDER}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                rows[_SECTION_OF.get(param.name, "Other options")].append(record)
        for title in _ORDER:
            if rows[title]:
                with formatter.section(title):
                    formatter.write_dl(rows[title])
