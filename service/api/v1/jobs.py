"""Background jobs (scope ``trades:write``): the status, and when finished the result, of a job
a key queued (a batch of account trade lists over 1,000 accounts). Another key's job is 404."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import url_for

from schemas.accounts import JobSchema

from ..auth import current_key, require
from ..blueprint import Blueprint
from ..errors import fail
from ..extensions import get_redis

if TYPE_CHECKING:
    from rq.job import Job

JOB_RESULT_TTL_SECONDS = 24 * 3600
"""How long a finished or failed job's result is kept."""

blp = Blueprint("jobs", __name__, url_prefix="/v1/jobs", description="Background jobs")


def job_view(job: Job) -> dict:
    """The job's id, status and status URL; its result when finished, its error when failed."""
    from rq.job import JobStatus

    status = job.get_status()
    view = {
        "job_id": job.id,
        "status": str(status.value if isinstance(status, JobStatus) else status),
        "status_url": url_for("jobs.job", job_id=job.id),
        "result": None,
        "error": None,
    }
    if status == JobStatus.FINISHED:
        view["result"] = job.return_value()
    elif status == JobStatus.FAILED:
        result = job.latest_result()
        lines = (result.exc_string or "").strip().splitlines() if result else []
        view["error"] = lines[-1] if lines else "the job failed"
    return view


@blp.route("/<job_id>", methods=["GET"])
@require("trades:write")
@blp.response(200, JobSchema)
def job(job_id: str):
    """A job's status, and its result once finished"""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        found = Job.fetch(job_id, connection=get_redis())
    except (NoSuchJobError, ValueError):  # ValueError: an id RQ never gives (e.g. not ASCII)
        found = None
    if found is None or found.meta.get("key_id") != current_key().id:
        fail(404, f"no job {job_id!r}", field="job_id", location="path")
    return job_view(found)
