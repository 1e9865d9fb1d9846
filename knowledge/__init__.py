"""Knowledge base: articles, revisions, search, suggestions, the public help center."""


def init_app(app) -> None:
    """Register this package's API blueprints, pages, signals, periodic jobs and CLI."""
