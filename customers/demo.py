"""Demo data for the customers package (called by `flask demo`)."""


def seed(customer_count: int) -> list[str]:
    """Create demo data; return lines to print."""
    return []
