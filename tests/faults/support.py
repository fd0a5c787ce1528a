"""What the fault tests share: HTTP helpers against a real server and the after-the-fact check
that every stored secret and version still decrypts and no history is half-written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.orm import Session

from tessera.backups.verify import VerifyReport, verify_database
from tessera.clock import utcnow
from tessera.crypto.keyring import Keyring
from tessera.settings import decode_root_key
from tessera.store.engine import make_engine
from tests.conftest import BOOTSTRAP_BODY, TEST_ROOT_KEY


@dataclass
class Tenant:
    """A bootstrapped admin and one project on a running server."""

    headers: dict[str, str]
    project_id: str
    identity_id: str

    def secret_body(self, value: str, **extra: Any) -> dict[str, Any]:
        return {"workspaceId": self.project_id, "environment": "dev", "secretValue": value, **extra}


def set_up_tenant(base: str) -> Tenant:
    with httpx.Client(base_url=base, timeout=60) as http:
        boot = http.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY)
        assert boot.status_code == 200, boot.text
        headers = {"Authorization": f"Bearer {boot.json()['identity']['credentials']['token']}"}
        project = http.post("/api/v2/workspace", json={"projectName": "Faults"}, headers=headers)
        assert project.status_code == 200, project.text
    return Tenant(headers, project.json()["project"]["id"], boot.json()["identity"]["id"])


def list_secrets(http: httpx.Client, tenant: Tenant) -> httpx.Response:
    params = {"workspaceId": tenant.project_id, "environment": "dev", "secretPath": "/"}
    return http.get("/api/v3/secrets/raw", params=params, headers=tenant.headers)


def stored_values(base: str, tenant: Tenant) -> dict[str, str]:
    with httpx.Client(base_url=base, timeout=60) as http:
        response = list_secrets(http, tenant)
    assert response.status_code == 200, response.text
    return {item["secretKey"]: item["secretValue"] for item in response.json()["secrets"]}


def verify_everything(database_url: str) -> VerifyReport:
    """Decrypt every data key, secret and version; check every history is exactly 1..current."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection, Session(bind=connection) as session:
            report = verify_database(session, Keyring(decode_root_key(TEST_ROOT_KEY)), now=utcnow())
            session.rollback()
    finally:
        engine.dispose()
    return report


def assert_envelope_503(response: httpx.Response) -> None:
    body = response.json()
    assert (body["statusCode"], body["error"]) == (503, "ServiceUnavailable"), body
    assert body["reqId"] == response.headers["x-request-id"]
    text = response.text.lower()
    for leak in ("traceback", "psycopg", "sqlalchemy", "select ", "insert ", "update ", "sqlite"):
        assert leak not in text, response.text
