"""RQ entry points of the customers package (thin: they take ids and call services)."""
from __future__ import annotations

import os
import tempfile

from core import jobs
from core.jobs import job, set_progress
from core.realtime import push_now, user_room

UPLOAD_TTL_S = 86400


def upload_key(job_id: str) -> str:
    return f"tsunagu:import-upload:{job_id}"


@job
def recompute_ranks() -> dict:
    """Recompute every customer's RFM figures and rank (nightly, after imports, on demand)."""
    from customers import rfm

    summary = rfm.recompute(progress=set_progress)
    set_progress(1.0)
    return summary


@job
def import_file(job_id: str, kind: str, filename: str, owner_id: int | None = None) -> dict:
    """Import an uploaded file (kept in Redis so any worker node can read it), pushing
    ``import_progress`` to the uploader's consoles, then recompute the ranks."""
    from flask import current_app

    from core.redis_conn import get_redis
    from customers import imports

    data = get_redis().get(upload_key(job_id))
    if data is None:
        raise imports.ImportFileError("The uploaded file has expired; upload it again.")
    suffix = os.path.splitext(filename)[1].lower() or ".csv"
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as handle:
        handle.write(data)
        path = handle.name
    del data

    def progress(fraction: float, counts: dict) -> None:
        set_progress(fraction, **{k: counts[k] for k in ("rows", "error_count") if k in counts})
        if owner_id is not None:
            push_now("import_progress", {"job_id": job_id, "kind": kind, "progress": round(fraction, 4),
                                         "done": False, **counts}, user_room(owner_id))

    try:
        result = imports.run(path, kind, filename=filename, progress=progress, actor_id=owner_id)
    except imports.ImportFileError as error:
        from rq import get_current_job

        current = get_current_job()
        if current is not None:
            current.meta["error"] = str(error)
            current.save_meta()
        if owner_id is not None:
            push_now("import_progress", {"job_id": job_id, "kind": kind, "progress": 1.0, "done": True,
                                         "error": str(error)}, user_room(owner_id))
        raise
    finally:
        os.unlink(path)
    get_redis().delete(upload_key(job_id))
    if owner_id is not None:
        push_now("import_progress", {"job_id": job_id, "kind": kind, "progress": 1.0, "done": True,
                                     **{k: v for k, v in result.items() if k != "errors"}}, user_room(owner_id))
    # New purchases and customers change everyone's quintiles.
    jobs.enqueue("customers.jobs.recompute_ranks", meta={"kind": "ranks", "owner_id": owner_id})
    current_app.logger.info("import %s of %s: %s rows", job_id, filename, result["rows"])
    return result
