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
