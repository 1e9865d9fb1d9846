"""Several nodes on one database and one Redis (issue 8 point 1): two `./run.sh web` on
different ports, two `./run.sh worker` and `./run.sh mail`, all real processes.  A call
posted to node A pops on an operator connected to node B; supervisors on A and B receive
the same board; a periodic job runs once per period, not once per worker."""
import math

import pytest
import redis
import requests

from tests.conftest import http_login
from tests.nodes import Cluster, Console, wait_http, wait_smtp, wait_until
from tests.test_mail_helpers import mail, send

pytestmark = pytest.mark.processes


@pytest.fixture(scope="module")
def nodes(app, database_url, redis_url):
    cluster = Cluster(database_url, redis_url)
    try:
        web_a, web_b = cluster.start("web"), cluster.start("web")
        workers = [cluster.start("worker"), cluster.start("worker")]
        mail_node = cluster.start("mail")
        for web in (web_a, web_b):
            wait_http(web.url, web.process)
        wait_smtp(mail_node.port)
        for worker in workers:
            worker.child()
        yield {"a": web_a, "b": web_b, "workers": workers, "mail": mail_node}
    finally:
        cluster.stop()


@pytest.fixture
def cti_token(app):
    from accounts.service import create_token
    from extensions import db

    with app.app_context():
        _, raw = create_token("pbx-multinode", "cti")
        db.session.commit()
    return raw


def test_call_posted_to_node_a_pops_on_an_operator_connected_to_node_b(nodes, cti_token, make_user):
    a, b = nodes["a"], nodes["b"]
    make_user("mn-op", roles="operator", tier=3, extension="401")
    operator = Console(b.url, http_login(b.url, "mn-op"))
    try:
        assert operator.call("presence", {"presence": "available"})["presence"] == "available"
        answer = requests.post(f"{a.url}/api/v1/cti/{cti_token}", timeout=15, data={
            "event": "newCall", "from": "0312345678", "to": "0501111", "direction": "in", "callId": "mn-1"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"action": "dial", "user": "mn-op", "extension": "401"}
        pop = operator.wait_for("screen_pop", lambda d: d["call_id"] == "mn-1")
        assert pop["caller"] == "+81312345678"
        offer = operator.wait_for("offer", lambda d: d["ticket_id"] == pop["ticket_id"])
        assert offer["channel"] == "phone"
    finally:
        operator.close()


def test_supervisors_on_either_node_see_the_same_board(nodes, make_user):
    """A mail arriving at the mail node becomes a waiting ticket (a worker parses it); the
    worker's queue_stats push reaches supervisors on both web nodes, and so does a presence
    change made on node A."""
    a, b = nodes["a"], nodes["b"]
    make_user("mn-sup-a", roles="supervisor")
    make_user("mn-sup-b", roles="supervisor")
    make_user("mn-agent", roles="operator")
    on_a = Console(a.url, http_login(a.url, "mn-sup-a"))
    on_b = Console(b.url, http_login(b.url, "mn-sup-b"))
    agent = Console(a.url, http_login(a.url, "mn-agent"))
    try:
        send(nodes["mail"].port, mail(subject="複数ノード", sender="multi@example.jp"))

        def waiting_mail(data):
            return any(c["channel"] == "email" and c["waiting"] == 1 for c in data["items"])

        seen_a = on_a.wait_for("queue_stats", waiting_mail, timeout=30)
        seen_b = on_b.wait_for("queue_stats", waiting_mail, timeout=30)
        assert seen_a == seen_b  # the same push, fanned out through Redis to both nodes

        agent.call("presence", {"presence": "away"})
        for supervisor in (on_a, on_b):
            event = supervisor.wait_for("operator_presence", lambda d: d["username"] == "mn-agent")
            assert event["presence"] == "away"
    finally:
        for client in (on_a, on_b, agent):
            client.close()


def test_a_periodic_job_runs_once_per_period_not_once_per_worker(nodes, redis_url):
    """Both workers tick every second; ``queue-stats`` (every 1 s) must be enqueued once per
    second in all.  Each job is created within moments of its tick, so n jobs from n
    distinct periods span at least n - 2 whole seconds; once per worker would be ~2 per second."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    connection = redis.Redis.from_url(redis_url)

    def periodic_jobs():
        ids = [key.decode().split(":", 2)[2] for key in connection.scan_iter("rq:job:*")
               if key.decode().count(":") == 2]
        found = []
        for job_id in ids:
            try:
                job = Job.fetch(job_id, connection=connection)
            except NoSuchJobError:  # deleted by the cleanup while a worker was starting it
                continue
            if job.func_name == "routing.jobs.push_queue_stats" and job.worker_name:
                found.append(job)
        return found

    # Records since the cluster started or the last test's cleanup: enough of them, taken by both workers.
    jobs = wait_until(lambda: (found := periodic_jobs()) and len(found) >= 6
                      and len({j.worker_name for j in found}) >= 2 and found, 30, 0.5,
                      "periodic jobs run by both workers")
    created = sorted(j.created_at.timestamp() for j in jobs)
    span = math.floor(created[-1]) - math.floor(created[0])
    assert len(jobs) <= span + 2, f"{len(jobs)} runs in {span + 1} periods"
