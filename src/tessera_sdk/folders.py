"""Folders (`/api/v2/folders`): list, create, delete."""

from __future__ import annotations

from typing import Any

from tessera_sdk._resource import Requester, flag, segment
from tessera_sdk.models import Folder

BASE = "/api/v2/folders"


class FoldersResource:
    def __init__(self, client: Requester) -> None:
        self._client = client

    def list(
        self, project_id: str, environment: str, path: str = "/", *, recursive: bool = False
    ) -> list[Folder]:
        params = {
            "projectId": project_id,
            "environment": environment,
            "path": path,
            "recursive": flag(recursive),
        }
        body = self._client.request_json("GET", BASE, params=params)
        return [Folder.model_validate(item) for item in body.get("folders", [])]

    def create(
        self, name: str, project_id: str, environment: str, path: str = "/", *, description: str | None = None
    ) -> Folder:
        body: dict[str, Any] = {
            "projectId": project_id,
            "environment": environment,
            "name": name,
            "path": path,
        }
        if description is not None:
            body["description"] = description
        return Folder.model_validate(self._client.request_json("POST", BASE, json=body)["folder"])

    def delete(self, folder_id_or_name: str, project_id: str, environment: str, path: str = "/") -> Folder:
        body = {"projectId": project_id, "environment": environment, "path": path}
        response = self._client.request_json("DELETE", f"{BASE}/{segment(folder_id_or_name)}", json=body)
        return Folder.model_validate(response["folder"])
