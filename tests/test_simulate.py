"""The simulator drives the real CTI webhook of a real web process."""
import pytest

pytestmark = pytest.mark.processes


def test_simulator_calls_land_in_the_caller_log(app, live_server, make_user):
    from accounts.models import User
    from accounts.service import create_token
    from console.models import Call
    from console.simulate import Simulator
    from customers import service
    from extensions import db
    from routing.presence import set_presence

    user_id, _ = make_user("sim-op", roles="operator", tier=2, extension="250")
    with app.app_context():
        set_presence(db.session.get(User, user_id), "available")
        service.create({"name": "佐藤 健", "phones": ["03-2222-3333"], "emails": ["ken@example.jp"]})
        _, token = create_token("sim-test", "cti")
        db.session.commit()
    people = [{"name": "佐藤 健", "phones": ["+81322223333"], "emails": ["ken@example.jp"]}]
    simulator = Simulator(live_server, token, None, "support.example.test", people, talk_scale=0.02, seed=3,
                          log=lambda line: None)
    counts = simulator.run(calls_per_minute=600, mails_per_minute=0, duration_s=5)
    assert counts["calls"] >= 5 and counts["errors"] == 0
    with app.app_context():
        calls = db.session.scalars(db.select(Call)).all()
        assert len(calls) >= counts["calls"]
        assert any(c.operator_id == user_id for c in calls)
        assert all(c.call_id.startswith("sim-") for c in calls)
