"""Presence, capacity, policy, offers, the assignment engine and queue stats."""
