"""Notifications: mentions, who gets which e-mail, one-click unsubscribe, the daily digest."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from apps.accounts.models import User
from apps.notifications import services
from apps.notifications.mentions import handles, link_mentions
from apps.notifications.models import DigestSchedule
from apps.notifications.tasks import notices_queue
from apps.notifications.tokens import unsubscribe_token
from apps.posts.models import Post
from apps.posts.services import comment_create, post_create, post_delete, post_update
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.work import atomic
from tests.conftest import admin_email, host


@pytest.fixture
def acme(make_tenant):
    return make_tenant("acme", name="Acme Inc")


def person(acme, email: str, first: str = "", last: str = "", **prefs: object) -> User:
    with tenant_context(acme):
        return User.objects.create_user(
            email=email, password="x", first_name=first, last_name=last, **prefs
        )


def boss(acme) -> User:
    with tenant_context(acme):
        user = User.objects.get(email=admin_email("acme"))
        User.objects.filter(pk=user.pk).update(first_name="Bo", last_name="Boss")
        user.refresh_from_db()
        return user


def sent_to(email: str) -> list:
    return [message for message in mail.outbox if message.to == [email]]


# Mentions -----------------------------------------------------------------------------


def test_mentions_link_members_by_email_name_full_name_or_unique_first_name():
    members = [
        User(pk=1, email="nora@acme.example", first_name="Nora", last_name="Jones"),
        User(pk=2, email="sam.r@acme.example", first_name="Sam", last_name="Rivera"),
        User(pk=3, email="sam@beta.example", first_name="Sam", last_name="Other"),
    ]
    names = handles(members)
    assert names["nora"] == 1 and names["norajones"] == 1 and names["sam.r"] == 2
    assert "sam" not in names  # two members answer to it: nobody is mentioned
    html, ids = link_mentions(
        "<p>Thanks @Nora, @SamRivera and @sam.r. Ask @sam or @nobody; "
        "mail nora@acme.example</p><pre><code>@nora in code</code></pre>"
        '<p><a href="/x">@nora in a link</a> and @NoraJones.</p>',
        names,
    )
    assert ids == [1, 2]
    assert html.count('class="mention"') == 4
    assert '<a class="mention" href="/people/1/">@Nora</a>,' in html
    assert '<a class="mention" href="/people/2/">@sam.r</a>.' in html  # the full stop stays out
    assert '<a class="mention" href="/people/1/">@NoraJones</a>.' in html
    assert "@sam or @nobody" in html
    assert "mail nora@acme.example" in html
    assert "<code>@nora in code</code>" in html
    assert '<a href="/x">@nora in a link</a>' in html


def test_a_mention_in_a_post_links_to_the_person_and_emails_them(acme, client, sign_in):
    nora = person(acme, "nora@acme.example", "Nora", "Jones")
    author = boss(acme)
    with tenant_context(acme):
        post = post_create(author=author, title="Launch", body="Over to you, @nora!")
    assert f'<a class="mention" href="/people/{nora.pk}/">@nora</a>!' in post.body_html
    sign_in(client, acme)
    page = client.get(f"/posts/{post.pk}/", HTTP_HOST=host("acme")).content.decode()
    assert f'href="/people/{nora.pk}/">@nora</a>' in page
    (message,) = sent_to("nora@acme.example")
    assert message.subject == "Bo Boss mentioned you in “Launch”"
    assert "Over to you, @nora!" in message.body
    assert f"http://acme.quire.test/posts/{post.pk}/" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert f'href="http://acme.quire.test/people/{nora.pk}/"' in html  # absolute in e-mails
    unsubscribe = re.search(
        r"<(http://acme\.quire\.test/unsubscribe/\S+/)>", message.extra_headers["List-Unsubscribe"]
    ).group(1)
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in message.body and unsubscribe in html
    assert not sent_to(admin_email("acme")), "the author is not told about their own post"


def test_new_post_emails_go_only_to_members_who_opted_in(acme):
    person(acme, "each@acme.example", notify_posts="each")
    person(acme, "daily@acme.example", notify_posts="daily")
    person(acme, "off@acme.example")
    person(acme, "left@acme.example", notify_posts="each", is_active=False)
    with tenant_context(acme):
        post_create(author=boss(acme), title="Q3 <plan>", body="**Bold** goals.")
    assert [m.to for m in mail.outbox] == [["each@acme.example"]]
    message = mail.outbox[0]
    assert message.subject == "New post in Acme Inc: Q3 <plan>"
    assert "Bo Boss posted “Q3 <plan>” in Acme Inc." in message.body
    html = message.alternatives[0][0]
    assert "Q3 &lt;plan&gt;" in html and "<strong>Bold</strong>" in html


def test_a_mention_is_one_email_even_for_a_member_who_wants_every_post(acme):
    person(acme, "nora@acme.example", "Nora", notify_posts="each")
    with tenant_context(acme):
        post_create(author=boss(acme), title="Hi", body="@nora look")
    (message,) = sent_to("nora@acme.example")
    assert "mentioned you" in message.subject


def test_comments_notify_the_author_and_earlier_commenters_but_not_the_commenter(acme):
    author = boss(acme)
    ann = person(acme, "ann@acme.example", "Ann")
    ben = person(acme, "ben@acme.example", "Ben")
    quiet = person(acme, "quiet@acme.example", "Quiet", notify_comments=False)
    person(acme, "outsider@acme.example", "Out")
    with tenant_context(acme):
        post = post_create(author=author, title="Plan", body="x")
        comment_create(post=post, author=ann, body="first")
        comment_create(post=post, author=quiet, body="me too")
        mail.outbox.clear()
        comment_create(post=post, author=ben, body="I agree with @ann")
    assert {m.to[0] for m in mail.outbox} == {admin_email("acme"), "ann@acme.example"}
    (to_ann,) = sent_to("ann@acme.example")
    assert to_ann.subject == "Ben mentioned you in “Plan”"
    (to_author,) = sent_to(admin_email("acme"))
    assert to_author.subject == "Ben commented on “Plan”"
    assert "I agree with @ann" in to_author.body
    assert "#comment-" in to_author.body


def test_an_edit_emails_only_members_it_mentions_for_the_first_time(acme):
    person(acme, "ann@acme.example", "Ann")
    person(acme, "ben@acme.example", "Ben")
    author = boss(acme)
    with tenant_context(acme):
        post = post_create(author=author, title="Plan", body="cc @ann")
        mail.outbox.clear()
        post_update(post=post, user=author, title="Plan", body="cc @ann @ben", tags=[])
    assert [m.to for m in mail.outbox] == [["ben@acme.example"]]


def test_members_who_turned_mentions_off_get_nothing(acme):
    person(acme, "ann@acme.example", "Ann", notify_mentions=False)
    with tenant_context(acme):
        post_create(author=boss(acme), title="Plan", body="@ann")
    assert not mail.outbox


# Unsubscribing ------------------------------------------------------------------------


def unsubscribe_path(acme, member: User, kind: str) -> str:
    with tenant_context(acme):
        return f"/unsubscribe/{unsubscribe_token(member=member, kind=kind)}/"


def prefs(acme, member: User) -> tuple[str, bool, bool]:
    with tenant_context(acme):
        member.refresh_from_db()
    return member.notify_posts, member.notify_comments, member.notify_mentions


def test_the_link_asks_with_one_button_and_the_button_unsubscribes_without_signing_in(acme):
    ann = person(acme, "ann@acme.example", notify_posts="each")
    path = unsubscribe_path(acme, ann, "posts")
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(path, HTTP_HOST=host("acme"))
    assert page.status_code == 200
    assert "Stop these e-mails?" in page.content.decode()
    assert prefs(acme, ann) == ("each", True, True), "opening the link changed nothing yet"
    token = page.cookies["csrftoken"].value
    done = browser.post(path, {"csrfmiddlewaretoken": token}, HTTP_HOST=host("acme"))
    assert done.status_code == 200
    assert "You are unsubscribed" in done.content.decode()
    assert prefs(acme, ann) == ("off", True, True)
    undo = browser.post(
        path, {"csrfmiddlewaretoken": token, "action": "resubscribe"}, HTTP_HOST=host("acme")
    )
    assert "You are subscribed again" in undo.content.decode()
    assert prefs(acme, ann) == ("daily", True, True)


def test_mail_clients_one_click_post_needs_no_cookie_or_token(acme):
    ann = person(acme, "ann@acme.example", "Ann")
    with tenant_context(acme):
        post_create(author=boss(acme), title="Hi", body="@ann")
    header = sent_to("ann@acme.example")[0].extra_headers["List-Unsubscribe"]
    path = re.search(r"http://acme\.quire\.test(/\S+/)>", header).group(1)
    response = Client(enforce_csrf_checks=True).post(
        path, {"List-Unsubscribe": "One-Click"}, HTTP_HOST=host("acme")
    )
    assert response.status_code == 200
    assert prefs(acme, ann) == ("off", True, False)


def test_a_link_from_another_workspace_or_tampered_with_does_nothing(acme, make_tenant):
    beta = make_tenant("beta")
    ann = person(acme, "ann@acme.example")
    with tenant_context(beta):
        twin = User.objects.create_user(email="twin@beta.example", password="x")
    assert twin.pk == ann.pk  # same id in both files: only the workspace tells them apart
    path = unsubscribe_path(acme, ann, "comments")
    for host_name, bad_path in ((host("beta"), path), (host("acme"), path[:-4] + "xyz/")):
        response = Client().post(bad_path, HTTP_HOST=host_name)
        assert response.status_code == 400
        assert "This unsubscribe link is not valid." in response.content.decode()
    assert prefs(acme, ann)[1] is True
    with tenant_context(beta):
        assert User.objects.get(pk=twin.pk).notify_comments is True


# The daily digest ---------------------------------------------------------------------


def test_the_digest_gathers_the_days_posts_and_comments_and_runs_once(acme):
    reader = person(acme, "reader@acme.example", "Rea", notify_posts="daily")
    author = boss(acme)
    due = timezone.now() + timedelta(minutes=1)
    with tenant_context(acme):
        post = post_create(author=author, title="Roadmap", body="The plan.")
        comment_create(post=post, author=author, body="Also this.")
        old = post_create(author=author, title="Ancient", body="old")
        Post.objects.filter(pk=old.pk).update(created_at=due - timedelta(days=3))
        DigestSchedule.objects.update_or_create(pk=1, defaults={"next_due": due})
        mail.outbox.clear()
        services_digest(due)
        assert DigestSchedule.objects.get().next_due > due
        reader.refresh_from_db()
        assert reader.digest_sent_at == due
    (message,) = sent_to("reader@acme.example")
    assert message.subject == "Acme Inc today: 1 new post, 1 comment"
    assert "Roadmap, by Bo Boss" in message.body and "Also this." in message.body
    assert "Ancient" not in message.body
    assert "unsubscribe" in message.extra_headers["List-Unsubscribe"]
    with tenant_context(acme):
        mail.outbox.clear()
        services_digest(due)  # the same job again (a retry, a duplicate): nothing
    assert not mail.outbox


def services_digest(due: datetime) -> None:
    """Run what the digest job runs, in the current workspace."""
    with atomic():
        notices_queue(services.digest_run(due=due))


def test_choosing_the_digest_queues_it_for_the_digest_hour(
    acme, client, sign_in, settings, transactional_db
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    settings.QUIRE_DIGEST_HOUR = 7
    sign_in(client, acme)
    form = {
        "form": "profile",
        "first_name": "Bo",
        "notify_posts": "daily",
        "notify_comments": "on",
        "notify_mentions": "on",
    }
    assert client.post("/account/", form, HTTP_HOST=host("acme")).status_code == 302
    (job,) = DBTaskResult.objects.filter(task_path="apps.notifications.tasks.digest_run")
    due = job.run_after
    assert (due.hour, due.minute) == (7, 0) and timezone.now() < due <= timezone.now() + timedelta(
        days=1
    )
    assert job.args_kwargs["args"] == [{"id": acme.pk, "slug": "acme"}]
    # Saving again does not queue a second chain.
    assert client.post("/account/", form, HTTP_HOST=host("acme")).status_code == 302
    assert DBTaskResult.objects.filter(task_path=job.task_path).count() == 1
    with tenant_context(acme):
        assert DigestSchedule.objects.get().next_due == due


def test_the_digest_hour_is_the_next_one_to_come():
    at = datetime(2026, 11, 30, 6, 59, tzinfo=UTC)
    assert services.digest_due_after(at) == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    assert services.digest_due_after(at.replace(hour=7, minute=0)) == datetime(
        2026, 12, 1, 7, 0, tzinfo=UTC
    )


def test_nothing_new_means_no_digest(acme):
    person(acme, "reader@acme.example", notify_posts="daily")
    due = timezone.now()
    with tenant_context(acme):
        DigestSchedule.objects.update_or_create(pk=1, defaults={"next_due": due})
        services_digest(due)
    assert not mail.outbox


def test_a_post_deleted_before_its_job_runs_emails_nobody(acme):
    person(acme, "ann@acme.example", "Ann", notify_posts="each")
    author = boss(acme)
    with tenant_context(acme), atomic():  # the job runs after this commit
        post = post_create(author=author, title="Oops", body="@ann")
        post_delete(post=post, user=author)
    assert not mail.outbox


def test_the_job_worker_sends_a_due_digest_and_queues_the_next(acme, settings, transactional_db):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    person(acme, "reader@acme.example", "Rea", notify_posts="daily")
    due = timezone.now() - timedelta(minutes=5)
    with tenant_context(acme), atomic():
        post = post_create(author=boss(acme), title="Roadmap", body="The plan.")
        Post.objects.filter(pk=post.pk).update(created_at=due - timedelta(hours=1))
        DigestSchedule.objects.update_or_create(pk=1, defaults={"next_due": due})
        from apps.jobs.queue import job_enqueue_at
        from apps.notifications.tasks import digest_run

        job_enqueue_at(digest_run, due, due=due.isoformat())
    mail.outbox.clear()
    call_command("run_jobs", "--batch", "--interval", "0")
    assert [m.subject for m in sent_to("reader@acme.example")] == [
        "Acme Inc today: 1 new post, 0 comments"
    ]
    waiting = DBTaskResult.objects.filter(
        task_path="apps.notifications.tasks.digest_run", status="READY"
    )
    (following,) = waiting
    assert following.run_after > timezone.now()
    assert following.args_kwargs["kwargs"]["due"] == following.run_after.isoformat()


def test_a_notification_job_that_runs_again_emails_nobody_twice(acme):
    person(acme, "ann@acme.example", "Ann", notify_posts="each")
    ben = person(acme, "ben@acme.example", "Ben")
    author = boss(acme)
    with tenant_context(acme):
        post = post_create(author=author, title="Plan", body="cc @ben")
        assert len(mail.outbox) == 2
        comment = comment_create(post=post, author=author, body="and @ann")
        assert len(mail.outbox) == 3
        # The same jobs again, as after a retry or a worker lost after its commit.
        assert (
            notices_queue(services.post_notices(post=post, mentioned=[ben.pk], announce=True)) == 0
        )
        again = services.comment_notices(comment=comment, mentioned=[comment.author_id])
        assert notices_queue(again) == 0
        late = person(acme, "cy@acme.example", "Cy", notify_posts="each")
        assert notices_queue(services.post_notices(post=post, mentioned=[], announce=True)) == 1
    assert len(mail.outbox) == 4 and mail.outbox[-1].to == [late.email]
