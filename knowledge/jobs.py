"""RQ entry points of the knowledge base."""
from __future__ import annotations

from core.jobs import job


@job
def publish_scheduled() -> dict:
    """Publish drafts whose scheduled time has come (runs every minute)."""
    from knowledge.service import publish_due

    return {"published": publish_due()}
