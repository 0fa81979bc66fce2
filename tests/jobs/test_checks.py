"""The job settings are checked at start-up."""

from __future__ import annotations

from apps.jobs.checks import check_job_settings


def test_job_settings_that_cannot_work_are_reported(settings):
    assert check_job_settings() == []
    settings.QUIRE_NODE_ID = "n" * 33
    settings.QUIRE_JOB_MAX_ATTEMPTS = 0
    settings.QUIRE_JOB_RETRY_SECONDS = -1
    errors = {error.id: error.msg for error in check_job_settings()}
    assert "must be 1 to 32 characters" in errors["jobs.E001"]
    assert errors["jobs.E002"] == "QUIRE_JOB_MAX_ATTEMPTS is 0; use 1 or more."
    assert "QUIRE_JOB_RETRY_SECONDS is -1" in errors["jobs.E003"]
