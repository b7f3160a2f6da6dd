"""The one base of every error probe explains to its user.

A ProbeError's message is one line that says what is wrong and what to do; its
`exit_code` is the command's (README, "Exit codes"): 1 the answer is no or a results file
cannot be used, 2 the question cannot be asked as given (a usage error), 3 probe could
not probe. The command line catches this class alone (probe.cli.errors.friendly_errors);
a class says which code it ends with.
"""

from __future__ import annotations


class ProbeError(Exception):
    """An error the user can fix; the message says how."""

    exit_code = 1


class UsageProblem(ProbeError):
    """The question cannot run as asked: change an option (exit 2)."""

    exit_code = 2
