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
