"""``{% path "app:name" arg... %}``: ``{% url %}``, each path reversed once per process.

Navigation links are the same on every page, and a list repeats one pattern per row;
``reverse()`` costs more than the rest of a row. A path depends only on the URLconf, the
script prefix, the view and its arguments, which are the memo's key. Arguments must be
hashable (ids, slugs).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_script_prefix, get_urlconf, reverse

register = template.Library()


@register.simple_tag
def path(viewname: str, *args: Any) -> str:
    """Return the path of a view with these positional arguments."""
    return _reversed(get_urlconf(), get_script_prefix(), viewname, args)


@lru_cache(maxsize=4096)
def _reversed(urlconf: str | None, prefix: str, viewname: str, args: tuple[Any, ...]) -> str:
    return reverse(viewname, urlconf=urlconf, args=args)


@receiver(setting_changed)
def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":
        _reversed.cache_clear()
