"""Size parsing and formatting: properties over all sizes, plus the cases that broke it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.sizes import MAX_SIZE, SizeError, format_bytes, format_size, parse_size

UNITS = ["", "K", "M", "G", "T"]  # index i is a factor of 2**(10*i)


@given(st.integers(min_value=1, max_value=MAX_SIZE))
def test_format_then_parse_is_the_identity(size):
    """Every size a cap can be (1 B up to the kernel's largest rlimit) survives the trip;
    format_size picks the largest exact unit, so all units get exercised."""
    assert parse_size(format_size(size)) == size


@given(
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=0, max_value=4),
    st.sampled_from(["", "B", "iB"]),
    st.booleans(),
    st.sampled_from(["", " "]),
)
def test_k_unit_is_k_times_a_power_of_1024(k, i, suffix, lower, space):
    """512M, 512MB, 512MiB, 512 mib all mean 512 * 2**20; a bare number or kB is bytes
    times 1 (i=0 takes no "iB": "5iB" names no unit)."""
    if i == 0 and suffix == "iB":
        suffix = "B"
    text = f"{k}{space}{UNITS[i]}{suffix}"
    if lower:
        text = text.lower()
    assert parse_size(text) == k * 2 ** (10 * i)


@given(st.one_of(st.text(), st.from_regex(r"\s*[0-9.]{1,400}\s*[KMGTBkmgtbiEP]{0,4}\s*")))
def test_any_string_is_a_size_or_a_size_error(text):
    """Arbitrary text and number-shaped junk (a 400-digit decimal overflowed float into
    OverflowError once) must give a positive size, None, or SizeError: nothing else."""
    try:
        size = parse_size(text)
    except SizeError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
    else:
        assert size is None or 0 < size <= MAX_SIZE


@given(st.one_of(st.integers(), st.floats(), st.none(), st.binary()))
def test_non_strings_are_a_size_error(value):
    """parse_size is handed click's raw values; a non-string is a SizeError, not a crash."""
    with pytest.raises(SizeError):
        parse_size(value)


@pytest.mark.parametrize(
    "text",
    ["12Q", "-5M", "0", "0.0001K", "1.5", "1e9", "5iB", "٣M", "nan", "", "   ", "1 2M",
     "9" * 400 + ".5K", str(MAX_SIZE + 1), "8E"],
)  # fmt: skip
def test_junk_is_refused(text):
    """Found by the properties above or by users: a unit we do not know, a sign, zero,
    fractional bytes, an exponent, "iB" without a unit, a non-ASCII digit (\\d matched
    it), an empty string, a float that overflows, a size past the kernel's largest."""
    with pytest.raises(SizeError):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [("512M", 512 << 20), ("2G", 2 << 30), ("1.5GiB", 3 << 29), ("1073741824", 1 << 30),
     (".5K", 512), ("5 kib", 5 << 10), ("none", None), ("Unlimited", None)],
)  # fmt: skip
def test_the_documented_spellings(text, size):
    """The spellings README and --help promise."""
    assert parse_size(text) == size


def test_format_bytes_is_human_and_keeps_none():
    """Three significant digits in the largest unit below 1024 of it; '-' for no value."""
    assert format_bytes(None) == "-"
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536 << 20) == "1.50 GiB"
    assert format_bytes(300 << 20) == "300.0 MiB"
