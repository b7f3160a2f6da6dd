"""The `probe` command line: serve, max-n, explain, plan, matrix, compare, report, study."""

from __future__ import annotations

import click

from probe import __version__
from probe.cli.errors import ProbeGroup
from probe.cli.explain import explain
from probe.cli.maxn import max_n
from probe.cli.plan import plan
from probe.cli.serve import serve
from probe.cli.study import compare, matrix, report, study


# -- commands ----------------------------------------------------------------------
@click.group(cls=ProbeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="probe")
@click.option("-v", "--verbose", is_flag=True, help="On errors, also print the server's log.")
def main(verbose):
    """Find how large an input your Python web service can take before it runs out of memory.

    probe starts your service with your own command (gunicorn, uvicorn, Flask; WSGI or
    ASGI) under a memory limit, sends it requests of size n (in the query, a JSON batch,
    a CSV or an image upload, a body from your own function), and finds the largest n
    it answers, checked on fresh servers as a user's traffic would reach them.

    Then: which configuration to run in a container's budget (plan), and which lines of
    your code hold the memory at the boundary (explain).

    \b
    Examples:
      probe max-n --cmd 'uvicorn --port {port} main:app' --request 'GET /predict?n={n}'
      probe plan --cmd 'gunicorn -w {workers} --bind 127.0.0.1:{port} app:app' \\
                 --grid workers=1,2,4 --request 'GET /predict?n={n}' --budget 2G --n 100000
      probe explain --cmd 'uvicorn --port {port} main:app' --request 'GET /predict?n={n}'
      probe serve --cmd 'uvicorn --port {port} main:app' --limit 512M
    \b
    The seminar's study it ships with (a house-price service, 3 predictors, 2 servers):
      probe study
    """


main.add_command(serve)
main.add_command(max_n)
main.add_command(explain)
main.add_command(plan)
for command in (matrix, compare, report, study):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
