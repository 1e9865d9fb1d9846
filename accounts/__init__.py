"""Users, roles, tiers, skills, API tokens, login and permissions."""
