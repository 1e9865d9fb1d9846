"""``flask ranks recompute`` and ``flask import customers|purchases FILE`` (CONTRACT §2)."""
from __future__ import annotations

import os

import click
from flask.cli import AppGroup

from extensions import db

ranks_cli = AppGroup("ranks", help="RFM ranks.")
import_cli = AppGroup("import", help="Import customers or purchases from CSV or XLSX.")


@ranks_cli.command("recompute")
def recompute_command():
    """Recompute every customer's RFM figures and rank now."""
    from customers import rfm

    summary = rfm.recompute()
    db.session.commit()
    click.echo(f"ranked {summary['customers_scored']} customers with purchases, "
               f"{summary['customers_reset']} reset to new, in {summary['duration_s']} s "
               f"(window {summary['window_days']} days)")


def _run_import(kind: str, path: str) -> None:
    from customers import imports, rfm

    if not os.path.isfile(path):
        raise click.ClickException(f"{path}: no such file")
    last = {"shown": -1}

    def progress(fraction: float, counts: dict) -> None:
        percent = int(fraction * 100)
        if percent // 10 != last["shown"] // 10:
            last["shown"] = percent
            click.echo(f"  {percent:3d}%  {counts['rows']} rows, {counts['error_count']} errors", err=True)

    try:
        result = imports.run(path, kind, filename=os.path.basename(path), progress=progress)
    except imports.ImportFileError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    for error in result["errors"]:
        click.echo(f"line {error['line']}: {error['message']}")
    if kind == "customers":
        click.echo(f"{result['rows']} rows: {result['created']} created, {result['updated']} updated, "
                   f"{result['unchanged']} unchanged, {result['error_count']} errors")
    else:
        click.echo(f"{result['rows']} rows: {result['imported']} imported, {result['skipped']} already imported, "
                   f"{result['error_count']} errors")
    rfm.recompute()
    db.session.commit()


@import_cli.command("customers")
@click.argument("path", type=click.Path(dir_okay=False))
def import_customers(path):
    """Import customers (氏名/name, フリガナ/kana, 電話番号/phone, メール/email, 住所/address …)."""
    _run_import("customers", path)


@import_cli.command("purchases")
@click.argument("path", type=click.Path(dir_okay=False))
def import_purchases(path):
    """Import purchases (顧客ID/code or 電話番号/phone or メール/email, 商品名, 金額, 購入日 …)."""
    _run_import("purchases", path)
