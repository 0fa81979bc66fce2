"""The bare Django page bench/pages.py measures Quire against.

A view that reads the 20 newest of 200 rows (with their author, one join) from ONE
SQLite file and renders a small template, behind Django's usual middleware, as a
plain one-database Django project would serve it. Its tables are made with plain
SQL; its database is the ``bare`` alias of ``bench.pages_settings``.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.db import models
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

ALIAS = "bare"
URLCONF = "bench.bare_page"
MIDDLEWARE = [
    "bench.bare_page.BareUrlconfMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
WORDS = ["alpha", "beta", "gamma", "delta", "tenant", "schema", "note", "body", "lorem"]
TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Notes · {{ request.get_host }}</title></head>
<body>
<h1>Latest notes</h1>
<ul>
{% for note in notes %}
  <li><strong>{{ note.title }}</strong> by {{ note.author.username }}
      <time>{{ note.created_at|date:"Y-m-d H:i" }}</time>
      <p>{{ note.body|truncatechars:120 }}</p></li>
{% empty %}
  <li>Nothing yet.</li>
{% endfor %}
</ul>
</body></html>
"""


class Author(models.Model):
    username = models.CharField(max_length=150)

    class Meta:
        app_label = "bench_bare"
        db_table = "bare_author"

    def __str__(self) -> str:
        return self.username


class Note(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField()
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    created_at = models.DateTimeField()

    class Meta:
        app_label = "bench_bare"
        db_table = "bare_note"

    def __str__(self) -> str:
        return self.title


class BareUrlconfMiddleware:
    """Serve this module's URLs (the bare handler shares the process with Quire's)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.urlconf = URLCONF
        return self.get_response(request)


def note_list(request: HttpRequest) -> HttpResponse:
    notes = Note.objects.using(ALIAS).select_related("author").order_by("-created_at")[:20]
    return HttpResponse(_template().render({"notes": notes}, request))


def _template():
    global _compiled
    if _compiled is None:
        _compiled = engines["django"].from_string(TEMPLATE)
    return _compiled


_compiled = None
urlpatterns = [path("notes/", note_list)]


def create_database(file: Path, *, rows: int = 200, authors: int = 5) -> None:
    """Make the bare page's SQLite file: WAL, its two tables, an index, the rows."""
    db = sqlite3.connect(file)
    db.executescript(
        """
        PRAGMA journal_mode=WAL;
        CREATE TABLE bare_author (id INTEGER PRIMARY KEY, username VARCHAR(150) NOT NULL);
        CREATE TABLE bare_note (
            id INTEGER PRIMARY KEY, title VARCHAR(200) NOT NULL, body TEXT NOT NULL,
            author_id INTEGER NOT NULL REFERENCES bare_author (id), created_at DATETIME NOT NULL);
        CREATE INDEX bare_note_created ON bare_note (created_at DESC);
        """
    )
    db.executemany(
        "INSERT INTO bare_author (id, username) VALUES (?, ?)",
        [(n, f"author{n}") for n in range(1, authors + 1)],
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    words = random.Random(200)
    db.executemany(
        "INSERT INTO bare_note (title, body, author_id, created_at) VALUES (?, ?, ?, ?)",
        [
            (
                f"Note number {n}",
                " ".join(words.choice(WORDS) for _ in range(50)),
                n % authors + 1,
                (start + timedelta(minutes=n)).strftime("%Y-%m-%d %H:%M:%S.%f"),
            )
            for n in range(rows)
        ],
    )
    db.commit()
    db.close()
