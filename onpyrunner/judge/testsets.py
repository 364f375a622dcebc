"""Test sets: a list of test cases stored once, by its content's hash, shared by every job
(and every worker) that names it.

The id is "sha256:" and the SHA-256 of the cases' canonical JSON (every field, defaults
filled in, keys sorted), so the same cases always get the same id, however they were
written. The job store keeps the JSON with a TTL (setting test_set_ttl_s), renewed by each
upload and each job that uses it. A worker reads a set once and keeps it parsed (`Cache`):
an id names one content forever, so a cached set is never stale.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict

from pydantic import TypeAdapter

from onpyrunner.models import TestCase
from onpyrunner.queue.store import JobStore

#: A test set's id: "sha256:" and 64 lowercase hex digits.
ID_PATTERN = r"^sha256:[0-9a-f]{64}$"
#: Parsed test sets a worker keeps (the most recently used).
CACHED_SETS = 16

_CASES = TypeAdapter(list[TestCase])


def encode(cases: list[TestCase]) -> tuple[str, str]:
    """(id, canonical JSON) of a list of cases."""
    data = json.dumps(
        [case.model_dump(mode="json") for case in cases],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest(), data


def decode(data: str) -> list[TestCase]:
    """The cases of a stored test set (validated again: the store is not trusted more than
    a request)."""
    return _CASES.validate_json(data)


class Cache:
    """Test sets read from the store, parsed, the most recently used kept."""

    def __init__(self, size: int = CACHED_SETS) -> None:
        self._size = size
        self._sets: OrderedDict[str, list[TestCase]] = OrderedDict()

    async def cases(self, store: JobStore, set_id: str, ttl_s: float) -> list[TestCase] | None:
        """The set's cases, or None when it is unknown or expired; reading it from the
        store renews its TTL (at most once per cache miss).

        Raises:
            BackendUnavailableError: the store is down.
        """
        found = self._sets.get(set_id)
        if found is not None:
            self._sets.move_to_end(set_id)
            return found
        data = await store.get_test_set(set_id, ttl_s)
        if data is None:
            return None
        cases = decode(data)
        self._sets[set_id] = cases
        while len(self._sets) > self._size:
            self._sets.popitem(last=False)
        return cases
