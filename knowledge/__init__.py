"""Knowledge base: articles, revisions, search, suggestions, the public help center."""
from __future__ import annotations

import os


def init_app(app) -> None:
    """Register this package's API blueprints, pages, signals, periodic jobs and CLI."""
    import click
    from flask.cli import AppGroup

    from core.scheduler import Periodic, register
    from extensions import api
    from knowledge.api import blp as kb_api
    from knowledge.api_assets import blp as kb_assets_api
    from knowledge.views import bp as kb_pages

    # Settings of this package, from the environment unless the app set them.
    app.config.setdefault("KB_REQUIRE_REVIEW", os.environ.get("KB_REQUIRE_REVIEW", "0").lower() in ("1", "true"))
    app.config.setdefault("KB_IMAGE_MAX_BYTES", int(os.environ.get("KB_IMAGE_MAX_BYTES", 5 * 1024 * 1024)))

    api.register_blueprint(kb_api)
    api.register_blueprint(kb_assets_api)
    app.register_blueprint(kb_pages)
    register(Periodic("kb-scheduled-publish", "knowledge.jobs.publish_scheduled", every_s=60))

    kb_cli = AppGroup("kb", help="Knowledge base maintenance.")

    @kb_cli.command("reindex")
    def reindex_command():
        """Rebuild the search index from the published articles."""
        from extensions import db
        from knowledge.search import reindex_all

        count = reindex_all()
        db.session.commit()
        click.echo(f"{count} articles indexed")

    app.cli.add_command(kb_cli)
