"""probe: find how large an input a Python web service can take before it runs out of memory."""

__version__ = "0.1.0"
