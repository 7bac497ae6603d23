"""The resource store contract and the in-memory store."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, runtime_checkable

import attrs

from .errors import IdempotencyConflict, ResourceNotFound

__all__ = [
    "CreateResult",
    "InMemoryResourceStore",
    "Resource",
    "ResourceStore",
    "new_resource_id",
    "same_data",
]


def new_resource_id() -> str:
    """Return a new, globally unique resource id such as ``res_1f0c...``."""
    return f"res_{uuid.uuid4().hex}"


@attrs.frozen
class Resource:
    """One stored resource. ``data`` is a read-only copy: changing it needs a command."""

    resource_id: str
    resource_type: str
    data: Mapping[str, Any]


class CreateResult(NamedTuple):
    """What :meth:`ResourceStore.create` did: the id, and whether it created anything."""

    resource_id: str
    #: False when an idempotency key was seen before and the first id is returned
    created: bool


@runtime_checkable
class ResourceStore(Protocol):
    """Where the plugin keeps resources. Implementations must be thread-safe.

    ``update``/``delete`` raise :class:`ResourceNotFound` when ``resource_id`` does not
    exist or has another type. ``create`` with an ``idempotency_key`` seen before
    returns the first id with ``created=False`` (and raises :class:`IdempotencyConflict`
    if the type or data differ; data is compared as JSON, see :func:`same_data`).

    A store may also define ``as_stored(resource_type, data) -> dict``, not part of
    the protocol so that stores without it still are stores: ``data`` as :meth:`get`
    would return it once stored, in a new dict. The handlers put it in the events;
    for a store without it, they put a deep copy of the command's data.
    """

    def create(
        self, resource_type: str, data: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> CreateResult:
        """Store a new resource and return its id."""
        ...

    def update(self, resource_id: str, resource_type: str, data: Mapping[str, Any]) -> None:
        """Replace the data of an existing resource."""
        ...

    def delete(self, resource_id: str, resource_type: str) -> None:
        """Remove an existing resource."""
        ...

    def get(self, resource_id: str) -> Resource | None:
        """Return the resource, or ``None`` if there is none with that id."""
        ...

    def list(self, resource_type: str | None = None) -> list[Resource]:
        """Return every resource (of ``resource_type``, if given), oldest first."""
        ...

    def close(self) -> None:
        """Release what the store holds (files, connections)."""
        ...


def check_type(found: str, resource_id: str, resource_type: str) -> None:
    """Raise :class:`ResourceNotFound` when a command names the wrong type for an id."""
    if found != resource_type:
        raise ResourceNotFound(resource_id, resource_type, actual_type=found)


def same_data(first: object, second: object) -> bool:
    """Whether two ``resource_data`` values make the same request for an idempotency key.

    Not ``==``, which says ``True == 1 == 1.0`` and ``0.0 == -0.0`` while a later read
    tells them apart. The rules are those of comparing the two as JSON, so that both
    stores agree on JSON data: lists and tuples with the same items are the same (JSON,
    hence :class:`SqliteResourceStore`, has one array type); mappings are the same when
    their keys (type and value) and values are, in any order; floats compare by
    ``repr``, as JSON writes them (``-0.0`` is not ``0.0``, a NaN is a NaN); anything
    else by exact type and ``==``.
    """
    if isinstance(first, list | tuple):
        return (
            isinstance(second, list | tuple)
            and len(first) == len(second)
            and all(map(same_data, first, second))
        )
    if isinstance(first, Mapping):
        if not isinstance(second, Mapping) or len(first) != len(second):
            return False
        by_key = {_exact(key): value for key, value in second.items()}
        missing = object()
        return all(
            same_data(value, by_key.get(_exact(key), missing)) for key, value in first.items()
        )
    return _exact(first) == _exact(second)


def _exact(value: object) -> tuple[type, object]:
    """A stand-in for ``value``, equal only for the same type and value (hashable if it is)."""
    return (float, repr(value)) if type(value) is float else (type(value), value)


class InMemoryResourceStore:
    """The default store: a dict guarded by a lock. Its data is lost when the process exits.

    Data is deep-copied on the way in and out, so neither the command's dict nor a
    returned resource can change what is stored behind the store's back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resources: dict[str, tuple[str, dict[str, Any]]] = {}
        #: idempotency key -> (resource id, type, data as first created)
        self._keys: dict[str, tuple[str, str, dict[str, Any]]] = {}

    def __repr__(self) -> str:
        return f"<InMemoryResourceStore: {len(self._resources)} resources>"

    def create(
        self, resource_type: str, data: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> CreateResult:
        """Store a new resource and return its id (see :class:`ResourceStore`)."""
        stored = copy.deepcopy(dict(data))
        with self._lock:
            if idempotency_key is not None:
                first = self._keys.get(idempotency_key)
                if first is not None:
                    first_id, first_type, first_data = first
                    if first_type != resource_type or not same_data(first_data, stored):
                        raise IdempotencyConflict(idempotency_key, first_id, first_type)
                    return CreateResult(first_id, False)
            resource_id = new_resource_id()
            self._resources[resource_id] = (resource_type, stored)
            if idempotency_key is not None:
                self._keys[idempotency_key] = (resource_id, resource_type, stored)
        return CreateResult(resource_id, True)

    def as_stored(self, resource_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """A deep copy of ``data``: equal to what :meth:`get` returns once it is stored."""
        return copy.deepcopy(dict(data))

    def update(self, resource_id: str, resource_type: str, data: Mapping[str, Any]) -> None:
        """Replace the data of an existing resource (see :class:`ResourceStore`)."""
        stored = copy.deepcopy(dict(data))
        with self._lock:
            found = self._resources.get(resource_id)
            if found is None:
                raise ResourceNotFound(resource_id, resource_type)
            check_type(found[0], resource_id, resource_type)
            self._resources[resource_id] = (resource_type, stored)

    def delete(self, resource_id: str, resource_type: str) -> None:
        """Remove an existing resource (see :class:`ResourceStore`)."""
        with self._lock:
            found = self._resources.get(resource_id)
            if found is None:
                raise ResourceNotFound(resource_id, resource_type)
            check_type(found[0], resource_id, resource_type)
            del self._resources[resource_id]

    def get(self, resource_id: str) -> Resource | None:
        """Return the resource, or ``None`` (see :class:`ResourceStore`)."""
        with self._lock:
            found = self._resources.get(resource_id)
        if found is None:
            return None
        return _resource(resource_id, found[0], found[1])

    def list(self, resource_type: str | None = None) -> list[Resource]:
        """Return the resources in creation order (see :class:`ResourceStore`)."""
        with self._lock:
            items = list(self._resources.items())
        return [
            _resource(rid, rtype, data)
            for rid, (rtype, data) in items
            if resource_type is None or rtype == resource_type
        ]

    def close(self) -> None:
        """Nothing to release; the data stays until the store is garbage-collected."""


def _resource(resource_id: str, resource_type: str, data: dict[str, Any]) -> Resource:
    return Resource(resource_id, resource_type, MappingProxyType(copy.deepcopy(data)))
