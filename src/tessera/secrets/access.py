"""Permission questions the secrets features ask, answered by `tessera.rbac.service.require_project`.

Infisical's `read` on secrets means describe *and* read the value, while roles may also grant
`describeSecret` and `readValue` separately; so "may describe" is describeSecret or read, and
"may read the value" is readValue or read. Answers are memoised for the request, because a list
asks the same question for many secrets.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tessera.auth.principal import Principal
from tessera.errors import PermissionDenied
from tessera.projects.models import Project
from tessera.rbac import service as rbac

SECRETS = "secrets"
FOLDERS = "secret-folders"
IMPORTS = "secret-imports"

_Question = tuple[str, str, str | None, str | None, str | None]


class Access:
    def __init__(self, session: Session, principal: Principal, project: Project) -> None:
        self.session = session
        self.principal = principal
        self.project = project
        self._answers: dict[_Question, PermissionDenied | None] = {}

    def _ask(
        self, action: str, subject: str, env: str | None, path: str | None, name: str | None
    ) -> PermissionDenied | None:
        question = (action, subject, env, path, name)
        if question not in self._answers:
            try:
                rbac.require_project(
                    self.session,
                    self.principal,
                    self.project,
                    action,
                    subject,
                    environment=env,
                    secret_path=path,
                    secret_name=name,
                )
                self._answers[question] = None
            except PermissionDenied as exc:
                self._answers[question] = exc
        return self._answers[question]

    def require(
        self,
        action: str,
        subject: str = SECRETS,
        *,
        env: str | None,
        path: str | None,
        name: str | None = None,
    ) -> None:
        """Raises PermissionDenied."""
        denied = self._ask(action, subject, env, path, name)
        if denied is not None:
            raise denied

    def can(
        self,
        action: str,
        subject: str = SECRETS,
        *,
        env: str | None,
        path: str | None,
        name: str | None = None,
    ) -> bool:
        return self._ask(action, subject, env, path, name) is None

    def _either(self, first: str, env: str, path: str, name: str | None) -> PermissionDenied | None:
        denied = self._ask(first, SECRETS, env, path, name)
        if denied is None:
            return None
        return self._ask("read", SECRETS, env, path, name) and denied

    def can_describe(self, env: str, path: str, name: str | None = None) -> bool:
        return self._either("describeSecret", env, path, name) is None

    def require_describe(self, env: str, path: str, name: str | None = None) -> None:
        denied = self._either("describeSecret", env, path, name)
        if denied is not None:
            raise denied

    def can_read_value(self, env: str, path: str, name: str | None) -> bool:
        return self._either("readValue", env, path, name) is None

    def require_read_value(self, env: str, path: str, name: str | None) -> None:
        denied = self._either("readValue", env, path, name)
        if denied is not None:
            raise denied
