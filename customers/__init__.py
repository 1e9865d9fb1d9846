"""The unified customer profile: identities, timeline, purchases, RFM ranks, imports, merge."""


def init_app(app) -> None:
    """Register this package's API blueprints, pages, signals, periodic jobs and CLI."""
    from core.scheduler import Periodic, register
    from customers.api import analytics_blp, blp
    from customers.cli import import_cli, ranks_cli
    from customers.views import bp
    from extensions import api

    api.register_blueprint(blp)
    api.register_blueprint(analytics_blp)
    app.register_blueprint(bp)
    app.cli.add_command(ranks_cli)
    app.cli.add_command(import_cli)
    # Nightly at 03:00 Japan time (18:00 UTC), once across all workers.
    register(Periodic("ranks-nightly", "customers.jobs.recompute_ranks", every_s=86400, offset_s=18 * 3600,
                      queue="low"))
