"""Imports every feature's models so that `Base.metadata` is complete (migrations, tests)."""

from tessera.audit import models as audit_models
from tessera.identities import models as identity_models
from tessera.orgs import models as org_models
from tessera.projects import models as project_models
from tessera.store.base import Base

__all__ = ["Base", "audit_models", "identity_models", "org_models", "project_models"]
