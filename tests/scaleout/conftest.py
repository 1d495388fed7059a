from __future__ import annotations

import pytest

from tests.support import PrivateRedis


@pytest.fixture
def cluster_env(postgres_url: str, private_redis: PrivateRedis) -> dict[str, str]:
    """Server processes sharing a fresh PostgreSQL database and a private Redis, with short leases."""
    return {
        "TANDEM_DATABASE_URL": postgres_url,
        "TANDEM_EVENTS_URL": private_redis.url,
        "TANDEM_RUN_LEASE_SECONDS": "2",
        "TANDEM_HEARTBEAT_SECONDS": "0.5",
        "TANDEM_MODEL": "scripted",
        "TANDEM_SCRIPTED_PACE": "0.03",
    }
