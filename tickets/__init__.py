"""Tickets, messages, SLAs, macros; tickets/mail for inbound SMTP and outbound replies."""


def init_app(app) -> None:
    """Register this package's API blueprints, pages, signals, periodic jobs and CLI."""
