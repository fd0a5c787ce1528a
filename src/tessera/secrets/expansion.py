"""The I/O side of reference expansion: the lookup the pure expander calls, with permission checks.

A reference to a secret the caller may not read fails the whole request with 403 — checked before
looking the secret up, so the answer is the same whether or not it exists.
"""

from __future__ import annotations

from tessera.errors import Forbidden, TesseraError
from tessera.projects.models import Project
from tessera.secrets import repository as repo
from tessera.secrets.access import Access
from tessera.secrets.core import Ctx, SecretView, location, open_row
from tessera.secrets.datakeys import ProjectKeys
from tessera.secrets.names import normalise_path
from tessera.secrets.references import Ref, apply_multiline_quirk, expand


class ReferenceResolver:
    """Resolves references within one project for one request, caching what it fetched."""

    def __init__(self, ctx: Ctx, project: Project, access: Access, keys: ProjectKeys) -> None:
        self.ctx = ctx
        self.project = project
        self.access = access
        self.keys = keys
        self._values: dict[Ref, str | None] = {}

    def lookup(self, ref: Ref, origin: Ref) -> str | None:
        try:
            path = normalise_path(ref.path)
        except TesseraError:
            return None
        ref = Ref(ref.environment, path, ref.key)
        if not self.access.can_read_value(ref.environment, ref.path, ref.key):
            raise Forbidden(
                f"You do not have permission to read secret '{ref.key}' in environment "
                f"'{ref.environment}' at path '{ref.path}', which is referenced by secret "
                f"'{origin.key}' in environment '{origin.environment}' at path '{origin.path}'.",
                reason="reference_forbidden",
            )
        if ref not in self._values:
            self._values[ref] = self._fetch(ref)
        return self._values[ref]

    def _fetch(self, ref: Ref) -> str | None:
        hit = repo.locate_secret(
            self.ctx.session, self.project.id, ref.environment, ref.path, self.keys.blind_index(ref.key)
        )
        if hit is None:
            return None
        return open_row(self.keys, location(self.project, hit.env, hit.folder), hit.secret).value

    def expand_view(self, view: SecretView) -> None:
        """Expand in place (values only; hidden values stay masked, stored values never change)."""
        if view.hidden or "${" not in view.value:
            return
        origin = Ref(view.env_slug, view.path, view.key)
        expanded = expand(view.value, origin, self.lookup)
        view.value = apply_multiline_quirk(expanded, view.skip_multiline_encoding)
