"""The `probe` command line: serve, max-n, matrix, compare, report, study."""

from __future__ import annotations

import click

from probe import __version__
from probe.cli.errors import ProbeGroup
from probe.cli.maxn import max_n
from probe.cli.serve import serve
from probe.cli.study import compare, matrix, report, study


# -- commands ----------------------------------------------------------------------
@click.group(cls=ProbeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="probe")
@click.option("-v", "--verbose", is_flag=True, help="On errors, also print the server's log.")
def main(verbose):
    """Find how large an input a Python web service can take before it runs out of memory.

    probe starts the seminar's house-price service under Flask's dev server or gunicorn
    with a memory cap, searches the critical n exactly, and explains the difference
    between servers and concurrency from measured data.

    \b
    Example:
      probe max-n --fn cpu_bounded --limit 2G
      probe study
    """


main.add_command(serve)
main.add_command(max_n)
for command in (matrix, compare, report, study):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
