"""MIME fuzzing, the long run (issue 8 "Hostile input"): the inbound mail parser
(tickets/mail/parse.py, with message_key and the mail HTML sanitiser) fed arbitrary bytes,
structured-but-broken MIME and deeply nested messages for a fixed time, with hypothesis.
Every result must fit the columns, be valid UTF-8 without NUL, and its HTML be inert
(tests/mime_fuzzing.py ``check_parse``).  ``tests/test_mime_fuzz.py`` is the short version.

Prints examples tried per generator, crashes (distinct, with the smallest input found) and
the time spent.

Usage: .venv/bin/python bench/fuzz_mime.py [--seconds 300] [--seed N]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.mime_fuzzing import check_parse, deep_nesting, structured_mail  # noqa: E402

GENERATORS = {"arbitrary bytes": st.binary(max_size=8192), "broken MIME": structured_mail(),
              "deep nesting": deep_nesting()}


def run_batch(strategy, batch_seed: int, examples: int, counts: dict, name: str) -> str | None:
    """One hypothesis run; returns the failure (with the shrunk input) or None."""

    @seed(batch_seed)
    @settings(max_examples=examples, deadline=None, database=None, report_multiple_bugs=False,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @given(raw=strategy)
    def target(raw):
        counts[name] += 1
        check_parse(raw)

    try:
        target()
    except Exception as error:  # a crash: hypothesis has shrunk it already
        where = "".join(traceback.format_tb(error.__traceback__)[-3:])
        notes = "\n".join(getattr(error, "__notes__", []))[:3000]  # the falsifying example
        return f"{name}: {type(error).__name__}: {str(error)[:500]}\n{where}{notes}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed if args.seed is not None else random.randrange(2**31))
    counts = dict.fromkeys(GENERATORS, 0)
    spent = dict.fromkeys(GENERATORS, 0.0)
    crashes: dict[str, str] = {}
    started = time.monotonic()
    # Deep nesting is slow per example: fewer of them per batch.
    batch = {"arbitrary bytes": 2000, "broken MIME": 1000, "deep nesting": 20}
    while time.monotonic() - started < args.seconds:
        for name, strategy in GENERATORS.items():
            t0 = time.monotonic()
            failure = run_batch(strategy, rng.randrange(2**31), batch[name], counts, name)
            spent[name] += time.monotonic() - t0
            if failure:
                crashes.setdefault(failure.split("\n")[0][:300], failure)
    total = time.monotonic() - started
    print(f"fuzz_mime: {total:.0f} s, {sum(counts.values())} messages parsed")
    for name in GENERATORS:
        print(f"  {name}: {counts[name]} examples in {spent[name]:.0f} s")
    print(f"crashes: {len(crashes)}")
    for failure in crashes.values():
        print("  " + failure.replace("\n", "\n  "))
    raise SystemExit(1 if crashes else 0)


if __name__ == "__main__":
    main()
