"""``flask worker`` and ``flask demo``."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--name", default=None, help="Worker name (unique per process).")
@with_appcontext
def worker_command(burst, name):
    """Run a background worker: jobs, delayed jobs and periodic sweeps."""
    from core.jobs import run_worker

    click.echo(f"worker listening on {current_app.config['REDIS_URL']}")
    run_worker(current_app._get_current_object(), burst=burst, name=name)


@click.command("demo")
@click.option("--customers", "customer_count", type=int, default=300, show_default=True)
@click.option("--if-empty", is_flag=True, help="Only when the database has no users yet.")
@with_appcontext
def demo_command(customer_count, if_empty):
    """Create realistic Japanese demo data (users, customers, purchases, manuals)."""
    from console import demo

    if if_empty and not demo.database_is_empty():
        click.echo("database already has data; demo seed skipped")
        for line in demo.existing_logins():
            click.echo(line)
        return
    for line in demo.seed(customer_count):
        click.echo(line)


@click.command("simulate")
@click.option("--calls-per-minute", type=float, default=6, show_default=True)
@click.option("--mails-per-minute", type=float, default=2, show_default=True)
@click.option("--url", default=None, help="Base URL of the web process (default http://HOST:PORT).")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: Ctrl-C).")
@click.option("--talk-scale", type=float, default=1.0, show_default=True, help="Scale ringing/talking times.")
@with_appcontext
def simulate_command(calls_per_minute, mails_per_minute, url, duration, talk_scale):
    """Drive the real CTI webhook and SMTP listener with demo customers."""
    from accounts.service import create_token
    from console.simulate import Simulator, demo_people
    from extensions import db

    config = current_app.config
    base = url or f"http://{config['HOST']}:{config['PORT']}"
    _, token = create_token("simulator", "cti")
    db.session.commit()
    smtp = None
    if config.get("SMTP_LISTEN"):
        host, _, port = config["SMTP_LISTEN"].rpartition(":")
        smtp = (host or "127.0.0.1", int(port))
    people = demo_people()
    click.echo(f"simulating {calls_per_minute} calls/min and {mails_per_minute} mails/min against {base}"
               f" and SMTP {smtp}; {len(people)} demo customers; Ctrl-C stops")
    counts = Simulator(base, token, smtp, config["MAIL_DOMAIN"], people, talk_scale=talk_scale,
                       log=click.echo).run(calls_per_minute, mails_per_minute, duration)
    click.echo("done: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@click.command("backup")
@click.argument("target", type=click.Path(dir_okay=False))
@with_appcontext
def backup_command(target):
    """Copy the SQLite database to TARGET while it runs (PostgreSQL: use pg_dump)."""
    from pathlib import Path

    from core.backup import backup

    try:
        size = backup(current_app.config["SQLALCHEMY_DATABASE_URI"], Path(target))
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backed up {size} bytes to {target}")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask; the current data is replaced.")
@with_appcontext
def restore_command(source, yes):
    """Replace the SQLite database with a backup (stop ./run.sh first)."""
    from pathlib import Path

    from core.backup import restore

    if not yes:
        click.confirm("This replaces every record with the backup. Continue?", abort=True)
    from extensions import db

    db.engine.dispose()
    try:
        size = restore(current_app.config["SQLALCHEMY_DATABASE_URI"], Path(source))
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"restored {size} bytes from {source}")
