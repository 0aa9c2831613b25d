"""The in-memory backend: LRU past max_entries, entries dropped after their ttl."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geobox_usage import CacheBackend, CacheEntry, InMemoryCacheBackend


def make(body: bytes = b"1") -> CacheEntry:
    return CacheEntry(200, (), body, stored_at=0.0, expires_at=1.0, stale_until=1.0)


class Now:
    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


def test_it_is_a_cache_backend() -> None:
    assert isinstance(InMemoryCacheBackend(), CacheBackend)
    with pytest.raises(ValueError, match="max_entries"):
        InMemoryCacheBackend(0)


async def test_least_recently_used_goes_first() -> None:
    store = InMemoryCacheBackend(2, now=Now())
    await store.set("a", make(b"a"), 10)
    await store.set("b", make(b"b"), 10)
    assert await store.get("a") is not None  # "a" is now the most recently used
    await store.set("c", make(b"c"), 10)
    assert await store.get("b") is None
    assert (await store.get("a")) == make(b"a")
    assert (await store.get("c")) == make(b"c")
    assert len(store) == 2


async def test_entries_go_after_their_ttl_and_can_be_deleted() -> None:
    now = Now()
    store = InMemoryCacheBackend(10, now=now)
    await store.set("a", make(), 5)
    await store.set("b", make(), 5)
    now.value += 4.999
    assert await store.get("a") is not None
    now.value += 0.001
    assert await store.get("a") is None
    assert "a" not in store
    await store.delete("b")
    await store.delete("never-there")
    assert await store.get("b") is None
    await store.set("z", make(), 0)
    assert "z" not in store


@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["set", "get", "delete"]), st.integers(0, 6)), max_size=60
    ),
    bound=st.integers(1, 4),
)
async def test_it_behaves_like_a_bounded_lru_model(ops: list[tuple[str, int]], bound: int) -> None:
    store = InMemoryCacheBackend(bound, now=Now())
    model: list[int] = []  # least recently used first
    for op, k in ops:
        key = str(k)
        if op == "set":
            await store.set(key, make(key.encode()), 10)
            if k in model:
                model.remove(k)
            model.append(k)
            del model[: max(0, len(model) - bound)]
        elif op == "get":
            got = await store.get(key)
            assert (got is not None) == (k in model)
            if got is not None:
                assert got.body == key.encode()
                model.remove(k)
                model.append(k)
        else:
            await store.delete(key)
            if k in model:
                model.remove(k)
        assert len(store) == len(model) <= bound


async def test_the_store_is_bounded_by_bytes_as_well_as_entries() -> None:
    store = InMemoryCacheBackend(1000, now=Now(), max_bytes=20_000)
    for index in range(40):
        await store.set(str(index), make(bytes(1000)), 10)
    assert store.bytes <= 20_000
    assert 10 <= len(store) < 20
    # the least recently used went first
    assert await store.get("39") is not None
    assert await store.get("0") is None


async def test_an_entry_larger_than_an_eighth_of_the_bytes_is_not_stored() -> None:
    store = InMemoryCacheBackend(10, now=Now(), max_bytes=8000)
    await store.set("small", make(b"x" * 100), 10)
    await store.set("big", make(bytes(1001)), 10)
    assert await store.get("big") is None
    assert await store.get("small") is not None
    # replacing an entry with one too big drops the old one and its bytes
    await store.set("small", make(bytes(5000)), 10)
    assert await store.get("small") is None
    assert store.bytes == 0


async def test_bytes_are_given_back_when_entries_leave() -> None:
    now = Now()
    store = InMemoryCacheBackend(10, now=now, max_bytes=100_000)
    await store.set("a", make(bytes(1000)), 10)
    await store.set("b", make(bytes(1000)), 10)
    await store.set("a", make(bytes(500)), 10)  # replaced
    await store.delete("b")
    held = store.bytes
    assert 500 <= held < 1000
    now.value += 11
    assert await store.get("a") is None  # expired
    assert store.bytes == 0


def test_max_bytes_must_be_a_positive_integer() -> None:
    with pytest.raises(ValueError, match="max_bytes must be an integer >= 1"):
        InMemoryCacheBackend(max_bytes=0)
