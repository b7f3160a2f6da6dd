"""probe: find how large an input a Python web service can take before it runs out of memory."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("probe")  # the package's own version, as pyproject.toml gives it
except PackageNotFoundError:  # pragma: no cover - run from a checkout without installing
    __version__ = "0+unknown"
