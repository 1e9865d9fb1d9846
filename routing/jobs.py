"""RQ entry points for routing."""
from flask import current_app

from core.jobs import job
from routing import presence


@job
def sweep_presence():
    """Periodic: operators whose console has been closed past the grace period go offline."""
    return presence.sweep_offline(current_app.config["PRESENCE_GRACE_S"])
