"""Tickets, messages, SLAs, macros; tickets/mail for inbound SMTP and outbound replies."""


def init_app(app) -> None:
    """Register this package's API blueprints, pages, signals, periodic jobs and CLI."""
    from core.scheduler import Periodic, register
    from customers.events import customers_merged
    from extensions import api
    from tickets import service
    from tickets.api import blp
    from tickets.mail.cli import mail_command
    from tickets.views import bp

    api.register_blueprint(blp)
    app.register_blueprint(bp)
    # A merge moves the duplicate's tickets to the survivor in the merge's transaction.
    customers_merged.connect(service.on_customers_merged)
    register(Periodic("tickets-sla-sweep", "tickets.jobs.sla_sweep", every_s=60, offset_s=7))
    # Mail stored but not processed (listener or Redis died after the 250), replies due a retry.
    register(Periodic("mail-sweep", "tickets.mail.jobs.sweep", every_s=60, offset_s=23))
    app.cli.add_command(mail_command)
    from core.heap import before_serving
    from tickets.sla import load_holiday_rules

    before_serving("holiday rules", load_holiday_rules)
