"""Response bodies, built field by field from explicit allow-lists (never from ORM rows wholesale)."""

from __future__ import annotations

from typing import Any

from tessera.clock import iso_js
from tessera.secrets.core import SecretView
from tessera.secrets.folders import FolderView
from tessera.secrets.imports import ImportLinkView
from tessera.secrets.listing import ImportView, ListResult
from tessera.secrets.models import SecretTag


def tag_wire(tag: SecretTag) -> dict[str, Any]:
    return {
        "id": tag.id,
        "_id": tag.id,
        "slug": tag.slug,
        "name": tag.name,
        "color": tag.color,
        "projectId": tag.project_id,
        "workspace": tag.project_id,
        "createdAt": iso_js(tag.created_at),
        "updatedAt": iso_js(tag.updated_at),
    }


def _short_tag(tag: SecretTag) -> dict[str, Any]:
    return {"id": tag.id, "_id": tag.id, "slug": tag.slug, "name": tag.name, "color": tag.color}


def secret_wire(view: SecretView, *, dates: bool = True) -> dict[str, Any]:
    content = view.content
    body: dict[str, Any] = {
        "id": view.row.id,
        "_id": view.row.id,
        "workspace": view.project_id,
        "environment": view.env_slug,
        "version": view.version,
        "type": view.row.type,
        "secretKey": content.key,
        "secretValue": view.value,
        "secretValueHidden": view.hidden,
        "secretComment": content.comment,
        "secretPath": view.path,
        "skipMultilineEncoding": view.skip_multiline_encoding,
        "secretReminderRepeatDays": view.row.reminder_repeat_days,
        "secretReminderNote": content.reminder_note,
        "secretMetadata": content.metadata,
        "tags": [_short_tag(t) for t in view.tags],
        "isRotatedSecret": False,
        "rotationId": None,
    }
    if dates:
        body["createdAt"] = iso_js(view.row.created_at)
        body["updatedAt"] = iso_js(view.row.updated_at)
    return body


def version_wire(view: SecretView) -> dict[str, Any]:
    body = {**secret_wire(view), "secretId": view.row.id}
    if view.version_created_at is not None:
        body["createdAt"] = body["updatedAt"] = iso_js(view.version_created_at)
    return body


def _import_wire(item: ImportView) -> dict[str, Any]:
    return {
        "secretPath": item.path,
        "environment": item.env_slug,
        "folderId": item.folder_id,
        "secrets": [secret_wire(s, dates=False) for s in item.secrets],
    }


def list_wire(result: ListResult) -> dict[str, Any]:
    body: dict[str, Any] = {"secrets": [secret_wire(s) for s in result.secrets]}
    if result.imports is not None:
        body["imports"] = [_import_wire(i) for i in result.imports]
    return body


def folder_wire(view: FolderView, *, path: bool = False, detail: bool = False) -> dict[str, Any]:
    folder = view.folder
    body: dict[str, Any] = {
        "id": folder.id,
        "name": folder.name,
        "version": folder.version,
        "envId": folder.env_id,
        "parentId": folder.parent_id,
        "isReserved": folder.is_reserved,
        "description": folder.description,
        "lastSecretModified": iso_js(folder.last_secret_modified),
        "createdAt": iso_js(folder.created_at),
        "updatedAt": iso_js(folder.updated_at),
    }
    if view.relative_path is not None:
        body["relativePath"] = view.relative_path
    if path or detail:
        body["path"] = folder.path
    if detail:
        body["projectId"] = view.project_id
        body["environment"] = {"envId": view.env.id, "envName": view.env.name, "envSlug": view.env.slug}
    return body


def import_link_wire(view: ImportLinkView) -> dict[str, Any]:
    link, env = view.link, view.import_env
    return {
        "id": link.id,
        "_id": link.id,
        "version": link.version,
        "importPath": link.import_path,
        "importEnv": {"id": env.id, "name": env.name, "slug": env.slug},
        "position": link.position,
        "folderId": link.folder_id,
        "isReplication": link.is_replication,
        "isReserved": False,
        "createdAt": iso_js(link.created_at),
        "updatedAt": iso_js(link.updated_at),
    }
