"""The routing policy: which operators may take an item, and which of them is best.

Pure functions over plain data (no database), so they can be tested exhaustively and
called inside the locking transaction of the engine.

Policy document (CONTRACT §8)::

    {"version": 1, "offer_timeout_s": 20, "wrap_up_s": 30,
     "capacity": {"phone": 1, "email": 3, "web": 3, "chat": 2},
     "ranks": {"platinum": {"phone": [{"min_tier": 3, "after_s": 0}, …], "email": […], …}, …}}

For an item that has waited ``w`` seconds the step in force is the last one whose
``after_s`` ≤ ``w``; operators of that step's ``min_tier`` or higher are eligible.  A step
may say ``"prefer": "lowest"`` (lowest free tier first, to keep seniors free for loyal
customers) or ``"highest"``; otherwise among eligible operators the one with the fewest
open items wins, then the one idle longest.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime

RANK_ORDER = ("platinum", "gold", "silver", "bronze", "new")
CHANNELS = ("phone", "email", "web", "chat")
PRIORITY_ORDER = ("urgent", "high", "normal", "low")
PREFERENCES = ("lowest", "highest")
TIERS = (1, 2, 3)
DEFAULT_CAPACITY = {"phone": 1, "email": 3, "web": 3, "chat": 2}
# Items an operator may be holding at once, whatever the channel mix.
PRESENCE_TAKING_WORK = "available"


def _senior_first(fast_s: int, slow_s: int) -> list[dict]:
    return [{"min_tier": 3, "after_s": 0}, {"min_tier": 2, "after_s": fast_s}, {"min_tier": 1, "after_s": slow_s}]


def _experienced_first(after_s: int) -> list[dict]:
    return [{"min_tier": 2, "after_s": 0}, {"min_tier": 1, "after_s": after_s}]


LOWEST_FIRST = [{"min_tier": 1, "after_s": 0, "prefer": "lowest"}]


def default_policy() -> dict:
    """The default of CONTRACT §3: platinum → tier 3 first, widening to ≥2 after 30 s on
    the phone (10 min for mail), then anyone; gold → ≥2 first; the rest lowest tier first."""
    realtime = {"phone", "chat"}
    ranks = {
        "platinum": {ch: _senior_first(30, 90) if ch in realtime else _senior_first(600, 1800) for ch in CHANNELS},
        "gold": {ch: _experienced_first(60) if ch in realtime else _experienced_first(1800) for ch in CHANNELS},
    }
    for rank in ("silver", "bronze", "new"):
        ranks[rank] = {ch: copy.deepcopy(LOWEST_FIRST) for ch in CHANNELS}
    return {"version": 1, "offer_timeout_s": 20, "wrap_up_s": 30, "reject_cooldown_s": 120,
            "capacity": dict(DEFAULT_CAPACITY), "ranks": ranks}


class PolicyError(ValueError):
    def __init__(self, fields: dict):
        super().__init__("invalid routing policy")
        self.fields = fields


def validate(document: dict) -> dict:
    """A normalised copy of ``document``; raises PolicyError naming every bad field."""
    errors: dict[str, list[str]] = {}
    if not isinstance(document, dict):
        raise PolicyError({"_schema": ["must be an object"]})
    base = default_policy()
    result = {"version": document.get("version", base["version"])}
    for key, low, high in (("offer_timeout_s", 5, 600), ("wrap_up_s", 0, 3600), ("reject_cooldown_s", 0, 86400)):
        value = document.get(key, base[key])
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[key] = [f"an integer from {low} to {high}"]
        result[key] = value
    capacity = document.get("capacity", base["capacity"])
    if not isinstance(capacity, dict):
        errors["capacity"] = ["an object of channel → integer"]
        capacity = {}
    result["capacity"] = dict(base["capacity"])
    for channel, value in capacity.items():
        if channel not in CHANNELS:
            errors[f"capacity.{channel}"] = [f"unknown channel; use {', '.join(CHANNELS)}"]
        elif not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 50:
            errors[f"capacity.{channel}"] = ["an integer from 0 to 50"]
        else:
            result["capacity"][channel] = value
    ranks = document.get("ranks", base["ranks"])
    if not isinstance(ranks, dict):
        errors["ranks"] = ["an object of rank → channel → steps"]
        ranks = {}
    result["ranks"] = copy.deepcopy(base["ranks"])
    for rank, channels in ranks.items():
        if rank not in RANK_ORDER:
            errors[f"ranks.{rank}"] = [f"unknown rank; use {', '.join(RANK_ORDER)}"]
            continue
        if not isinstance(channels, dict):
            errors[f"ranks.{rank}"] = ["an object of channel → steps"]
            continue
        for channel, steps in channels.items():
            where = f"ranks.{rank}.{channel}"
            if channel not in CHANNELS:
                errors[where] = [f"unknown channel; use {', '.join(CHANNELS)}"]
                continue
            problems = _step_problems(steps)
            if problems:
                errors[where] = problems
            else:
                result["ranks"][rank][channel] = [_normal_step(s) for s in steps]
    if errors:
        raise PolicyError(errors)
    return result


def _step_problems(steps) -> list[str]:
    if not isinstance(steps, list):
        return ["a list of steps"]
    problems, last_after = [], -1
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            problems.append(f"step {index}: an object")
            continue
        tier, after = step.get("min_tier"), step.get("after_s", 0)
        if not isinstance(tier, int) or isinstance(tier, bool) or tier not in (1, 2, 3):
            problems.append(f"step {index}: min_tier must be 1, 2 or 3")
        if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= 86400:
            problems.append(f"step {index}: after_s must be an integer from 0 to 86400")
        elif after <= last_after:
            problems.append(f"step {index}: after_s must increase from step to step")
        else:
            last_after = after
        if step.get("prefer") not in (None, *PREFERENCES):
            problems.append(f"step {index}: prefer must be lowest or highest")
        unknown = set(step) - {"min_tier", "after_s", "prefer"}
        if unknown:
            problems.append(f"step {index}: unknown keys {', '.join(sorted(unknown))}")
    if steps and isinstance(steps[0], dict) and steps[0].get("after_s", 0) != 0:
        problems.append("the first step must start at after_s 0")
    return problems


def _normal_step(step: dict) -> dict:
    normal = {"min_tier": step["min_tier"], "after_s": step.get("after_s", 0)}
    if step.get("prefer"):
        normal["prefer"] = step["prefer"]
    return normal


# --- decisions ---------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    id: int
    channel: str
    rank: str
    priority: str
    waiting_since: datetime
    skills: frozenset = frozenset()


@dataclass
class Operator:
    id: int
    tier: int
    presence: str
    skills: frozenset
    load: dict  # channel → active items
    idle_since: datetime
    excluded: frozenset = field(default_factory=frozenset)  # item ids this operator rejected lately

    @property
    def open_items(self) -> int:
        return sum(self.load.values())  # "_other" (loads on other channels) included


def steps_for(policy: dict, rank: str, channel: str) -> list[dict]:
    steps = policy["ranks"].get(rank, {}).get(channel) or []
    return steps or [{"min_tier": 1, "after_s": 0}]


def step_in_force(policy: dict, item: Item, now: datetime) -> dict:
    waited = (now - item.waiting_since).total_seconds()
    current = None
    for step in steps_for(policy, item.rank, item.channel):
        if step["after_s"] <= waited:
            current = step
    return current or steps_for(policy, item.rank, item.channel)[0]


def tiers_in_order(step: dict) -> list[int] | None:
    """The tiers a step may use, in its preferred order; None when it has no preference
    (then every allowed tier is equal and load decides)."""
    allowed = [tier for tier in TIERS if tier >= step["min_tier"]]
    prefer = step.get("prefer")
    if prefer == "lowest":
        return allowed
    if prefer == "highest":
        return allowed[::-1]
    return None


def next_widening_at(policy: dict, item: Item, now: datetime) -> float | None:
    """Seconds from ``now`` until the next step widens the item's reach, or None."""
    waited = (now - item.waiting_since).total_seconds()
    for step in steps_for(policy, item.rank, item.channel):
        if step["after_s"] > waited:
            return step["after_s"] - waited
    return None


