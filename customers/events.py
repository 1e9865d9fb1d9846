"""Signals the customers package sends; higher layers connect to them in init_app."""
from blinker import signal

# sender=app, survivor_id=int, duplicate_id=int — sent inside the merge transaction
# (after the customer's own rows moved) so tickets etc. move theirs in the same one.
customers_merged = signal("customers-merged")
# sender=app, customer_id=int — a customer was created (by any path).
customer_created = signal("customer-created")
