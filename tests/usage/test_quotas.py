"""Plans set monthly quotas; over one, writes are refused before they begin."""

from datetime import UTC, datetime

import pytest
from django.test import Client

from apps.posts.models import Post
from apps.tenancy import metering
from apps.tenancy.metering import QuotaExceeded, check_quota, next_month_start
from apps.tenancy.models import UsageDay
from apps.tenancy.routing import work
from apps.tenancy.routing.context import tenant_context
from tests.conftest import PASSWORD, admin_email, host


@pytest.fixture
def limited(make_tenant):
    """acme on a plan allowing 30 rows written, 1,000 rows read and 3 API calls a month."""
    tenant = make_tenant("acme")
    metering.plan_define(name="tiny", rows_read=1000, rows_written=30, api_calls=3)
    metering.tenant_set_plan(tenant=tenant, plan_name="tiny")
    return tenant


def position(tenant):
    with tenant_context(tenant):
        return work.commit_position()


@pytest.mark.django_db
def test_check_quota_says_which_quota_its_limit_and_when_it_resets(limited):
    check_quota(limited, "api_calls")
    for _ in range(3):
        metering.count_api_call(limited)
    with pytest.raises(QuotaExceeded, match=r"used 3 of the 3 API calls its plan 'tiny'") as info:
        check_quota(limited, "api_calls")
    exc = info.value
    assert (exc.kind, exc.limit, exc.used, exc.plan) == ("api_calls", 3, 3, "tiny")
    assert exc.resets_at == next_month_start() and exc.resets_at.day == 1
    assert f"resets on {exc.resets_at:%Y-%m-%d} 00:00 UTC" in str(exc)
    assert 0 < exc.retry_after <= 31 * 86400
    check_quota(limited, "rows_written")  # the other quotas are not used up
    with pytest.raises(ValueError, match="Unknown quota 'rows'"):
        check_quota(limited, "rows")


@pytest.mark.django_db
def test_a_workspace_without_a_plan_is_never_refused(make_tenant):
    tenant = make_tenant("acme")
    metering.count_rows(tenant, read=10**9, written=10**9)
    for kind in metering.QUOTA_KINDS:
        check_quota(tenant, kind)


@pytest.mark.django_db
def test_counts_flushed_by_other_processes_reach_the_quota(limited):
    UsageDay.objects.create(tenant=limited, day=datetime.now(UTC).date(), rows_written=29)
    metering.forget_quotas(limited)  # what a process does every flush interval
    check_quota(limited, "rows_written")
    metering.count_rows(limited, written=1)
    with pytest.raises(QuotaExceeded, match="rows written"):
        check_quota(limited, "rows_written")


@pytest.mark.django_db
def test_this_process_counts_reach_the_quota_before_and_after_they_are_flushed(limited):
    check_quota(limited, "rows_written")  # the plan and the month's use are kept from here
    metering.count_rows(limited, written=29)
    metering.flush()
    check_quota(limited, "rows_written")  # 29 of 30
    metering.count_rows(limited, written=1)
    with pytest.raises(QuotaExceeded, match="used 30 of the 30 rows written"):
        check_quota(limited, "rows_written")
    metering.flush()
    with pytest.raises(QuotaExceeded, match="used 30 of the 30 rows written"):
        check_quota(limited, "rows_written")


@pytest.mark.django_db
def test_last_months_use_does_not_count(limited):
    UsageDay.objects.create(tenant=limited, day=datetime(2020, 1, 31).date(), rows_written=999)
    metering.forget_quotas(limited)
    check_quota(limited, "rows_written")


@pytest.mark.django_db
def test_over_the_write_quota_a_write_is_refused_whole_and_reading_goes_on(limited, sign_in):
    client = Client()
    sign_in(client, limited)
    response = client.post(
        "/posts/new/", {"title": "First", "body": "ok", "tags": ""}, HTTP_HOST=host("acme")
    )
    assert response.status_code == 302
    metering.count_rows(limited, written=30)  # the rest of the month's quota
    before = position(limited)

    response = client.post(
        "/posts/new/",
        {"title": "Second", "body": "refused", "tags": "a, b, c"},
        HTTP_HOST=host("acme"),
    )

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    page = response.content.decode()
    assert "has used up its monthly quota" in page and "rows written" in page
    assert "Nothing was saved" in page
    assert position(limited) == before  # no transaction committed at all
    with tenant_context(limited):
        assert list(Post.objects.values_list("title", flat=True)) == ["First"]
    listing = client.get("/", HTTP_HOST=host("acme"))
    assert listing.status_code == 200
    assert "rows written its plan &#x27;tiny&#x27; allows" in listing.content.decode()
    assert "Changes cannot be saved until then" in listing.content.decode()


@pytest.mark.django_db
def test_over_quota_members_can_still_sign_in_and_out(limited):
    metering.count_rows(limited, written=100)
    client = Client()
    response = client.post(
        "/login/",
        {"username": admin_email("acme"), "password": PASSWORD},
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 302
    assert client.post("/logout/", HTTP_HOST=host("acme")).status_code == 302


@pytest.mark.django_db
def test_one_workspace_over_quota_leaves_the_others_alone(limited, make_tenant, sign_in):
    other = make_tenant("globex")
    metering.tenant_set_plan(tenant=other, plan_name="tiny")
    metering.count_rows(limited, written=100)
    client = Client()
    sign_in(client, other)
    response = client.post(
        "/posts/new/", {"title": "Fine", "body": "ok", "tags": ""}, HTTP_HOST=host("globex")
    )
    assert response.status_code == 302
    check_quota(other, "rows_written")


@pytest.mark.django_db
def test_a_plan_taken_off_lifts_the_quota(limited):
    metering.count_rows(limited, written=100)
    with pytest.raises(QuotaExceeded):
        check_quota(limited, "rows_written")
    metering.tenant_set_plan(tenant=limited, plan_name=None)
    check_quota(limited, "rows_written")
    with pytest.raises(metering.PlanError, match="No plan named 'gold' \\(plans: tiny\\)"):
        metering.tenant_set_plan(tenant=limited, plan_name="gold")


@pytest.mark.django_db
def test_a_process_keeps_the_quotas_of_a_bounded_number_of_workspaces(
    limited, make_tenant, monkeypatch
):
    """A worker that served 10,000 workspaces keeps only the last ones; the rest read again."""
    monkeypatch.setattr(metering, "QUOTAS_KEPT", 2)
    others = [make_tenant(f"other-{n}") for n in range(2)]
    for _ in range(3):
        metering.count_api_call(limited)
    with pytest.raises(QuotaExceeded):
        check_quota(limited, "api_calls")
    for other in others:
        check_quota(other, "api_calls")
    assert limited.pk not in metering._quotas and len(metering._quotas) == 2
    with pytest.raises(QuotaExceeded):  # read again, its unflushed calls still counted
        check_quota(limited, "api_calls")
