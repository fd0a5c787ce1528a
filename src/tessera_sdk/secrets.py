"""Secrets (`/api/v4/secrets`): list, get, create, update, delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tessera_sdk._resource import Requester, flag, segment
from tessera_sdk.errors import TesseraError
from tessera_sdk.models import Secret, SecretImport, SecretList

BASE = "/api/v4/secrets"


class SecretsResource:
    def __init__(self, client: Requester) -> None:
        self._client = client

    def list(
        self,
        project_id: str,
        environment: str,
        path: str = "/",
        *,
        recursive: bool = False,
        expand_references: bool = True,
        include_imports: bool = False,
        tag_slugs: Sequence[str] | None = None,
        if_none_match: str | None = None,
    ) -> SecretList:
        """The secrets of a folder. With `if_none_match` (a previous `etag`), an unchanged list
        comes back as `SecretList(not_modified=True)` without a body."""
        params = {
            "projectId": project_id,
            "environment": environment,
            "secretPath": path,
            "recursive": flag(recursive),
            "expandSecretReferences": flag(expand_references),
            # v4 takes the camelCase form, v3 the snake_case one; servers accept both.
            "includeImports": flag(include_imports),
            "include_imports": flag(include_imports),
            "tagSlugs": ",".join(tag_slugs) if tag_slugs else None,
        }
        headers = {"If-None-Match": if_none_match} if if_none_match else None
        response = self._client.request("GET", BASE, params=params, headers=headers)
        etag = response.headers.get("etag")
        if response.status_code == 304:
            return SecretList(etag=etag or if_none_match, not_modified=True)
        body = response.json()
        return SecretList(
            secrets=[Secret.model_validate(item) for item in body.get("secrets", [])],
            imports=[SecretImport.model_validate(item) for item in body.get("imports", []) or []],
            etag=etag,
        )

    def get(
        self,
        name: str,
        project_id: str,
        environment: str,
        path: str = "/",
        *,
        expand_references: bool = True,
        include_imports: bool = False,
        version: int | None = None,
    ) -> Secret:
        params = {
            "projectId": project_id,
            "environment": environment,
            "secretPath": path,
            "type": "shared",
            "expandSecretReferences": flag(expand_references),
            "includeImports": flag(include_imports),
            "include_imports": flag(include_imports),
            "version": version,
        }
        return _secret(self._client.request_json("GET", f"{BASE}/{segment(name)}", params=params))

    def create(
        self,
        name: str,
        value: str,
        project_id: str,
        environment: str,
        path: str = "/",
        *,
        comment: str = "",
        skip_multiline_encoding: bool | None = None,
        tag_ids: Sequence[str] | None = None,
    ) -> Secret:
        body: dict[str, Any] = {
            "projectId": project_id,
            "environment": environment,
            "secretPath": path,
            "secretValue": value,
            "secretComment": comment,
            "type": "shared",
        }
        if skip_multiline_encoding is not None:
            body["skipMultilineEncoding"] = skip_multiline_encoding
        if tag_ids is not None:
            body["tagIds"] = list(tag_ids)
        return _secret(self._client.request_json("POST", f"{BASE}/{segment(name)}", json=body))

    def update(
        self,
        name: str,
        project_id: str,
        environment: str,
        path: str = "/",
        *,
        value: str | None = None,
        new_name: str | None = None,
        comment: str | None = None,
    ) -> Secret:
        body: dict[str, Any] = {
            "projectId": project_id,
            "environment": environment,
            "secretPath": path,
            "type": "shared",
        }
        optional = {"secretValue": value, "newSecretName": new_name, "secretComment": comment}
        body.update({key: item for key, item in optional.items() if item is not None})
        return _secret(self._client.request_json("PATCH", f"{BASE}/{segment(name)}", json=body))

    def delete(self, name: str, project_id: str, environment: str, path: str = "/") -> Secret:
        body = {"projectId": project_id, "environment": environment, "secretPath": path, "type": "shared"}
        return _secret(self._client.request_json("DELETE", f"{BASE}/{segment(name)}", json=body))


def _secret(body: dict[str, Any]) -> Secret:
    if "secret" not in body:
        # An approval policy intercepted the change: nothing was written yet.
        raise TesseraError("the change was submitted for approval and has not been applied")
    return Secret.model_validate(body["secret"])
