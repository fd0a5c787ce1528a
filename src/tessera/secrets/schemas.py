"""Wire schemas (request bodies) for secrets, folders, imports, tags and versions.

Strict types: an object or list where a string belongs is a 422 (never an operator injection),
and unknown fields are dropped as Infisical does. Validation messages never echo input.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tessera.secrets.service import BatchItem, SecretWrite

MAX_BATCH = 500


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ProjectRef(_In):
    """Infisical clients name the project in several ways; any one of them will do."""

    workspace_id: str | None = Field(None, alias="workspaceId", max_length=64)
    project_id: str | None = Field(None, alias="projectId", max_length=64)
    project_slug: str | None = Field(None, alias="projectSlug", max_length=64)
    workspace_slug: str | None = Field(None, alias="workspaceSlug", max_length=64)

    @property
    def any_id(self) -> str | None:
        return self.project_id or self.workspace_id

    @property
    def any_slug(self) -> str | None:
        return self.project_slug or self.workspace_slug


class MetadataIn(_In):
    key: str = Field(min_length=1, max_length=255)
    value: str = Field("", max_length=1020)
    is_encrypted: bool = Field(False, alias="isEncrypted")


class _SecretFields(_In):
    secret_comment: str | None = Field(None, alias="secretComment")
    tag_ids: list[str] | None = Field(None, alias="tagIds", max_length=100)
    skip_multiline_encoding: bool | None = Field(None, alias="skipMultilineEncoding")
    secret_reminder_repeat_days: int | None = Field(None, alias="secretReminderRepeatDays", ge=0, le=3650)
    secret_reminder_note: str | None = Field(None, alias="secretReminderNote", max_length=1024)
    secret_metadata: list[MetadataIn] | None = Field(None, alias="secretMetadata", max_length=100)

    def write(self, value: str | None, **extra: Any) -> SecretWrite:
        return SecretWrite(
            value=value,
            comment=self.secret_comment,
            tag_ids=self.tag_ids,
            skip_multiline_encoding=self.skip_multiline_encoding,
            reminder_repeat_days=self.secret_reminder_repeat_days,
            reminder_note=self.secret_reminder_note,
            metadata=[m.model_dump(by_alias=True) for m in self.secret_metadata]
            if self.secret_metadata is not None
            else None,
            **extra,
        )


class SecretCreateIn(ProjectRef, _SecretFields):
    environment: str = Field(min_length=1, max_length=64)
    secret_path: str = Field("/", alias="secretPath")
    secret_value: str = Field(alias="secretValue")
    type: Literal["shared", "personal"] = "shared"


class SecretUpdateIn(ProjectRef, _SecretFields):
    environment: str = Field(min_length=1, max_length=64)
    secret_path: str = Field("/", alias="secretPath")
    secret_value: str | None = Field(None, alias="secretValue")
    new_secret_name: str | None = Field(None, alias="newSecretName")
    new_secret_path: str | None = Field(
        None, alias="newSecretPath", description="Move the secret to this folder."
    )
    type: Literal["shared", "personal"] = "shared"


class SecretDeleteIn(ProjectRef):
    environment: str = Field(min_length=1, max_length=64)
    secret_path: str = Field("/", alias="secretPath")
    type: Literal["shared", "personal"] = "shared"


class BatchCreateItem(_SecretFields):
    secret_key: str = Field(alias="secretKey")
    secret_value: str = Field(alias="secretValue")
    secret_path: str | None = Field(None, alias="secretPath")


class BatchUpdateItem(_SecretFields):
    secret_key: str = Field(alias="secretKey")
    secret_value: str | None = Field(None, alias="secretValue")
    new_secret_name: str | None = Field(None, alias="newSecretName")
    secret_path: str | None = Field(None, alias="secretPath")


class BatchDeleteItem(_In):
    secret_key: str = Field(alias="secretKey")
    type: Literal["shared", "personal"] = "shared"
    secret_path: str | None = Field(None, alias="secretPath")


class _BatchIn(ProjectRef):
    environment: str = Field(min_length=1, max_length=64)
    secret_path: str = Field("/", alias="secretPath")


class BatchCreateIn(_BatchIn):
    secrets: list[BatchCreateItem] = Field(min_length=1, max_length=MAX_BATCH)


class BatchUpdateIn(_BatchIn):
    secrets: list[BatchUpdateItem] = Field(min_length=1, max_length=MAX_BATCH)


class BatchDeleteIn(_BatchIn):
    secrets: list[BatchDeleteItem] = Field(min_length=1, max_length=MAX_BATCH)


def batch_item(name: str, path: str, data: SecretWrite | None = None) -> BatchItem:
    return BatchItem(name=name, path=path, data=data or SecretWrite())


class FolderCreateIn(ProjectRef):
    environment: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    path: str | None = None
    directory: str | None = None
    description: str | None = Field(None, max_length=1024)


class FolderUpdateIn(ProjectRef):
    environment: str = Field(min_length=1, max_length=64)
    name: str | None = Field(None, min_length=1, max_length=64)
    path: str | None = None
    directory: str | None = None
    description: str | None = Field(None, max_length=1024)


class FolderBatchItem(_In):
    id: str = Field(min_length=1, max_length=64)
    environment: str = Field(min_length=1, max_length=64)
    name: str | None = Field(None, min_length=1, max_length=64)
    path: str | None = None
    description: str | None = Field(None, max_length=1024)


class FolderBatchUpdateIn(ProjectRef):
    folders: list[FolderBatchItem] = Field(min_length=1, max_length=MAX_BATCH)


class FolderDeleteIn(ProjectRef):
    environment: str = Field(min_length=1, max_length=64)
    path: str | None = None
    directory: str | None = None
    force_delete: bool = Field(False, alias="forceDelete")


class ImportTargetIn(_In):
    environment: str | None = Field(None, min_length=1, max_length=64)
    path: str | None = None
    position: int | None = Field(None, ge=1)


class ImportCreateIn(ProjectRef):
    environment: str = Field(min_length=1, max_length=64)
    path: str = "/"
    import_: ImportTargetIn = Field(alias="import")
    is_replication: bool = Field(False, alias="isReplication")


class ImportUpdateIn(ProjectRef):
    environment: str = Field(min_length=1, max_length=64)
    path: str = "/"
    import_: ImportTargetIn = Field(alias="import")


class ImportDeleteIn(ProjectRef):
    environment: str = Field(min_length=1, max_length=64)
    path: str = "/"


class TagCreateIn(_In):
    name: str | None = Field(None, min_length=1, max_length=64)
    slug: str | None = Field(None, min_length=1, max_length=64)
    color: str | None = Field(None, max_length=32)


class RollbackIn(_In):
    version: int = Field(ge=1)