def has_room(policy: dict, operator: Operator, channel: str) -> bool:
    return operator.load.get(channel, 0) < policy["capacity"].get(channel, DEFAULT_CAPACITY.get(channel, 1))


def eligible(policy: dict, item: Item, operator: Operator, now: datetime) -> bool:
    """May ``operator`` take ``item`` now?"""
    step = step_in_force(policy, item, now)
    return (operator.presence == PRESENCE_TAKING_WORK
            and operator.tier >= step["min_tier"]
            and item.skills <= operator.skills
            and item.id not in operator.excluded
            and has_room(policy, operator, item.channel))


def ranked_operators(policy: dict, item: Item, operators: list[Operator], now: datetime) -> list[Operator]:
    """Eligible operators, best first."""
    prefer = step_in_force(policy, item, now).get("prefer")
    candidates = [op for op in operators if eligible(policy, item, op, now)]

    def key(op: Operator):
        tier_key = op.tier if prefer == "lowest" else (-op.tier if prefer == "highest" else 0)
        return (tier_key, op.open_items, op.idle_since, op.id)

    return sorted(candidates, key=key)


def choose(policy: dict, item: Item, operators: list[Operator], now: datetime) -> Operator | None:
    ranked = ranked_operators(policy, item, operators, now)
    return ranked[0] if ranked else None


def item_order_key(item: Item) -> tuple:
    """Waiting items in service order: priority, then rank (platinum first), then age."""
    priority = PRIORITY_ORDER.index(item.priority) if item.priority in PRIORITY_ORDER else 2
    rank = RANK_ORDER.index(item.rank) if item.rank in RANK_ORDER else len(RANK_ORDER)
    return (priority, rank, item.waiting_since, item.id)


def best_item_for(policy: dict, operator: Operator, items: list[Item], now: datetime) -> Item | None:
    """The first waiting item (in service order) this operator may take now."""
    for item in sorted(items, key=item_order_key):
        if eligible(policy, item, operator, now):
            return item
    return None
