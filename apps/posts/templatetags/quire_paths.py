"""``{% path "app:name" %}``: the ``{% url %}`` of a link without arguments, reversed once.

Navigation links are the same on every page; ``reverse()`` costs more than the rest of
the navigation. The result depends only on the URLconf and the script prefix, which are
part of the memo's key.
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
def path(viewname: str) -> str:
    """Return the path of a view that takes no arguments."""
    return _reversed(get_urlconf(), get_script_prefix(), viewname)


@lru_cache(maxsize=256)
def _reversed(urlconf: str | None, prefix: str, viewname: str) -> str:
    return reverse(viewname, urlconf=urlconf)


@receiver(setting_changed)
def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":
        _reversed.cache_clear()
