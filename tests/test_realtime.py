"""The /console namespace against real processes: auth, rooms, presence pushes, and a
push from an RQ worker process reaching a client connected to a web process."""
import queue
import time

import pytest
import socketio

from tests.conftest import http_login

pytestmark = pytest.mark.processes


def connect(base_url, session=None, events=("operator_presence",)):
    """A python-socketio client on /console with the session's cookie; returns (client, inbox)."""
    client = socketio.Client(reconnection=False)
    inbox: queue.Queue = queue.Queue()
    for name in events:
        client.on(name, (lambda n: lambda data: inbox.put((n, data)))(name), namespace="/console")
    headers = {}
    if session is not None:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    client.connect(base_url, headers=headers, namespaces=["/console"], transports=["websocket"], wait_timeout=5)
    return client, inbox


def wait_for(inbox, predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            name, data = inbox.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if predicate(name, data):
            return data
    raise AssertionError("expected event did not arrive")


def test_connection_without_login_is_refused(live_server):
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(live_server, namespaces=["/console"], transports=["websocket"], wait_timeout=5)
    client.disconnect()


def test_editor_connection_is_refused(live_server, make_user):
    make_user("ed-sock", roles="editor")
    with pytest.raises(socketio.exceptions.ConnectionError):
        connect(live_server, http_login(live_server, "ed-sock"))


def test_presence_from_client_is_stored_and_pushed_to_supervisors(live_server, make_user, app):
    make_user("op-sock", roles="operator")
    make_user("sup-sock", roles="supervisor")
    supervisor, sup_inbox = connect(live_server, http_login(live_server, "sup-sock"))
    operator, _ = connect(live_server, http_login(live_server, "op-sock"))
    try:
        answer = operator.call("presence", {"presence": "available"}, namespace="/console", timeout=5)
        assert answer["presence"] == "available"
        event = wait_for(sup_inbox, lambda n, d: d["username"] == "op-sock")
        assert event["presence"] == "available"
        bad = operator.call("presence", {"presence": "sleeping"}, namespace="/console", timeout=5)
        assert bad["error"]["code"] == "validation_error"
        # Stored: the API sees it.
        listed = http_login(live_server, "sup-sock").get(f"{live_server}/api/v1/operators").json()["items"]
        assert {o["username"]: o["presence"] for o in listed}["op-sock"] == "available"
    finally:
        operator.disconnect()
        supervisor.disconnect()


def test_operator_does_not_receive_supervisor_pushes(live_server, make_user):
    make_user("op-a", roles="operator")
    make_user("op-b", roles="operator")
    watcher, inbox = connect(live_server, http_login(live_server, "op-a"))
    other, _ = connect(live_server, http_login(live_server, "op-b"))
    try:
        other.call("presence", {"presence": "away"}, namespace="/console", timeout=5)
        with pytest.raises(AssertionError):
            wait_for(inbox, lambda n, d: d["username"] == "op-b", timeout=1.0)
    finally:
        watcher.disconnect()
        other.disconnect()


def test_worker_process_push_reaches_client_of_web_process(app, processes, live_server, make_user):
    """A job run by a real `flask worker` process pushes through the Redis message queue
    to a supervisor connected to a real web process."""
    from datetime import timedelta

    from accounts.models import User
    from core import jobs
    from core.db import utcnow
    from extensions import db
    from routing.presence import set_presence, state_of

    user_id, _ = make_user("op-gone", roles="operator")
    make_user("sup-watch", roles="supervisor")
    with app.app_context():
        set_presence(db.session.get(User, user_id), "available")
        state = state_of(user_id)
        state.presence_since = utcnow() - timedelta(minutes=10)
        state.disconnected_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
    supervisor, inbox = connect(live_server, http_login(live_server, "sup-watch"))
    worker = processes.worker()
    try:
        with app.app_context():
            jobs.enqueue("routing.jobs.sweep_presence", now=True)
        event = wait_for(inbox, lambda n, d: d["username"] == "op-gone", timeout=15)
        assert event["presence"] == "offline"
    finally:
        supervisor.disconnect()
        worker.terminate()
        worker.wait(10)


def test_a_transactions_pushes_are_published_together_at_commit_in_order(app, published):
    """core.realtime + core.socket_queue: nothing before the commit, the first pushes
    first, the rest in the order made (one pipeline); a rollback publishes nothing."""
    from core.realtime import push, push_first
    from core.socket_queue import PipeliningRedisManager
    from extensions import db, socketio

    assert isinstance(socketio.server.manager, PipeliningRedisManager)
    with app.app_context():
        push("ticket_updated", {"n": 1}, "user:1")
        push_first("screen_pop", {"n": 0}, "user:1")
        push("ticket_assigned", {"n": 2}, "user:1")
        assert published(0.2) == []
        db.session.commit()
        assert published() == [("screen_pop", {"n": 0}), ("ticket_updated", {"n": 1}), ("ticket_assigned", {"n": 2})]
        push("ticket_updated", {"n": 3}, "user:1")
        db.session.rollback()
        db.session.commit()
        assert published() == [("screen_pop", {"n": 0}), ("ticket_updated", {"n": 1}), ("ticket_assigned", {"n": 2})]


def test_a_flooding_connection_is_refused_beyond_its_burst_and_recovers(processes, make_user):
    """Client events pass a token bucket per connection: beyond the burst the ack is a
    rate_limited error and the handler does not run; the bucket refills at the rate, and
    the connection stays up (another connection has its own bucket)."""
    node = processes.web(SOCKET_EVENTS_PER_S="2", SOCKET_EVENT_BURST="3")
    make_user("op-flood", roles="operator")
    make_user("op-calm", roles="operator")
    flooder, _ = connect(node, http_login(node, "op-flood"))
    calm, _ = connect(node, http_login(node, "op-calm"))
    try:
        answers = [flooder.call("presence", {"presence": "available"}, namespace="/console", timeout=5)
                   for _ in range(8)]
        refused = [a for a in answers if a.get("error", {}).get("code") == "rate_limited"]
        assert answers[0]["presence"] == "available"
        assert 3 <= len(refused) <= 5, answers  # 3 in the burst, at most ~1 refilled meanwhile
        assert calm.call("presence", {"presence": "available"}, namespace="/console", timeout=5)["presence"] \
            == "available"
        time.sleep(1.1)
        assert flooder.call("presence", {"presence": "busy"}, namespace="/console", timeout=5)["presence"] == "busy"
        assert flooder.connected
    finally:
        flooder.disconnect()
        calm.disconnect()
