"""The usage page: admins only, this month against the plan, 30 days drawn without script."""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.tenancy import metering
from apps.tenancy.models import UsageDay
from tests.conftest import host


@pytest.fixture
def acme(make_tenant):
    tenant = make_tenant("acme")
    today = datetime.now(UTC).date()
    UsageDay.objects.create(
        tenant=tenant, day=today - timedelta(days=3), requests=12, rows_read=3400
    )
    UsageDay.objects.create(
        tenant=tenant,
        day=today,
        requests=5,
        rows_read=100,
        rows_written=56,
        api_calls=9,
        storage_bytes=2 << 20,
    )
    return tenant


@pytest.mark.django_db
def test_admins_see_the_last_30_days_and_this_months_quotas(acme, sign_in):
    metering.plan_define(name="team", rows_written=1000)
    metering.tenant_set_plan(tenant=acme, plan_name="team")
    client = Client()
    sign_in(client, acme)
    response = client.get("/settings/usage/", HTTP_HOST=host("acme"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<strong>team</strong>" in page
    assert "3,400" in page and "2.0\xa0MB" in page
    assert page.count("<svg") == 4 and page.count("<rect") == 4 * 30
    assert "<script" not in page and "style=" not in page  # the CSP allows neither
    assert "Rows read: 3,500 in 30 days, at most 3,400 a day" in page
    assert '56 <span class="muted">(6%)</span>' in page  # of the plan's 1,000


@pytest.mark.django_db
def test_the_settings_page_links_to_usage(acme, sign_in):
    client = Client()
    sign_in(client, acme)
    page = client.get("/settings/", HTTP_HOST=host("acme")).content.decode()
    assert 'href="/settings/usage/"' in page


@pytest.mark.django_db
def test_the_usage_page_is_for_admins_only(acme, make_member, sign_in):
    make_member(acme, "member@acme.example")
    member = Client()
    sign_in(member, acme, "member@acme.example")
    assert member.get("/settings/usage/", HTTP_HOST=host("acme")).status_code == 403
    anonymous = Client().get("/settings/usage/", HTTP_HOST=host("acme"))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


@pytest.mark.django_db
def test_list_tenants_usage(acme, make_tenant):
    make_tenant("globex")
    metering.plan_define(name="team", rows_read=10_000, rows_written=None, api_calls=100)
    metering.tenant_set_plan(tenant=acme, plan_name="team")
    out = StringIO()
    call_command("list_tenants", "--usage", stdout=out)
    text = out.getvalue()
    assert (
        "usage today: 5 requests, 100 rows read, 56 rows written, 9 API calls; this month: " in text
    )
    assert "plan team: rows read " in text and "API calls 9/100" in text
    assert "usage today: 0 requests, 0 rows read, 0 rows written, 0 API calls; " in text
    assert "no plan" in text

    out = StringIO()
    call_command("list_tenants", "--usage", "--json", stdout=out)
    rows = {row["slug"]: row for row in json.loads(out.getvalue())}
    usage = rows["acme"]["usage"]
    assert usage["today"] == {"requests": 5, "rows_read": 100, "rows_written": 56, "api_calls": 9}
    assert usage["plan"] == "team"
    assert usage["quotas"] == {"rows_read": 10_000, "rows_written": None, "api_calls": 100}
    assert rows["globex"]["usage"]["plan"] is None

    out = StringIO()
    call_command("list_tenants", "--json", stdout=out)
    assert "usage" not in json.loads(out.getvalue())[0]


@pytest.mark.django_db
def test_plans_command(acme):
    out = StringIO()
    call_command("plans", "define", "team", "--rows-written", "5000", stdout=out)
    assert "team: rows read unlimited, rows written 5,000, API calls unlimited a month" in (
        out.getvalue()
    )
    call_command("plans", "assign", "acme", "team", stdout=out)
    assert "'acme' is on plan 'team'." in out.getvalue()
    out = StringIO()
    call_command("plans", "--json", stdout=out)
    assert json.loads(out.getvalue()) == [
        {
            "name": "team",
            "rows_read": None,
            "rows_written": 5000,
            "api_calls": None,
            "workspaces": ["acme"],
        }
    ]
    with pytest.raises(CommandError, match="No plan named 'gold'"):
        call_command("plans", "assign", "acme", "gold")
    with pytest.raises(CommandError, match="Name a plan, or say --none"):
        call_command("plans", "assign", "acme")
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        call_command("plans", "assign", "nope", "team")
    with pytest.raises(CommandError, match="A quota is a number of 0 or more, not -1"):
        call_command("plans", "define", "bad", "--api-calls", "-1")
    call_command("plans", "assign", "acme", "--none", stdout=out)
    assert "'acme' is on no plan (no quotas)." in out.getvalue()
