"""Models of the knowledge package."""
