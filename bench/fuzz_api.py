"""API fuzzing, the long run (issue 8 "Hostile input"): schemathesis over
/api/v1/openapi.json against gunicorn as ``./run.sh web`` starts it (plus one worker), every
operation, valid and invalid requests, as three principals: an admin's API token, an admin's
session and an operator's session (cookie + CSRF).  Checks: no 5xx, every answer matches
its declared schema and content type.  ``tests/test_schemathesis.py`` is the short version.

Dataset: a fresh database with one customer, one email ticket and one published KB article
(small ids reach real rows); everything else is what the fuzzer creates.
Prints operations, examples and failures per principal (each failure with a curl line).

Usage: .venv/bin/python bench/fuzz_api.py [--backend postgresql|sqlite] [--examples 100] [--seed N]
"""
from __future__ import annotations

import argparse
import random
import time

import requests
import schemathesis
from tickets_harness import FLASK, ROOT, Stack

from tests.api_fuzzing import SESSION_ENDERS, FuzzReport, fuzz

PASSWORD = "fuzz-password-1"


def seed(url: str, bearer: dict) -> None:
    customer = requests.post(f"{url}/api/v1/customers", headers=bearer, timeout=30, json={
        "name": "山田 太郎", "name_kana": "ヤマダ タロウ", "emails": ["taro@example.test"], "phones": ["03-1234-5678"]})
    customer.raise_for_status()
    requests.post(f"{url}/api/v1/tickets", headers=bearer, timeout=30, json={
        "subject": "荷物が届かない", "body": "まだ届きません", "channel": "email",
        "customer_id": customer.json()["id"]}).raise_for_status()
    article = requests.post(f"{url}/api/v1/kb/articles", headers=bearer, timeout=30,
                            json={"title": "返品の手順", "body": "# 返品\n\n手順です。", "locale": "ja"})
    article.raise_for_status()
    requests.post(f"{url}/api/v1/kb/articles/{article.json()['id']}/publish", headers=bearer, timeout=30,
                  json={}).raise_for_status()


def session_for(stack: Stack, url: str, username: str, roles: str) -> requests.Session:
    import subprocess

    subprocess.run(FLASK + ["users", "add", username, "--password", PASSWORD, "--roles", roles, "--tier", "2"],
                   cwd=ROOT, env=stack.env, check=True, capture_output=True)
    session = requests.Session()
    answer = session.post(f"{url}/api/v1/auth/login", json={"username": username, "password": PASSWORD}, timeout=30)
    answer.raise_for_status()
    session.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return session


def run(backend: str, examples: int, seed_value: int | None) -> FuzzReport:
    stack = Stack(backend)
    total = FuzzReport()
    try:
        url = stack.web()
        stack.worker()
        bearer = {"Authorization": f"Bearer {stack.token()}"}
        seed(url, bearer)
        schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
        # Sessions first: the token run may change or deactivate their users.
        principals = [("operator session", "operator"), ("admin session", "admin")]
        for name, roles in principals:
            session = session_for(stack, url, f"fuzz-{roles}", roles)
            started = time.monotonic()
            report = fuzz(schema, max_examples=examples, headers=dict(session.headers), session=session,
                          base_url=url, skip=SESSION_ENDERS, seed=seed_value)
            still_in = session.get(f"{url}/api/v1/me", timeout=30).status_code == 200
            print_report(name, report, time.monotonic() - started, note="" if still_in else " (session lost!)")
            total.merge(report)
        started = time.monotonic()
        report = fuzz(schema, max_examples=examples, headers=bearer, base_url=url, seed=seed_value)
        print_report("admin token", report, time.monotonic() - started)
        total.merge(report)
    finally:
        stack.close()
    return total


def print_report(name: str, report: FuzzReport, seconds: float, note: str = "") -> None:
    print(f"{name}: {report.operations} operations, {report.examples} requests "
          f"({report.refused_by_server} refused by gunicorn as too long), "
          f"{len(report.failures)} failures in {seconds:.0f} s{note}", flush=True)
    for failure in report.failures:
        print("  " + failure.replace("\n", "\n  "), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="postgresql", choices=["sqlite", "postgresql"])
    parser.add_argument("--examples", type=int, default=100, help="per operation and per mode (valid, invalid)")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one (printed)")
    args = parser.parse_args()
    seed_value = args.seed if args.seed is not None else random.randrange(2**31)
    print(f"fuzz_api: backend {args.backend}, {args.examples} examples per operation and mode, seed {seed_value}")
    total = run(args.backend, args.examples, seed_value)
    print(f"total: {total.operations} operations, {total.examples} requests, {len(total.failures)} failures")
    raise SystemExit(1 if total.failures else 0)


if __name__ == "__main__":
    main()
