"""``flask users add`` and ``flask tokens add`` (CONTRACT §2, §8)."""


def test_users_add_creates_user_with_all_fields(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "add", "suzuki", "--password", "pass-word-1", "--roles",
                                 "operator,supervisor", "--tier", "3", "--skills", "ja,en,billing",
                                 "--extension", "205", "--name", "鈴木 次郎"])
    assert result.exit_code == 0, result.output
    from accounts.service import find_user

    with app.app_context():
        user = find_user("suzuki")
        assert user.roles == ["operator", "supervisor"] and user.tier == 3
        assert user.skills == ["billing", "en", "ja"] and user.extension == "205" and user.name == "鈴木 次郎"


def test_users_add_existing_exits_nonzero_and_changes_nothing(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "add", "dup", "--password", "first-pass"]).exit_code == 0
    result = runner.invoke(args=["users", "add", "dup", "--password", "second-pass", "--tier", "3"])
    assert result.exit_code != 0
    assert "already exists" in result.output
    from accounts.service import authenticate, find_user

    with app.app_context():
        assert find_user("dup").tier == 1
        assert authenticate("dup", "first-pass") is not None


def test_users_add_rejects_unknown_role(app):
    result = app.test_cli_runner().invoke(args=["users", "add", "x1", "--password", "pass-word", "--roles", "boss"])
    assert result.exit_code != 0 and "Unknown role" in result.output


def test_tokens_add_prints_token_alone_on_last_line_and_always_new(app, client):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["tokens", "add", "integration", "--scope", "api"])
    second = runner.invoke(args=["tokens", "add", "integration", "--scope", "api"])
    assert first.exit_code == 0 and second.exit_code == 0
    token1 = first.output.strip().splitlines()[-1]
    token2 = second.output.strip().splitlines()[-1]
    assert token1 != token2 and " " not in token1
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token1}"}).status_code == 200


def test_demo_seeds_users_once(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "--if-empty", "--customers", "0"])
    assert first.exit_code == 0 and "senior" in first.output
    second = runner.invoke(args=["demo", "--if-empty"])
    assert "skipped" in second.output and "tsunagu-demo" in second.output
