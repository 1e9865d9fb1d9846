"""core.heap: the long-running processes move their start-up objects out of the
collector's way (a full collection over them paused every thread ≈ 100 ms)."""
import gc


def test_settling_freezes_what_the_process_holds():
    from core.heap import settle_after_start

    try:
        settle_after_start()
        assert gc.get_freeze_count() > 10_000  # the test process's modules, app and fixtures
    finally:
        gc.unfreeze()


def test_web_workers_settle_after_loading_the_app():
    """./run.sh web starts gunicorn with the hooks module, whose post_worker_init settles."""
    from core import gunicorn_conf
    from core.supervise import web_command

    command = web_command()
    assert command[command.index("--config") + 1] == "python:core.gunicorn_conf"
    try:
        gunicorn_conf.post_worker_init(None)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_work_a_first_request_would_do_is_done_before_serving(app):
    """The holiday rules load on the first SLA computation (≈ 300 ms with every thread
    of the process waiting); a starting process loads them before its first request."""
    from core.heap import settle_after_start
    from tickets.sla import _public_holidays

    _public_holidays.cache_clear()
    try:
        settle_after_start()
        assert _public_holidays.cache_info().currsize == 1
    finally:
        gc.unfreeze()
