"""``flask mail``: the inbound SMTP listener in the foreground (``./run.sh mail``)."""
from __future__ import annotations

import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("mail")
@click.option("--listen", default=None, help="host:port (default: SMTP_LISTEN).")
@with_appcontext
def mail_command(listen):
    """Receive mail for MAIL_DOMAIN on SMTP_LISTEN and turn it into tickets."""
    from tickets.mail.listener import MailListener

    app = current_app._get_current_object()
    listen = listen if listen is not None else app.config["SMTP_LISTEN"]
    if not (listen or "").strip():
        click.echo("SMTP_LISTEN is empty: the mail listener is disabled")
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server = MailListener(app, listen).start()
    click.echo(f"mail listener on {server.host}:{server.port} for @{app.config['MAIL_DOMAIN']} "
               f"(max {app.config['MAIL_MAX_BYTES']} bytes)")
    from core.heap import settle_after_start

    settle_after_start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
        click.echo("mail listener stopped")
