"""The seminar fork's layout: the predictor keeps its n as a default (the course's
`def predict_cpu_bounded(area, n=5_000_000)`), and students edited it between runs."""

from __future__ import annotations


def predict_cpu_bounded(area, n=5_000_000):
    data = list(range(n))  # the allocation that is measured
    return area * sum(data) / n
