"""Imports every feature's models so that `Base.metadata` is complete (migrations, tests)."""

from tessera.audit import models as audit_models
from tessera.auth.azure import models as azure_auth_models
from tessera.auth.refresh import models as refresh_auth_models
from tessera.auth.token import models as token_auth_models
from tessera.auth.universal import models as universal_auth_models
from tessera.console import models as console_models
from tessera.identities import models as identity_models
from tessera.kms_keys import models as kms_key_models
from tessera.orgs import models as org_models
from tessera.projects import models as project_models
from tessera.ratelimit import models as rate_limit_models
from tessera.rbac import models as rbac_models
from tessera.secrets import models as secret_models
from tessera.store.base import Base

__all__ = [
    "Base",
    "audit_models",
    "azure_auth_models",
    "console_models",
    "identity_models",
    "kms_key_models",
    "org_models",
    "project_models",
    "rate_limit_models",
    "rbac_models",
    "refresh_auth_models",
    "secret_models",
    "token_auth_models",
    "universal_auth_models",
]
