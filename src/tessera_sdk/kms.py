"""Customer-managed keys (`/api/v1/kms/keys`): manage keys, encrypt and decrypt."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from tessera_sdk._resource import Requester, segment
from tessera_sdk.errors import TesseraError
from tessera_sdk.models import KmsKey

BASE = "/api/v1/kms/keys"


class KmsResource:
    def __init__(self, client: Requester) -> None:
        self._client = client

    def list_keys(self, project_id: str, *, search: str | None = None) -> list[KmsKey]:
        params = {"projectId": project_id, "limit": 100, "search": search}
        body = self._client.request_json("GET", BASE, params=params)
        return [KmsKey.model_validate(item) for item in body.get("keys", [])]

    def get_key(self, key_id: str) -> KmsKey:
        return KmsKey.model_validate(self._client.request_json("GET", f"{BASE}/{segment(key_id)}")["key"])

    def get_key_by_name(self, name: str, project_id: str) -> KmsKey:
        body = self._client.request_json(
            "GET", f"{BASE}/key-name/{segment(name)}", params={"projectId": project_id}
        )
        return KmsKey.model_validate(body["key"])

    def create_key(
        self,
        name: str,
        project_id: str,
        *,
        description: str | None = None,
        encryption_algorithm: str = "aes-256-gcm",
    ) -> KmsKey:
        body: dict[str, Any] = {
            "projectId": project_id,
            "name": name,
            "keyUsage": "encrypt-decrypt",
            "encryptionAlgorithm": encryption_algorithm,
        }
        if description is not None:
            body["description"] = description
        return KmsKey.model_validate(self._client.request_json("POST", BASE, json=body)["key"])

    def delete_key(self, key_id: str) -> KmsKey:
        return KmsKey.model_validate(
            self._client.request_json("DELETE", f"{BASE}/{segment(key_id)}", json={})["key"]
        )

    def encrypt(self, key_id: str, plaintext: bytes) -> str:
        """Encrypt up to 4096 bytes; returns the server's opaque base64 ciphertext."""
        body = {"plaintext": base64.b64encode(plaintext).decode()}
        return str(
            self._client.request_json("POST", f"{BASE}/{segment(key_id)}/encrypt", json=body)["ciphertext"]
        )

    def decrypt(self, key_id: str, ciphertext: str) -> bytes:
        body = self._client.request_json(
            "POST", f"{BASE}/{segment(key_id)}/decrypt", json={"ciphertext": ciphertext}
        )
        try:
            return base64.b64decode(body["plaintext"], validate=True)
        except (KeyError, binascii.Error, TypeError):
            raise TesseraError("the server's decrypt answer carried no valid base64 plaintext") from None
