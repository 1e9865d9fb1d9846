"""Plumbing that knows no domain: database base, errors, Redis, jobs, real time, audit."""
