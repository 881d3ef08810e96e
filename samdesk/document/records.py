"""Lists of records (categories, media, objects) that find a record by id without a scan.

A project's records keep the order the user sees (list order, drawing order), and every view and
command looks them up by id, many times per change: with a plain list, adding N objects in one
command costs O(N²) lookups (segment everything adds ~1,000 at once). :class:`Records` is a list
that keeps an id -> record index in step with every insertion and removal; :class:`ObjectRecords`
also groups objects by media. Both behave as ordinary mutable sequences (iterate, index, slice,
append, insert, delete, compare with lists), so code that builds a project by appending to its
lists keeps working.

A record's ``id`` (and an object's ``media_id``) must not change while it is in the list: ids are
allocated once and never reused (ADR 0001), and commands never move an object to another media.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSequence
from typing import Any, Protocol, TypeVar, overload


class _Record(Protocol):
    id: int


R = TypeVar("R", bound=_Record)


class Records(MutableSequence[R]):
    """Records in order, each ``id`` at most once, found by id in O(1)."""

    def __init__(self, items: Iterable[R] = ()) -> None:
        self._items: list[R] = []
        self._by_id: dict[int, R] = {}
        self._reset(list(items))

    # --- lookups -----------------------------------------------------------------------------
    def get(self, record_id: int) -> R | None:
        """The record with ``record_id``, or None."""
        record = self._by_id.get(record_id)
        return record if record is not None and record.id == record_id else None

    def position(self, record_id: int) -> int:
        """Index of the record with ``record_id`` (ValueError if absent). O(1) for the last one
        (undoing an addition), else a scan."""
        record = self._by_id.get(record_id)
        if record is not None:
            if self._items and self._items[-1] is record:
                return len(self._items) - 1
            for index, item in enumerate(self._items):
                if item is record:
                    return index
        raise ValueError(f"no record with id {record_id}")

    def remove_ids(self, record_ids: Iterable[int]) -> None:
        """Remove the records with these ids in one pass (absent ids are ignored)."""
        doomed = {i for i in record_ids if i in self._by_id}
        if doomed:
            self._reset([r for r in self._items if r.id not in doomed])

    # --- the sequence protocol ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[R]:
        return iter(self._items)

    def __reversed__(self) -> Iterator[R]:
        return reversed(self._items)

    def __contains__(self, value: object) -> bool:
        return value in self._items

    @overload
    def __getitem__(self, index: int) -> R: ...

    @overload
    def __getitem__(self, index: slice) -> list[R]: ...

    def __getitem__(self, index: int | slice) -> R | list[R]:
        return self._items[index]

    def __setitem__(self, index: Any, value: Any) -> None:
        items = list(self._items)
        items[index] = value
        self._reset(items)

    def __delitem__(self, index: int | slice) -> None:
        if isinstance(index, slice):
            doomed = self._items[index]
            # A run at the end (undoing an addition of many): no rebuild needed.
            in_place = index.step in (None, 1) and bool(doomed) and doomed[-1] is self._items[-1]
        else:
            doomed, in_place = [self._items[index]], True
        if in_place:
            del self._items[index]
            for record in doomed:
                self._forget(record)
        else:
            gone = {id(d) for d in doomed}
            self._reset([r for r in self._items if id(r) not in gone])

    def insert(self, index: int, value: R) -> None:
        if value.id in self._by_id:
            raise ValueError(f"id {value.id} is already in use")
        at_end = index >= len(self._items)
        self._items.insert(index, value)
        self._by_id[value.id] = value
        self._added(value, at_end)

    def append(self, value: R) -> None:
        self.insert(len(self._items), value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Records):
            return self._items == other._items
        if isinstance(other, list):
            return self._items == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like list

    def __repr__(self) -> str:
        return repr(self._items)

    # --- index upkeep (subclasses extend) ----------------------------------------------------
    def _reset(self, items: list[R]) -> None:
        by_id: dict[int, R] = {}
        for record in items:
            if record.id in by_id:
                raise ValueError(f"id {record.id} is used twice")
            by_id[record.id] = record
        self._items, self._by_id = items, by_id

    def _added(self, record: R, at_end: bool) -> None:
        pass

    def _forget(self, record: R) -> None:
        if self._by_id.get(record.id) is record:
            del self._by_id[record.id]


class _MediaRecord(Protocol):
    id: int
    media_id: int


O = TypeVar("O", bound=_MediaRecord)


class ObjectRecords(Records[O]):
    """Objects in drawing order, also grouped by ``media_id`` (each group in drawing order)."""

    def _reset(self, items: list[O]) -> None:
        super()._reset(items)
        self._by_media: dict[int, dict[int, O]] = {}
        self._unordered: set[int] = set()  # groups whose order may differ from the list's
        for record in items:
            self._by_media.setdefault(record.media_id, {})[record.id] = record

    def of_media(self, media_id: int) -> list[O]:
        """The objects of one media, in drawing order; O(their count)."""
        if media_id in self._unordered:
            self._unordered.discard(media_id)
            group = {r.id: r for r in self._items if r.media_id == media_id}
            self._by_media[media_id] = group
        return list(self._by_media.get(media_id, {}).values())

    def _added(self, record: O, at_end: bool) -> None:
        group = self._by_media.setdefault(record.media_id, {})
        group[record.id] = record
        if not at_end and len(group) > 1:
            self._unordered.add(record.media_id)

    def _forget(self, record: O) -> None:
        super()._forget(record)
        group = self._by_media.get(record.media_id)
        if group is not None and group.get(record.id) is record:
            del group[record.id]
            if not group:
                del self._by_media[record.media_id]
                self._unordered.discard(record.media_id)
