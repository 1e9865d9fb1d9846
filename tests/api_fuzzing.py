"""schemathesis over the OpenAPI document, one operation at a time: valid and invalid
generated requests, each answer checked for no 5xx and for the schema the document
declares for that status.  Shared by tests/test_schemathesis.py (a few examples per
operation, in-process WSGI) and bench/fuzz_api.py (many, against gunicorn)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

CHECKS = [checks.not_a_server_error, checks.response_schema_conformance, checks.content_type_conformance]
# Operations that would end a cookie session mid-run or lock out the user running it; the
# bearer-token run covers them.
SESSION_ENDERS = {("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/login"),
                  ("PATCH", "/api/v1/users/{user_id}")}


@dataclass
class FuzzReport:
    operations: int = 0
    examples: int = 0
    refused_by_server: int = 0  # 414 from gunicorn (request line > 4094 bytes), not the app
    failures: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per operation

    def merge(self, other: FuzzReport) -> None:
        self.operations += other.operations
        self.examples += other.examples
        self.refused_by_server += other.refused_by_server
        self.failures += other.failures
        self.seconds.update(other.seconds)


def fuzz(schema, *, max_examples: int, headers: dict, cookies: dict | None = None, session=None,
         base_url: str | None = None, skip: set = frozenset(), seed: int = 20261108) -> FuzzReport:
    """Every operation of ``schema`` but ``skip``: ``max_examples`` valid and as many invalid
    requests each, from ``seed`` (the same seed, the same requests)."""
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in skip:
            continue
        report.operations += 1
        started = time.perf_counter()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, report, max_examples=max_examples, headers=headers,
                            cookies=cookies or {}, session=session, base_url=base_url, seed=seed)
        report.seconds[f"{operation.method.upper()} {operation.path}"] = time.perf_counter() - started
    return report


def _fuzz_operation(operation, mode, report: FuzzReport, *, max_examples, headers, cookies, session,
                    base_url, seed) -> None:
    @hypothesis.seed(seed)
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=max_examples, deadline=None, database=None,
              phases=[Phase.explicit, Phase.reuse, Phase.generate], suppress_health_check=list(HealthCheck),
              report_multiple_bugs=False)
    def run(case):
        report.examples += 1
        kwargs = {"session": session} if session is not None else {}
        response = case.call(base_url=base_url, headers=headers, cookies=cookies, **kwargs)
        if response.status_code == 414 and "json" not in response.headers.get("Content-Type", ""):
            # gunicorn refused an over-long request line before the app saw it.
            report.refused_by_server += 1
            return
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        run()
    except Unsatisfiable:
        if mode == GenerationMode.NEGATIVE:  # no parameters to make invalid: nothing to send
            return
        report.failures.append(f"{operation.method.upper()} {operation.path}: no valid request could be generated")
    except (Exception, BaseExceptionGroup) as error:  # failed checks: keep going, report them all
        label = f"{operation.method.upper()} {operation.path} [{mode.value}]"
        report.failures.append(f"{label}: {type(error).__name__}: {error}"[:4000])
