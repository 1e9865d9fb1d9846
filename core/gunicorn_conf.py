"""Gunicorn server hooks (``--config python:core.gunicorn_conf``)."""


def post_worker_init(worker) -> None:
    """The worker has loaded the app: settle its heap before the first request."""
    from core.heap import settle_after_start

    settle_after_start()
