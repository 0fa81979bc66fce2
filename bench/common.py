"""What the benchmarks share: a throwaway Quire set up in a temporary folder."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def setup_django(label: str) -> Path:
    """Configure Django on a fresh catalog and tenants folder; return that folder."""
    work = Path(tempfile.mkdtemp(prefix=f"quire-bench-{label}-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DJANGO_DEBUG": "false",  # DEBUG keeps every query in memory
            "DATABASE_URL": f"sqlite:///{work / 'catalog.sqlite3'}",
            "TENANTS_DATA_DIR": str(work / "tenants"),
            "DJANGO_LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return work


def fast_password_hashing() -> Any:
    """Leave password hashing (a deliberate CPU cost) out of what is measured."""
    from django.test.utils import override_settings

    return override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])


def percentile(values: list[float], fraction: float) -> float:
    """Return the value below which this fraction of the values fall."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)
