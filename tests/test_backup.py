"""flask backup / restore: a consistent SQLite copy and restore; on PostgreSQL the command
refuses and points to pg_dump (CONTRACT §1 data safety, README)."""
from tests.conftest import BACKEND


def test_backup_then_restore_brings_the_data_back(app, make_user, tmp_path):
    from accounts.service import find_user

    make_user("before-backup")
    runner = app.test_cli_runner()
    target = tmp_path / "tsunagu.backup.db"
    result = runner.invoke(args=["backup", str(target)])
    if BACKEND == "postgresql":
        assert result.exit_code != 0 and "pg_dump" in result.output
        return
    assert result.exit_code == 0, result.output
    make_user("after-backup")
    result = runner.invoke(args=["restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert find_user("before-backup") is not None
        assert find_user("after-backup") is None


def test_restore_refuses_a_file_that_is_not_a_backup(app, tmp_path):
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"not a database at all" * 100)
    result = app.test_cli_runner().invoke(args=["restore", str(bogus), "--yes"])
    assert result.exit_code != 0
