"""The unified customer profile: identities, timeline, purchases, RFM ranks, imports, merge."""


def init_app(app) -> None:
    """Register this package's API blueprints, pages, signals, periodic jobs and CLI."""
