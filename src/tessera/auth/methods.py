"""Which auth methods an identity has: derived from the config tables, never stored.

Each method's models module registers its config model here; `attached_methods` then answers
for many identities in one query per method, in the order Infisical clients list them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.auth.config_model import MethodConfigMixin

# Infisical's listing order; Tessera's extra methods come last.
METHOD_ORDER = ("universal-auth", "azure-auth", "token-auth", "refresh-token-auth")

_CONFIG_MODELS: dict[str, type[MethodConfigMixin]] = {}


def register_method(name: str, model: type[MethodConfigMixin]) -> None:
    if name not in METHOD_ORDER:
        raise ValueError(f"unknown auth method {name!r}; add it to METHOD_ORDER")
    _CONFIG_MODELS[name] = model


def config_model(name: str) -> type[MethodConfigMixin] | None:
    return _CONFIG_MODELS.get(name)


def attached_methods(session: Session, identity_ids: Iterable[str]) -> dict[str, list[str]]:
    ids = list(identity_ids)
    found: dict[str, list[str]] = defaultdict(list)
    if not ids:
        return found
    for name in METHOD_ORDER:
        model = _CONFIG_MODELS.get(name)
        if model is None:
            continue
        for identity_id in session.scalars(select(model.identity_id).where(model.identity_id.in_(ids))):
            found[identity_id].append(name)
    return found
