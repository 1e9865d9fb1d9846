"""Email for tickets: the inbound SMTP listener (``flask mail``), parsing and threading
of stored mail, and outbound replies over ``SMTP_URL``."""
