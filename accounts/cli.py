"""``flask users add`` and ``flask tokens add`` (CONTRACT §2)."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from core.errors import ApiError
from extensions import db

users_cli = AppGroup("users", help="Manage users.")
tokens_cli = AppGroup("tokens", help="Manage API and CTI tokens.")


@users_cli.command("add")
@click.argument("username")
@click.option("--password", required=True)
@click.option("--roles", default="operator", show_default=True, help="Comma-separated: operator,supervisor,editor,admin")
@click.option("--tier", type=click.IntRange(1, 3), default=1, show_default=True)
@click.option("--skills", default="", help="Comma-separated skills, e.g. ja,en,billing")
@click.option("--extension", default=None)
@click.option("--name", default="", help="Display name")
def add_user(username, password, roles, tier, skills, extension, name):
    """Create a user; an existing username exits non-zero and changes nothing."""
    from accounts.service import create_user

    try:
        user = create_user(username, password, roles, tier=tier,
                           skills=[s for s in skills.split(",") if s.strip()],
                           extension=extension, name=name)
        db.session.commit()
    except ApiError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    click.echo(f"created user {user.username} (id {user.id}, roles {','.join(user.roles)}, tier {user.tier})")


@tokens_cli.command("add")
@click.argument("name")
@click.option("--scope", type=click.Choice(["api", "cti"]), required=True)
def add_token(name, scope):
    """Create a token; the token is printed alone on the last line (shown once)."""
    from accounts.service import create_token

    token, raw = create_token(name, scope)
    db.session.commit()
    click.echo(f"created {scope} token {token.name!r} (id {token.id}); it is shown only once:")
    click.echo(raw)
