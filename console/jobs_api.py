"""/api/v1/jobs/{id}: status and progress of a background job."""
from flask_login import current_user
from flask_smorest import Blueprint

from accounts.permissions import require
from core import jobs
from core.errors import NotFound

blp = Blueprint("jobs_api", __name__, url_prefix="/api/v1", description="Background jobs")


@blp.route("/jobs/<job_id>", methods=["GET"])
@blp.response(200)
@require()
def get_job(job_id):
    """``{status: queued|started|finished|failed, progress: 0..1, result}``."""
    found = jobs.status(job_id)
    owner = (found or {}).get("owner_id")
    # A job belongs to whoever started it; supervisors and admins see all.
    if found is None or (owner is not None and owner != current_user.user_id
                         and not current_user.has_role("supervisor")):
        raise NotFound("No such job.")
    return found
