from collections.abc import Iterator

import pytest

from apps.tenancy import metering


@pytest.fixture(autouse=True)
def fresh_meter() -> Iterator[None]:
    """Start each test with no unflushed counts and no cached quotas (ids repeat across tests)."""
    metering.discard_pending()
    metering.forget_quotas()
    yield
    metering.discard_pending()
    metering.forget_quotas()
