"""Send tenant apps to the current tenant's file and shared apps to the catalog."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model
from django.dispatch import receiver

from apps.tenancy.exceptions import CrossTenantRelation, NoActiveTenant
from apps.tenancy.routing.context import get_current_tenant
from apps.tenancy.routing.databases import is_tenant_alias, tenant_alias


@cache
def tenant_app_labels() -> frozenset[str]:
    """Return the labels of the apps whose tables live in tenant files."""
    return _labels(settings.TENANT_APPS)


@cache
def shared_app_labels() -> frozenset[str]:
    """Return the labels of the apps whose tables live in the catalog."""
    return _labels(settings.SHARED_APPS)


def _labels(app_names: list[str]) -> frozenset[str]:
    return frozenset(config.label for config in apps.get_app_configs() if config.name in app_names)


@receiver(setting_changed)
def _forget_labels(*, setting: str, **kwargs: Any) -> None:
    if setting in ("TENANT_APPS", "SHARED_APPS", "INSTALLED_APPS"):
        tenant_app_labels.cache_clear()
        shared_app_labels.cache_clear()


class TenantRouter:
    """Map the current tenant to its connection alias; never query."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return self._db_for(model, hints)

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return self._db_for(model, hints)

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        db1, db2 = obj1._state.db, obj2._state.db
        if db1 and db2 and db1 != db2 and (is_tenant_alias(db1) or is_tenant_alias(db2)):
            raise CrossTenantRelation(
                f"Cannot relate {obj1!r} (from {db1}) to {obj2!r} (from {db2}): "
                "objects of different tenants never refer to each other."
            )
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        if is_tenant_alias(db):
            return app_label in tenant_app_labels()
        return app_label in shared_app_labels() or app_label not in tenant_app_labels()

    def _db_for(self, model: type[Model], hints: dict[str, Any]) -> str | None:
        label = model._meta.app_label
        if label not in tenant_app_labels():
            return None
        tenant = get_current_tenant()
        if tenant is None:
            if label in shared_app_labels():
                return DEFAULT_DB_ALIAS
            raise NoActiveTenant(
                f"{model._meta.label} lives in tenant databases and no tenant is active. "
                "Activate one with apps.tenancy.routing.context.tenant_context(tenant)."
            )
        alias = tenant_alias(tenant.slug, max_bytes=tenant.max_db_bytes)
        self._check_instance(hints.get("instance"), alias)
        return alias

    def _check_instance(self, instance: Model | None, alias: str) -> None:
        db = getattr(getattr(instance, "_state", None), "db", None)
        if is_tenant_alias(db) and db != alias:
            raise CrossTenantRelation(
                f"{instance!r} belongs to {db} but the active tenant uses {alias}."
            )
