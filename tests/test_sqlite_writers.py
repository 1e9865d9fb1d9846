"""SQLite writers take turns through a lock file (core.sqlite_writers): the turn is taken
at the first write of a transaction and always given back, readers never wait, and
writers in several processes lose nothing."""
import fcntl
import multiprocessing
import os
import sqlite3
import threading
import time

import pytest

from core.sqlite_writers import TakingTurnsConnection


def _connect(path):
    connection = sqlite3.connect(path, factory=TakingTurnsConnection, timeout=10, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    return connection


def _turn_is_free(path) -> bool:
    fd = os.open(f"{path}-writers.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@pytest.fixture
def database(tmp_path):
    path = str(tmp_path / "turns.db")
    with _connect(path) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, who TEXT)")
    return path


def test_the_turn_spans_the_write_transaction_only(database):
    connection = _connect(database)
    connection.execute("SELECT count(*) FROM items").fetchone()
    assert _turn_is_free(database)  # a read takes no turn
    connection.execute("INSERT INTO items (who) VALUES ('a')")
    assert not _turn_is_free(database)
    connection.commit()
    assert _turn_is_free(database)
    connection.execute("UPDATE items SET who = 'b'")
    connection.rollback()
    assert _turn_is_free(database)
    with pytest.raises(sqlite3.OperationalError):
        connection.execute("INSERT INTO nowhere VALUES (1)")  # fails before any transaction
    assert _turn_is_free(database)
    connection.close()


def test_a_second_writer_waits_for_the_commit_and_a_reader_does_not(database):
    first, second, reader = _connect(database), _connect(database), _connect(database)
    first.execute("INSERT INTO items (who) VALUES ('first')")
    done = threading.Event()

    def write():
        second.execute("INSERT INTO items (who) VALUES ('second')")
        second.commit()
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert reader.execute("SELECT count(*) FROM items").fetchone() == (0,)  # not blocked
    assert not done.wait(0.2)  # the second writer waits for its turn
    first.commit()
    assert done.wait(5)
    thread.join()
    assert [row[0] for row in reader.execute("SELECT who FROM items ORDER BY id")] == ["first", "second"]
    for connection in (first, second, reader):
        connection.close()


def _writer(path: str, name: str, count: int) -> None:
    connection = _connect(path)
    for index in range(count):
        connection.execute("INSERT INTO items (who) VALUES (?)", (f"{name}-{index}",))
        connection.execute("UPDATE items SET who = who WHERE id = (SELECT max(id) FROM items)")
        connection.commit()
    connection.close()


def test_writers_in_several_processes_lose_nothing(database):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(database, f"p{n}", 150)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    with _connect(database) as connection:
        assert connection.execute("SELECT count(*), count(DISTINCT who) FROM items").fetchone() == (600, 600)


def test_the_wal_is_checkpointed_by_a_thread_of_its_own_not_in_the_commit(database, monkeypatch):
    """Automatic checkpoints are off (they would run inside COMMIT, in the turn); a large
    WAL is checkpointed by the process's checkpoint thread, never by the committing
    connection (a request would wait for the copy before its pushes)."""
    import core.sqlite_writers as writers

    monkeypatch.setattr(writers, "CHECKPOINT_BYTES", 64 * 1024)
    connection = _connect(database)
    assert connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    in_commit = []
    connection.set_trace_callback(lambda sql: in_commit.append(sql) if "wal_checkpoint" in sql else None)
    for index in range(50):
        connection.execute("INSERT INTO items (who) VALUES (?)", ("x" * 4000 + str(index),))
        connection.commit()
    checkpointer = writers.Checkpointer.of(str(database))
    deadline = time.monotonic() + 10
    while checkpointer.done == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert checkpointer.done >= 1 and in_commit == []
    done = checkpointer.done
    checkpointer.ask()  # once more, after the last commit: the whole WAL is copied
    while checkpointer.done == done and time.monotonic() < deadline:
        time.sleep(0.01)
    size_before = os.path.getsize(f"{database}-wal")
    for index in range(20):  # a checkpointed WAL is reused from its start: it stops growing
        connection.execute("INSERT INTO items (who) VALUES (?)", (str(index),))
        connection.commit()
    assert os.path.getsize(f"{database}-wal") <= size_before
    connection.close()
