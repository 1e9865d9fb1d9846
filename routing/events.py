"""Signals routing sends; the console connects to them."""
from blinker import signal

# sender=app, offer_id=int, ticket_id=int, operator_id=int, channel=str — an item was
# offered to an operator (in the current transaction; push after commit).
offer_created = signal("offer-created")
# sender=app, offer_id=int, ticket_id=int, operator_id=int, decision=accepted|rejected|expired|revoked
offer_decided = signal("offer-decided")
