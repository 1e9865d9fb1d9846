"""The logged-in user is served from process-local copies (core.row_copies), yet a
change to any user applies to the very next request, in this process and in another."""
from sqlalchemy import event

from tests.conftest import http_login


def _user_reads(app):
    """A list that collects every SELECT … FROM users the app's engine runs."""
    from extensions import db

    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def _watch(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT") and "FROM users" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", _watch)
    return seen, lambda: event.remove(engine, "before_cursor_execute", _watch)


def test_repeated_requests_do_not_read_the_user_again(app, client, login):
    login(client)
    assert client.get("/api/v1/tickets").status_code == 200  # the copy is taken here
    seen, stop = _user_reads(app)
    try:
        for _ in range(3):
            assert client.get("/api/v1/tickets").status_code == 200
    finally:
        stop()
    assert seen == []


def test_deactivation_and_role_changes_apply_to_the_next_request(client, login, app):
    user_id, _name = login(client)
    assert client.get("/api/v1/tickets").status_code == 200
    admin = app.test_client()
    login(admin, roles="admin")
    assert admin.patch(f"/api/v1/users/{user_id}", json={"roles": ["editor"]},
                       headers={"X-CSRF-Token": admin.csrf_token}).status_code == 200
    assert client.get("/api/v1/tickets").status_code == 403  # no operator role any more
    assert admin.patch(f"/api/v1/users/{user_id}", json={"roles": ["operator"], "active": False},
                       headers={"X-CSRF-Token": admin.csrf_token}).status_code == 200
    assert client.get("/api/v1/tickets").status_code == 401  # deactivated: logged out


def test_a_change_made_elsewhere_reaches_a_running_web_process(live_server, make_user, app):
    """The web process keeps its own copies; a role change committed by another process
    (here the test's app, as an admin's node would) applies there at once."""
    from accounts.models import User
    from accounts.service import update_user
    from extensions import db

    user_id, username = make_user(roles="operator")
    session = http_login(live_server, username)
    for _ in range(2):  # the second answer comes from the copy
        assert session.get(f"{live_server}/api/v1/tickets").status_code == 200
    with app.app_context():
        update_user(db.session.get(User, user_id), {"roles": ["editor"]})
        db.session.commit()
    assert session.get(f"{live_server}/api/v1/tickets").status_code == 403


def _token_reads(app):
    from extensions import db

    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def _watch(_conn, _cursor, statement, *_args):
        if "api_tokens" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", _watch)
    return seen, lambda: event.remove(engine, "before_cursor_execute", _watch)


def test_the_cti_token_is_read_once_and_a_revocation_applies_to_the_next_call(app, client, login):
    """The webhook's token comes from the process's copy while no token changed; revoking
    it (a committed change anywhere) makes the very next event a 401."""
    from accounts.service import create_token
    from extensions import db

    with app.app_context():
        token, raw = create_token("pbx", "cti")
        db.session.commit()
        token_id = token.id
    pbx = app.test_client()
    hangup = {"event": "hangup", "callId": "never-seen", "cause": "cancel"}
    # The first use notes last_used_at (a change: a new stamp); the second takes the copy.
    for _ in range(2):
        assert pbx.post(f"/api/v1/cti/{raw}", data=hangup).status_code == 200
    seen, stop = _token_reads(app)
    try:
        for _ in range(3):
            assert pbx.post(f"/api/v1/cti/{raw}", data=hangup).status_code == 200
    finally:
        stop()
    assert seen == []
    login(client, roles="admin")
    assert client.delete(f"/api/v1/tokens/{token_id}").status_code in (200, 204)
    refused = pbx.post(f"/api/v1/cti/{raw}", data=hangup)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"]
    assert pbx.post("/api/v1/cti/not-a-token", data=hangup).status_code == 401
