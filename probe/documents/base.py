"""A results document as a dict whose keys are declared once, in its class.

Each document (max-n, matrix, compare) and each record inside one (a band, a matrix
variant, a compare row) is a `dict` subclass that declares its keys with `key()`: a
module that writes or reads the document spells a key as an attribute (`doc.critical_n`),
and a key that is not declared cannot be written (KeyError), so the class is the one
place that says what a document holds. A document stays a plain dict for `json`, and
one loaded from disk keeps whatever keys it was written with.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from probe.documents import store

R = TypeVar("R", bound="Record")


class key:  # noqa: N801 - used like a field declaration
    """One declared key: read as an attribute (None when absent), set as one.

    `each=Record class`: the value is a list of such records; `wrap=Record class`: the
    value is one such record. Reading turns plain dicts (e.g. from JSON) into records in
    place, so what is read is what the document holds: appending to a list read this way,
    or setting a key of a record read this way, changes the document.
    """

    def __init__(self, wrap: type[Record] | None = None, each: type[Record] | None = None):
        self.wrap, self.each, self.name = wrap, each, ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Record | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.get(self.name)
        if self.wrap is not None and isinstance(value, dict) and not isinstance(value, self.wrap):
            value = self.wrap.of(value)
            dict.__setitem__(obj, self.name, value)  # read once as a record, kept as one
        if self.each is not None and isinstance(value, list):
            for i, item in enumerate(value):  # in place: appending to the list is kept
                if isinstance(item, dict) and not isinstance(item, self.each):
                    value[i] = self.each.of(item)
        return value

    def __set__(self, obj: Record, value: Any) -> None:
        obj[self.name] = value


@functools.cache
def _declared(cls: type) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, key):
                names[name] = None
    return tuple(names)


class Record(dict):
    """A JSON object whose keys its class declares."""

    @classmethod
    def declared(cls) -> tuple[str, ...]:
        """Every key the class declares, base classes first."""
        return _declared(cls)

    @classmethod
    def of(cls: type[R], data: dict | None) -> R:
        """`data` as this record (itself if it already is one; {} for None)."""
        if isinstance(data, cls):
            return data
        record = cls()
        dict.update(record, data or {})
        return record

    @classmethod
    def make(cls: type[R], **fields: Any) -> R:
        """A new record; every field must be declared."""
        record = cls()
        record.update(fields)
        return record

    def __setitem__(self, name: str, value: Any) -> None:
        if name not in self.declared():
            raise KeyError(f"{type(self).__name__} declares no key {name!r}")
        super().__setitem__(name, value)

    def update(self, *args: Any, **fields: Any) -> None:  # type: ignore[override]
        for name, value in dict(*args, **fields).items():
            self[name] = value

    def setdefault(self, name: str, default: Any = None) -> Any:
        if name not in self:
            self[name] = default
        return self[name]

    def require(self, names: Iterable[str]) -> None:
        """Refuse a record that lacks one of `names` (a record made by hand, or truncated)."""
        missing = [n for n in names if n not in self]
        if missing:
            raise KeyError(f"{type(self).__name__} lacks {', '.join(missing)}")


class Document(Record):
    """A results document: the header keys every kind shares, then the kind's own."""

    KIND: ClassVar[str] = ""

    schema_version = key()
    schema_version_read = key()  # the version it was written at, where it was upgraded
    kind = key()
    probe_version = key()
    created_at = key()  # RFC 3339, UTC
    platform = key()  # store.platform_info(): what sizes objects, and the machine
    status = key()  # "running", "complete", "interrupted: ...", "failed: ..."
    elapsed_s = key()

    @classmethod
    def new(cls: type[R], **fields: Any) -> R:
        """A new document: the common header, then `fields` (each one declared)."""
        header = store.new_document(cls.KIND)  # type: ignore[attr-defined]
        return cls.make(**header, **fields)

    @classmethod
    def load(cls: type[R], path: str | os.PathLike) -> R:
        """The document at `path`, refusing another kind or version (store.ResultsError)."""
        return cls.of(store.load(path, kind=cls.KIND))  # type: ignore[attr-defined]
