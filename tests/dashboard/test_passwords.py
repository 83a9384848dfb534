from __future__ import annotations

from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY

from app.operators import passwords


def test_production_hashing_is_argon2id_at_the_rfc_9106_low_memory_profile(monkeypatch):
    monkeypatch.undo()  # the dashboard tests cheapen hashing; here we check the real one
    passwords._hasher.cache_clear()
    hasher: PasswordHasher = passwords._hasher()
    assert hasher.type.name == "ID"
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) >= (
        RFC_9106_LOW_MEMORY.time_cost,
        RFC_9106_LOW_MEMORY.memory_cost,
        RFC_9106_LOW_MEMORY.parallelism,
    )
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, "correct horse battery")
    assert not passwords.verify(stored, "correct horse batterY")
    assert not passwords.verify(None, "correct horse battery")  # unknown email: decoy, still False
    assert not passwords.verify("not a hash", "x")
