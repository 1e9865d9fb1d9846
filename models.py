"""Imports every model so the metadata (and Alembic's autogenerate) sees all tables."""
import console.models  # noqa: F401
import customers.models  # noqa: F401
import knowledge.models  # noqa: F401
import tickets.models  # noqa: F401
from accounts.models import ApiToken, User  # noqa: F401
from core.audit import AuditEntry  # noqa: F401
from routing.models import OperatorState  # noqa: F401
