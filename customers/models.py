"""Models of the customers package."""
