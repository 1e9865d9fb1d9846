"""Property-based tests of the routing policy (pure logic, no database)."""
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing import policy as P

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
PRESENCES = ("available", "busy", "away", "wrap_up", "offline")
SKILLS = ("ja", "en", "billing")

operators_strategy = st.lists(
    st.builds(
        P.Operator,
        id=st.integers(1, 10_000),
        tier=st.integers(1, 3),
        presence=st.sampled_from(PRESENCES),
        skills=st.frozensets(st.sampled_from(SKILLS)),
        load=st.fixed_dictionaries({ch: st.integers(0, 4) for ch in P.CHANNELS}),
        idle_since=st.integers(0, 3600).map(lambda s: NOW - timedelta(seconds=s)),
        excluded=st.frozensets(st.integers(1, 5), max_size=2),
    ),
    max_size=12, unique_by=lambda op: op.id)

items_strategy = st.builds(
    P.Item,
    id=st.integers(1, 5),
    channel=st.sampled_from(P.CHANNELS),
    rank=st.sampled_from(P.RANK_ORDER),
    priority=st.sampled_from(P.PRIORITY_ORDER),
    waiting_since=st.integers(0, 4000).map(lambda s: NOW - timedelta(seconds=s)),
    skills=st.frozensets(st.sampled_from(SKILLS), max_size=1),
)


@settings(max_examples=400, deadline=None)
@given(item=items_strategy, operators=operators_strategy)
def test_choice_is_eligible_complete_and_never_over_capacity(item, operators):
    policy = P.default_policy()
    chosen = P.choose(policy, item, operators, NOW)
    eligible = [op for op in operators if P.eligible(policy, item, op, NOW)]
    if not eligible:
        assert chosen is None
        return
    assert chosen is not None and chosen in eligible
    assert chosen.presence == "available"
    assert chosen.load[item.channel] < policy["capacity"][item.channel]
    assert item.skills <= chosen.skills and item.id not in chosen.excluded
    step = P.step_in_force(policy, item, NOW)
    assert chosen.tier >= step["min_tier"]
    if step.get("prefer") == "lowest":
        assert chosen.tier == min(op.tier for op in eligible)
        same_tier = [op for op in eligible if op.tier == chosen.tier]
        assert chosen.open_items == min(op.open_items for op in same_tier)
    else:
        assert chosen.open_items == min(op.open_items for op in eligible)


@settings(max_examples=200, deadline=None)
@given(item=items_strategy, operators=operators_strategy, later=st.integers(0, 4000))
def test_waiting_longer_only_widens_the_reach(item, operators, later):
    policy = P.default_policy()
    now_ids = {op.id for op in operators if P.eligible(policy, item, op, NOW)}
    later_ids = {op.id for op in operators if P.eligible(policy, item, op, NOW + timedelta(seconds=later))}
    assert now_ids <= later_ids


def _op(op_id, tier, **over):
    base = {"presence": "available", "skills": frozenset({"ja"}), "load": dict.fromkeys(P.CHANNELS, 0),
            "idle_since": NOW - timedelta(minutes=5)}
    base.update(over)
    return P.Operator(id=op_id, tier=tier, **base)


def _item(rank, channel="phone", waited=0, **over):
    return P.Item(id=1, channel=channel, rank=rank, priority=over.pop("priority", "normal"),
                  waiting_since=NOW - timedelta(seconds=waited), **over)


def test_platinum_goes_to_senior_even_when_junior_is_free():
    team = [_op(1, 1), _op(2, 2), _op(3, 3)]
    assert P.choose(P.default_policy(), _item("platinum"), team, NOW).id == 3


def test_bronze_goes_to_lowest_free_tier():
    team = [_op(3, 3), _op(2, 2), _op(1, 1)]
    assert P.choose(P.default_policy(), _item("bronze"), team, NOW).id == 1


def test_platinum_waits_while_seniors_are_busy_then_widens():
    policy = P.default_policy()
    busy_senior = _op(3, 3, load={**dict.fromkeys(P.CHANNELS, 0), "phone": 1})
    team = [_op(1, 1), _op(2, 2), busy_senior]
    assert P.choose(policy, _item("platinum", waited=10), team, NOW) is None
    assert P.next_widening_at(policy, _item("platinum", waited=10), NOW) == pytest.approx(20)
    assert P.choose(policy, _item("platinum", waited=31), team, NOW).id == 2
    assert P.choose(policy, _item("platinum", waited=91), [_op(1, 1)], NOW).id == 1


def test_mail_widens_later_than_phone():
    policy = P.default_policy()
    team = [_op(2, 2)]
    assert P.choose(policy, _item("platinum", "email", waited=60), team, NOW) is None
    assert P.choose(policy, _item("platinum", "email", waited=601), team, NOW).id == 2


def test_fewest_open_items_then_longest_idle():
    policy = P.default_policy()
    loaded = _op(1, 3, load={**dict.fromkeys(P.CHANNELS, 0), "email": 2})
    fresh = _op(2, 3, idle_since=NOW - timedelta(minutes=1))
    idler = _op(3, 3, idle_since=NOW - timedelta(minutes=30))
    assert P.choose(policy, _item("platinum", "email"), [loaded, fresh, idler], NOW).id == 3


def test_required_skill_and_exclusion():
    policy = P.default_policy()
    item = _item("bronze", skills=frozenset({"en"}))
    assert P.choose(policy, item, [_op(1, 1)], NOW) is None
    english = _op(2, 1, skills=frozenset({"en", "ja"}))
    assert P.choose(policy, item, [english], NOW).id == 2
    english.excluded = frozenset({1})
    assert P.choose(policy, item, [english], NOW) is None


def test_item_service_order():
    older_bronze = _item("bronze", waited=500)
    platinum = P.Item(id=2, channel="phone", rank="platinum", priority="normal", waiting_since=NOW)
    urgent_new = P.Item(id=3, channel="phone", rank="new", priority="urgent", waiting_since=NOW)
    ordered = sorted([older_bronze, platinum, urgent_new], key=P.item_order_key)
    assert [i.id for i in ordered] == [3, 2, 1]


def test_default_policy_validates_to_itself():
    assert P.validate(P.default_policy()) == P.default_policy()


@pytest.mark.parametrize("bad,field", [
    ({"offer_timeout_s": -1}, "offer_timeout_s"),
    ({"capacity": {"fax": 1}}, "capacity.fax"),
    ({"ranks": {"diamond": {}}}, "ranks.diamond"),
    ({"ranks": {"gold": {"phone": [{"min_tier": 4}]}}}, "ranks.gold.phone"),
    ({"ranks": {"gold": {"phone": [{"min_tier": 2, "after_s": 10}]}}}, "ranks.gold.phone"),
    ({"ranks": {"gold": {"phone": [{"min_tier": 3, "after_s": 0}, {"min_tier": 2, "after_s": 0}]}}}, "ranks.gold.phone"),
    ({"ranks": {"gold": {"phone": [{"min_tier": 3, "after_s": 0, "prefer": "random"}]}}}, "ranks.gold.phone"),
])
def test_invalid_policies_name_the_field(bad, field):
    with pytest.raises(P.PolicyError) as raised:
        P.validate({**P.default_policy(), **bad})
    assert field in raised.value.fields


def test_empty_step_list_means_anyone():
    policy = P.validate({**P.default_policy(), "ranks": {"gold": {"phone": []}}})
    assert P.choose(policy, _item("gold"), [_op(1, 1)], NOW).id == 1
