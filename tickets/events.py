"""Signals the tickets package sends; higher layers (routing) connect to them in init_app.

Signals are sent by ``tickets.service`` inside the transaction, after the ticket row is
flushed, so a receiver may assign in the same transaction or defer its work with
``core.db.on_commit`` / ``core.jobs.enqueue`` (both run only after commit).

Real-time pushes (after commit, through ``core.realtime.push``) — CONTRACT §4:
  ``ticket_updated {ticket_id, version}`` to the ticket's room and the assignee's room;
  ``ticket_assigned {ticket_id}`` to the new assignee's room;
  ``ticket_viewers {ticket_id, viewers: [{id, name, typing}]}`` to the ticket's room;
  ``sla_warning {ticket_id, kind: first_response|resolution, due_at, breached}`` to the
  assignee and the supervisors (an addition: warnings before and at breach).
"""
from blinker import signal

# sender=app, ticket_id=int, reason="created"|"reopened"|"returned", channel=str, rank=str —
# a ticket waits for an operator (``waiting_since`` says since when).
ticket_needs_routing = signal("ticket-needs-routing")
# sender=app, ticket_id=int, changes={field: [old, new]} — after any change by a person or job.
ticket_changed = signal("ticket-changed")
