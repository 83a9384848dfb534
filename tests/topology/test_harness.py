"""The harness shares a Redis server with other runs: it claims an empty database and, when
done, deletes only what it made there."""

from __future__ import annotations

import redis

from tests.topology.harness import claim_redis_db, release_redis_db


def test_claimed_redis_database_is_emptied_only_by_its_claimer():
    url, token = claim_redis_db()
    client = redis.Redis.from_url(url)
    try:
        client.set("queue-of-this-run", "x")
        other_url, other_token = claim_redis_db()
        assert other_url != url  # claimed databases are not handed out twice
        release_redis_db(other_url, other_token)

        release_redis_db(url, "not-the-claim")  # a lost claim: someone else's keys stay
        assert client.get("queue-of-this-run") == b"x"
        release_redis_db(url, token)
        assert client.dbsize() == 0
    finally:
        client.delete("queue-of-this-run")
        client.close()
