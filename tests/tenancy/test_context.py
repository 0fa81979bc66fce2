import asyncio
import threading

import pytest

from apps.tenancy.exceptions import NoActiveTenant
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import (
    activate,
    deactivate,
    get_current_tenant,
    require_current_tenant,
    tenant_context,
)

ACME = Tenant(slug="acme", name="Acme")
BETA = Tenant(slug="beta", name="Beta")


@pytest.fixture(autouse=True)
def _no_tenant():
    deactivate()
    yield
    deactivate()


def test_activate_and_deactivate():
    activate(ACME)
    assert get_current_tenant() is ACME
    deactivate()
    assert get_current_tenant() is None


def test_require_current_tenant_raises_without_one():
    with pytest.raises(NoActiveTenant, match="No tenant is active"):
        require_current_tenant()


def test_context_manager_restores_previous_tenant_even_on_error():
    activate(ACME)
    with pytest.raises(RuntimeError), tenant_context(BETA):
        assert get_current_tenant() is BETA
        raise RuntimeError
    assert get_current_tenant() is ACME


def test_nested_contexts_unwind_in_order():
    with tenant_context(ACME):
        with tenant_context(BETA):
            with tenant_context(None):
                assert get_current_tenant() is None
            assert get_current_tenant() is BETA
        assert get_current_tenant() is ACME
    assert get_current_tenant() is None


def test_decorator_activates_for_each_call_and_is_reentrant():
    @tenant_context(ACME)
    def inner():
        return get_current_tenant()

    @tenant_context(ACME)
    def outer():
        first = get_current_tenant()
        assert inner() is ACME
        return first

    assert outer() is ACME
    assert get_current_tenant() is None


def test_threads_each_see_their_own_tenant():
    barrier = threading.Barrier(2)
    seen = {}

    def work(tenant):
        with tenant_context(tenant):
            barrier.wait()
            seen[tenant.slug] = get_current_tenant()

    threads = [threading.Thread(target=work, args=(t,)) for t in (ACME, BETA)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"acme": ACME, "beta": BETA}
    assert get_current_tenant() is None


def test_asyncio_tasks_each_see_their_own_tenant():
    async def work(tenant):
        with tenant_context(tenant):
            await asyncio.sleep(0.01)
            return get_current_tenant()

    async def main():
        return await asyncio.gather(work(ACME), work(BETA), work(ACME))

    assert asyncio.run(main()) == [ACME, BETA, ACME]
