"""Azure Auth over HTTP, on SQLite and PostgreSQL, against a local Entra ID stand-in.

Covers the Infisical wire contract (paths, field names, response shapes), the uniform 401 with
the real reason in the audit log, key rotation and outages, replay protection, resource binds,
the admin dry run, and the concurrent use-limit case against a real uvicorn server.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tessera.audit.models import AuditEvent
from tessera.auth.azure.jwks import EXTRAS_KEY, REFRESH_COOLDOWN, JwksCache, make_http_client
from tessera.auth.azure.metrics import get_login_metrics
from tessera.auth.azure.models import AzureUsedToken, IdentityAzureAuth
from tessera.auth.azure.verify import LEEWAY_SECONDS
from tessera.clock import FrozenClock
from tessera.identities.models import Identity, IdentityAccessToken
from tessera.settings import Settings
from tests.conftest import Admin, make_settings
from tests.factories import make_identity
from tests.fakes.entra import ARM, FakeEntra, SigningKey, forge, token_claims

LOGIN = "/api/v1/auth/azure-auth/login"
T1 = "72f988bf-86f1-41af-91ab-2d7cd011db47"
T2 = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
OID_A = "11111111-1111-4111-8111-111111111111"
OID_B = "22222222-2222-4222-8222-222222222222"
CLIENT_A = "33333333-3333-4333-8333-333333333333"
SUB = "44444444-4444-4444-8444-444444444444"
VM_ID = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-1"
COOLDOWN = REFRESH_COOLDOWN.total_seconds()


def config_url(identity_id: str) -> str:
    return f"/api/v1/auth/azure-auth/identities/{identity_id}"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def entra() -> Iterator[FakeEntra]:
    fake = FakeEntra().start()
    yield fake
    fake.stop()


@pytest.fixture
def key(entra: FakeEntra) -> SigningKey:
    return entra.new_key()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, entra: FakeEntra) -> Settings:
    # Every cloud's authority points at the stand-in, so no test can ever dial out.
    return make_settings(
        db_url,
        tmp_path / "data",
        azure_authority_host=entra.authority,
        azure_usgovernment_authority_host=entra.authority,
        azure_china_authority_host=entra.authority,
    )


def new_identity(app: Any, admin: Admin, *, role: str = "admin", **overrides: Any) -> str:
    context = app.state.context
    with context.session_factory() as session, session.begin():
        identity = make_identity(
            session, org_id=admin.org_id, now=context.clock.now(), role=role, **overrides
        )
        return str(identity.id)


def attach(client: Any, admin: Admin, identity_id: str, **fields: Any) -> Any:
    body: dict[str, Any] = {"tenantId": T1, "allowedServicePrincipalIds": OID_A}
    body.update(fields)
    return client.post(config_url(identity_id), json=body, headers=admin.headers)


@pytest.fixture
def identity_id(client: TestClient, admin: Admin, app: Any) -> str:
    identity = new_identity(app, admin)
    response = attach(client, admin, identity)
    assert response.status_code == 200, response.text
    return identity


def mint(key: SigningKey, clock: FrozenClock, **extra: Any) -> str:
    values: dict[str, Any] = {
        "tenant": T1,
        "oid": OID_A,
        "now": clock.now(),
        "client_id": CLIENT_A,
        "xms_mirid": VM_ID,
    }
    values.update(extra)
    return key.sign(token_claims(**values))


def login(client: Any, identity: str, token: str) -> Any:
    return client.post(LOGIN, json={"identityId": identity, "jwt": token})


def audit_for(app: Any, response: Any) -> AuditEvent:
    request_id = response.headers["x-request-id"]
    with app.state.context.session_factory() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.request_id == request_id))
    assert event is not None, "no audit record for the request"
    return event


def count(app: Any, model: Any, *conditions: Any) -> int:
    with app.state.context.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def uniform(response: Any) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("reqId")
    return body


# --- configuration: Infisical wire contract ---------------------------------------------------


def test_attach_returns_infisical_shape_with_defaults(client: TestClient, admin: Admin, app: Any) -> None:
    identity = new_identity(app, admin)
    response = client.post(config_url(identity), json={"tenantId": T1}, headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()["identityAzureAuth"]
    assert body["identityId"] == identity
    assert body["tenantId"] == T1
    assert body["resource"] == "https://management.azure.com/"
    assert body["allowedServicePrincipalIds"] == ""
    assert body["accessTokenTTL"] == 2592000
    assert body["accessTokenMaxTTL"] == 2592000
    assert body["accessTokenNumUsesLimit"] == 0
    assert body["accessTokenTrustedIps"] == [
        {"ipAddress": "0.0.0.0", "type": "ipv4", "prefix": 0},
        {"ipAddress": "::", "type": "ipv6", "prefix": 0},
    ]
    # The stricter default: nobody may log in until principals are named or "any" is explicit.
    assert body["allowAnyPrincipalInTenant"] is False
    assert body["tenantIds"] == [T1]
    assert body["cloud"] == "public"
    assert body["oneTimeUse"] is False
    assert body["maxTokenAgeSeconds"] is None
    assert body["createdAt"].endswith("Z")


def test_guids_are_validated_and_normalised(client: TestClient, admin: Admin, app: Any) -> None:
    identity = new_identity(app, admin)
    response = attach(
        client,
        admin,
        identity,
        tenantId="{" + T1.upper() + "}",
        tenantIds=[T2.upper(), T1],
        allowedServicePrincipalIds=f" {OID_A.upper()} , {{{OID_B}}},{OID_A}",
        allowedClientIds=[CLIENT_A.upper()],
        allowedSubscriptionIds=SUB,
        allowedResourceGroups="RG-App, rg-app",
        allowedResourceIds=[VM_ID + "/"],
        resource="  api://tessera  ",
    )
    assert response.status_code == 200, response.text
    body = response.json()["identityAzureAuth"]
    assert body["tenantId"] == T1
    assert body["tenantIds"] == [T1, T2]
    assert body["allowedServicePrincipalIds"] == f"{OID_A}, {OID_B}"
    assert body["allowedClientIds"] == [CLIENT_A]
    assert body["allowedSubscriptionIds"] == [SUB]
    assert body["allowedResourceGroups"] == ["RG-App"]
    assert body["allowedResourceIds"] == [VM_ID]
    assert body["resource"] == "api://tessera"
    with app.state.context.session_factory() as session:
        row = session.scalar(select(IdentityAzureAuth).where(IdentityAzureAuth.identity_id == identity))
        assert row is not None
        assert row.allowed_service_principal_ids == [OID_A, OID_B]  # stored as a list


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"tenantId": None}, id="no_tenant"),
        pytest.param({"tenantId": f"{T1}/../../x"}, id="tenant_path_traversal"),
        pytest.param({"tenantId": "evil.com#"}, id="tenant_fragment"),
        pytest.param({"tenantId": f"{T1}?a="}, id="tenant_query"),
        pytest.param({"tenantId": f"{T1}@attacker"}, id="tenant_userinfo"),
        pytest.param({"tenantId": "%2e%2e"}, id="tenant_encoded_dots"),
        pytest.param({"tenantId": "a" * 10_000}, id="tenant_huge"),
        pytest.param({"tenantId": "contoso.onmicrosoft.com"}, id="tenant_domain"),
        pytest.param({"allowedServicePrincipalIds": "not-a-guid"}, id="principal_not_guid"),
        pytest.param({"allowedClientIds": ["x"]}, id="client_not_guid"),
        pytest.param({"allowedSubscriptionIds": 7}, id="subscription_wrong_type"),
        pytest.param({"allowedResourceIds": ["/resourceGroups/x"]}, id="resource_id_unanchored"),
        pytest.param({"allowedResourceIds": [f"/subscriptions/{SUB}//x"]}, id="resource_id_empty_segment"),
        pytest.param({"allowedResourceGroups": ["bad name!"]}, id="resource_group_invalid"),
        pytest.param({"resource": "  "}, id="resource_blank"),
        pytest.param({"resource": "a b"}, id="resource_space"),
        pytest.param({"cloud": "germany"}, id="cloud_unknown"),
        pytest.param({"maxTokenAgeSeconds": -1}, id="max_age_negative"),
        pytest.param({"accessTokenTTL": 100, "accessTokenMaxTTL": 10}, id="ttl_over_max"),
        pytest.param({"accessTokenTrustedIps": [{"ipAddress": "nope"}]}, id="trusted_ip_invalid"),
    ],
)
def test_invalid_configuration_is_rejected_without_a_row(
    client: TestClient, admin: Admin, app: Any, fields: dict[str, Any]
) -> None:
    identity = new_identity(app, admin)
    response = attach(client, admin, identity, **fields)
    assert response.status_code == 422, response.text
    assert count(app, IdentityAzureAuth) == 0


def test_attach_twice_and_missing_config_answers(
    client: TestClient, admin: Admin, identity_id: str, app: Any
) -> None:
    again = attach(client, admin, identity_id)
    assert again.status_code == 400
    assert "already configured" in again.json()["message"]
    other = new_identity(app, admin)
    for method in ("get", "patch", "delete"):
        response = client.request(
            method, config_url(other), json={} if method == "patch" else None, headers=admin.headers
        )
        assert response.status_code == 400, (method, response.text)
    assert attach(client, admin, str(uuid.uuid4())).status_code == 404


def test_management_needs_permission(
    client: TestClient, admin: Admin, identity_id: str, app: Any, key: SigningKey, clock: FrozenClock
) -> None:
    # A no-access identity logged in through Azure may not read or change any Azure config.
    weak = new_identity(app, admin, role="no-access")
    assert attach(client, admin, weak).status_code == 200
    token = login(client, weak, mint(key, clock)).json()["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(config_url(identity_id), headers=headers).status_code == 403
    assert (
        client.patch(config_url(identity_id), json={"oneTimeUse": True}, headers=headers).status_code == 403
    )
    assert client.delete(config_url(identity_id), headers=headers).status_code == 403
    assert (
        client.post(config_url(identity_id) + "/explain", json={"jwt": "x"}, headers=headers).status_code
        == 403
    )
    assert client.get(config_url(identity_id)).status_code == 401


def test_patch_changes_only_what_was_sent(client: TestClient, admin: Admin, identity_id: str) -> None:
    response = client.patch(
        config_url(identity_id),
        json={
            "allowedServicePrincipalIds": f"{OID_B},{OID_A}",
            "accessTokenTTL": 60,
            "maxTokenAgeSeconds": 600,
        },
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()["identityAzureAuth"]
    assert body["allowedServicePrincipalIds"] == f"{OID_B}, {OID_A}"
    assert body["accessTokenTTL"] == 60
    assert body["maxTokenAgeSeconds"] == 600
    assert body["tenantId"] == T1
    assert body["resource"] == ARM
    cleared = client.patch(
        config_url(identity_id), json={"maxTokenAgeSeconds": 0, "tenantIds": [T2]}, headers=admin.headers
    )
    assert cleared.json()["identityAzureAuth"]["maxTokenAgeSeconds"] is None
    assert cleared.json()["identityAzureAuth"]["tenantIds"] == [T2]
    assert (
        client.patch(config_url(identity_id), json={"tenantIds": []}, headers=admin.headers).status_code
        == 422
    )
    got = client.get(config_url(identity_id), headers=admin.headers).json()["identityAzureAuth"]
    assert got == cleared.json()["identityAzureAuth"]


# --- login ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_login_returns_the_standard_response_and_the_token_works(
    client: TestClient, identity_id: str, key: SigningKey, clock: FrozenClock, app: Any, version: str
) -> None:
    token = mint(key, clock, version=version)
    response = login(client, identity_id, token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"accessToken", "expiresIn", "accessTokenMaxTTL", "tokenType"}
    assert (body["expiresIn"], body["accessTokenMaxTTL"], body["tokenType"]) == (2592000, 2592000, "Bearer")
    read = client.get(config_url(identity_id), headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert read.status_code == 200
    event = audit_for(app, response)
    assert (event.outcome, event.auth_method, event.identity_id) == ("success", "azure-auth", identity_id)
    assert event.details["oid"] == OID_A
    assert event.details["tid"] == T1
    assert event.details["uti"]
    assert event.details["xms_mirid"] == VM_ID
    assert event.details["appid" if version == "1.0" else "azp"] == CLIENT_A
    assert token not in str(event.details)


def test_form_encoded_login(
    client: TestClient, identity_id: str, key: SigningKey, clock: FrozenClock
) -> None:
    response = client.post(LOGIN, data={"identityId": identity_id, "jwt": mint(key, clock)})
    assert response.status_code == 200, response.text
    assert response.json()["tokenType"] == "Bearer"


@dataclass
class Scene:
    """What a failure case may change: the identity logged in as, the token, the database."""

    app: Any
    admin: Admin
    identity: str
    key: SigningKey
    clock: FrozenClock
    entra: FakeEntra

    def claims(self, **extra: Any) -> dict[str, Any]:
        return token_claims(tenant=T1, oid=OID_A, now=self.clock.now(), **extra)

    def disable_identity(self) -> str:
        with self.app.state.context.session_factory() as session, session.begin():
            session.get(Identity, self.identity).is_active = False
        return mint(self.key, self.clock)


# case id → (how to get the identity id, how to get the token, expected audit reason)
FAILURES: dict[str, tuple[Callable[[Scene], str], Callable[[Scene], str], str]] = {
    "unknown_identity": (lambda s: str(uuid.uuid4()), lambda s: mint(s.key, s.clock), "identity_not_found"),
    "identity_not_uuid": (lambda s: "x" * 100, lambda s: mint(s.key, s.clock), "identity_not_found"),
    "no_azure_auth": (
        lambda s: new_identity(s.app, s.admin),
        lambda s: mint(s.key, s.clock),
        "azure_auth_not_configured",
    ),
    "malformed_token": (lambda s: s.identity, lambda s: "not.a.token", "malformed_token"),
    "unpublished_key": (
        lambda s: s.identity,
        lambda s: SigningKey.generate("unpublished").sign(s.claims()),
        "unknown_kid",
    ),
    "wrong_tenant": (lambda s: s.identity, lambda s: mint(s.key, s.clock, tenant=T2), "tenant_not_allowed"),
    "audience": (
        lambda s: s.identity,
        lambda s: mint(s.key, s.clock, audience="https://graph.microsoft.com/"),
        "audience_mismatch",
    ),
    "principal_not_allowed": (
        lambda s: s.identity,
        lambda s: mint(s.key, s.clock, oid=OID_B),
        "principal_not_allowed",
    ),
    "expired": (
        lambda s: s.identity,
        lambda s: mint(s.key, s.clock, exp=int(s.clock.now().timestamp()) - 3600),
        "expired",
    ),
    "alg_none": (
        lambda s: s.identity,
        lambda s: forge({"alg": "none", "kid": s.key.kid}, s.claims()),
        "alg_not_allowed",
    ),
    "jku_header": (
        lambda s: s.identity,
        lambda s: s.key.sign(s.claims(), headers={"jku": s.entra.authority + "/x"}),
        "forbidden_header",
    ),
    "issuer_version_mismatch": (
        lambda s: s.identity,
        lambda s: mint(s.key, s.clock, version="2.0", iss=f"https://sts.windows.net/{T1}/"),
        "issuer_mismatch",
    ),
    "identity_disabled": (lambda s: s.identity, Scene.disable_identity, "identity_disabled"),
}
UNREADABLE = {"malformed_token", "unknown_identity", "identity_not_uuid"}


@pytest.mark.parametrize("case", list(FAILURES))
def test_every_failure_is_the_same_401_with_the_reason_in_the_audit_log(
    client: TestClient,
    admin: Admin,
    app: Any,
    identity_id: str,
    key: SigningKey,
    clock: FrozenClock,
    entra: FakeEntra,
    case: str,
) -> None:
    scene = Scene(app, admin, identity_id, key, clock, entra)
    pick_identity, make_token, reason = FAILURES[case]
    identity, token = pick_identity(scene), make_token(scene)
    response = login(client, identity, token)
    assert response.status_code == 401
    assert uniform(response) == {
        "statusCode": 401,
        "message": "Invalid credentials",
        "error": "UnauthorizedError",
    }
    event = audit_for(app, response)
    assert (event.outcome, event.reason, event.auth_method) == ("failure", reason, "azure-auth")
    if case not in UNREADABLE:
        assert event.details.get("oid") in {OID_A, OID_B}
        assert event.details.get("tid") in {T1, T2}
        assert event.details.get("uti")
    assert token not in str(event.details)
    assert count(app, IdentityAccessToken, IdentityAccessToken.auth_method == "azure-auth") == 0


def test_header_attacks_cause_no_outbound_request(
    client: TestClient, identity_id: str, key: SigningKey, clock: FrozenClock, entra: FakeEntra
) -> None:
    claims = token_claims(tenant=T1, oid=OID_A, now=clock.now())
    attacks = [
        forge({"alg": "none", "kid": key.kid}, claims),
        forge({"alg": "HS256", "kid": key.kid}, claims, b"mac"),
        key.sign(claims, headers={"jku": entra.authority + "/attacker/keys"}),
        key.sign(claims, headers={"x5u": entra.authority + "/attacker/cert"}),
        key.sign(claims, headers={"jwk": SigningKey.generate().jwk()}),
        key.sign(token_claims(tenant=T2, oid=OID_A, now=clock.now())),  # a tenant we do not trust
    ]
    for token in attacks:
        assert login(client, identity_id, token).status_code == 401
    assert entra.requests == []


def test_missing_fields_are_a_validation_error(client: TestClient) -> None:
    assert client.post(LOGIN, json={"identityId": str(uuid.uuid4())}).status_code == 422
    assert client.post(LOGIN, json={"jwt": "x"}).status_code == 422


def test_several_tenants(
    client: TestClient, admin: Admin, app: Any, key: SigningKey, clock: FrozenClock
) -> None:
    identity = new_identity(app, admin)
    assert attach(client, admin, identity, tenantIds=[T2]).status_code == 200
    assert login(client, identity, mint(key, clock, tenant=T1)).status_code == 200
    assert login(client, identity, mint(key, clock, tenant=T2, version="2.0")).status_code == 200
    third = "99999999-9999-4999-8999-999999999999"
    assert login(client, identity, mint(key, clock, tenant=third)).status_code == 401


def test_national_cloud_issuers(
    client: TestClient, admin: Admin, app: Any, key: SigningKey, clock: FrozenClock
) -> None:
    identity = new_identity(app, admin)
    assert attach(client, admin, identity, cloud="china").status_code == 200
    china_v1 = mint(key, clock, iss=f"https://sts.chinacloudapi.cn/{T1}/")
    china_v2 = mint(key, clock, version="2.0", iss=f"https://login.partner.microsoftonline.cn/{T1}/v2.0")
    assert login(client, identity, china_v1).status_code == 200
    assert login(client, identity, china_v2).status_code == 200
    assert login(client, identity, mint(key, clock)).status_code == 401  # a public-cloud token


def test_token_for_one_identity_does_not_open_another(
    client: TestClient, admin: Admin, app: Any, identity_id: str, key: SigningKey, clock: FrozenClock
) -> None:
    other_tenant = new_identity(app, admin)
    attach(client, admin, other_tenant, tenantId=T2)
    other_principal = new_identity(app, admin)
    attach(client, admin, other_principal, allowedServicePrincipalIds=OID_B)
    token = mint(key, clock)
    assert login(client, other_tenant, token).status_code == 401
    assert login(client, other_principal, token).status_code == 401
    assert login(client, identity_id, token).status_code == 200


def test_empty_allow_list_denies_until_any_principal_is_explicit(
    client: TestClient, admin: Admin, app: Any, key: SigningKey, clock: FrozenClock
) -> None:
    identity = new_identity(app, admin)
    attach(client, admin, identity, allowedServicePrincipalIds="")
    denied = login(client, identity, mint(key, clock, oid=OID_B))
    assert denied.status_code == 401
    assert audit_for(app, denied).reason == "no_principal_binding"
    client.patch(config_url(identity), json={"allowAnyPrincipalInTenant": True}, headers=admin.headers)
    allowed = login(client, identity, mint(key, clock, oid=OID_B))
    assert allowed.status_code == 200
    assert audit_for(app, allowed).details["matchedRule"] == "any_principal_in_tenant"


def test_client_id_binding(
    client: TestClient, admin: Admin, app: Any, key: SigningKey, clock: FrozenClock
) -> None:
    identity = new_identity(app, admin)
    attach(client, admin, identity, allowedServicePrincipalIds="", allowedClientIds=[CLIENT_A])
    assert login(client, identity, mint(key, clock, oid=OID_B)).status_code == 200
    assert login(client, identity, mint(key, clock, oid=OID_B, client_id=OID_B)).status_code == 401


@pytest.mark.parametrize(
    ("fields", "claims", "ok"),
    [
        pytest.param({"allowedSubscriptionIds": [SUB]}, {}, True, id="subscription_ok"),
        pytest.param({"allowedSubscriptionIds": [OID_B]}, {}, False, id="subscription_other"),
        pytest.param({"allowedResourceGroups": ["RG-APP"]}, {}, True, id="rg_case_insensitive"),
        pytest.param({"allowedResourceGroups": ["rg-ap"]}, {}, False, id="rg_prefix_is_not_a_match"),
        pytest.param(
            {"allowedResourceIds": [f"/subscriptions/{SUB}/resourcegroups/rg-app"]}, {}, True, id="rid_prefix"
        ),
        pytest.param(
            {"allowedResourceIds": [f"/subscriptions/{SUB}/resourcegroups/rg-a"]}, {}, False, id="rid_partial"
        ),
        pytest.param({"allowedResourceGroups": ["rg-app"]}, {"xms_mirid": None}, False, id="claim_missing"),
    ],
)
def test_resource_binds(
    client: TestClient,
    admin: Admin,
    app: Any,
    key: SigningKey,
    clock: FrozenClock,
    fields: dict[str, Any],
    claims: dict[str, Any],
    ok: bool,
) -> None:
    identity = new_identity(app, admin)
    assert attach(client, admin, identity, **fields).status_code == 200
    assert login(client, identity, mint(key, clock, **claims)).status_code == (200 if ok else 401)


def test_max_token_age(
    client: TestClient, admin: Admin, app: Any, key: SigningKey, clock: FrozenClock
) -> None:
    identity = new_identity(app, admin)
    attach(client, admin, identity, maxTokenAgeSeconds=600)
    token = mint(key, clock)  # iat = now - 60
    assert login(client, identity, token).status_code == 200
    clock.advance(600)
    response = login(client, identity, token)
    assert response.status_code == 401
    assert audit_for(app, response).reason == "token_too_old"


def test_one_time_use_blocks_replay_and_forgets_expired_tokens(
    client: TestClient, admin: Admin, app: Any, key: SigningKey, clock: FrozenClock
) -> None:
    identity = new_identity(app, admin)
    attach(client, admin, identity, oneTimeUse=True)
    other = new_identity(app, admin)
    attach(client, admin, other, oneTimeUse=True)
    token = mint(key, clock, lifetime=300)
    assert login(client, identity, token).status_code == 200
    replay = login(client, identity, token)
    assert replay.status_code == 401
    assert audit_for(app, replay).reason == "token_replayed"
    assert login(client, other, token).status_code == 200  # one use per identity
    assert count(app, AzureUsedToken) == 2
    assert login(client, identity, mint(key, clock, uti=None)).status_code == 401
    # Past exp + leeway the record is useless; the next one-time login purges it.
    clock.advance(300 + LEEWAY_SECONDS + 1)
    assert login(client, identity, mint(key, clock)).status_code == 200
    assert count(app, AzureUsedToken) == 1


def test_without_one_time_use_a_token_may_log_in_again(
    client: TestClient, identity_id: str, key: SigningKey, clock: FrozenClock, app: Any
) -> None:
    token = mint(key, clock)
    assert login(client, identity_id, token).status_code == 200
    assert login(client, identity_id, token).status_code == 200
    assert count(app, AzureUsedToken) == 0


# --- signing keys -----------------------------------------------------------------------------


def test_keys_are_cached_and_rotation_is_fetched_once(
    client: TestClient, identity_id: str, key: SigningKey, clock: FrozenClock, entra: FakeEntra
) -> None:
    for _ in range(3):
        assert login(client, identity_id, mint(key, clock)).status_code == 200
    assert entra.key_fetches() == 1
    new = entra.rotate()
    clock.advance(COOLDOWN)
    assert login(client, identity_id, mint(new, clock)).status_code == 200
    assert login(client, identity_id, mint(new, clock)).status_code == 200
    assert entra.key_fetches() == 2
    assert entra.key_fetches(T1) == 2


def test_outage_with_cached_keys_still_logs_in(
    client: TestClient, identity_id: str, key: SigningKey, clock: FrozenClock, entra: FakeEntra
) -> None:
    assert login(client, identity_id, mint(key, clock)).status_code == 200
    entra.outage()
    clock.advance(24 * 3600 + 1)  # stale: the refetch fails, the cached key keeps serving
    assert login(client, identity_id, mint(key, clock)).status_code == 200


@pytest.mark.parametrize("failure", ["refused", "error", "html"])
def test_outage_without_keys_is_503_never_500_never_allow(
    client: TestClient,
    identity_id: str,
    key: SigningKey,
    clock: FrozenClock,
    entra: FakeEntra,
    app: Any,
    failure: str,
) -> None:
    if failure == "refused":
        entra.outage()
    else:
        entra.mode = failure
    response = login(client, identity_id, mint(key, clock))
    assert response.status_code == 503
    body = response.json()
    assert (body["statusCode"], body["error"]) == (503, "ServiceUnavailable")
    event = audit_for(app, response)
    assert (event.outcome, event.reason) == ("failure", "jwks_unavailable")
    assert event.details["oid"] == OID_A
    assert count(app, IdentityAccessToken, IdentityAccessToken.auth_method == "azure-auth") == 0


def test_what_changes_while_keys_are_fetched_decides_the_login(
    client: TestClient, identity_id: str, key: SigningKey, clock: FrozenClock, entra: FakeEntra, app: Any
) -> None:
    """Keys are fetched before the login's write transaction; the decision is made inside it.

    The identity is disabled while its tenant's keys are being fetched (from the fetching
    thread, which a fetch inside the write transaction would deadlock on SQLite). The login
    must see that and refuse, fetching the keys once.
    """
    context = app.state.context

    class DisablingWhileFetching(JwksCache):
        def get_keys(self, authority: str, tenant_id: str, kid: str) -> Any:
            with context.session_factory.begin() as session:
                session.execute(update(Identity).where(Identity.id == identity_id).values(is_active=False))
            return super().get_keys(authority, tenant_id, kid)

    context.extras[EXTRAS_KEY] = DisablingWhileFetching(make_http_client(), context.clock)
    response = login(client, identity_id, mint(key, clock))
    assert response.status_code == 401, response.text
    event = audit_for(app, response)
    assert (event.outcome, event.reason) == ("failure", "identity_disabled")
    assert entra.key_fetches(T1) == 1
    assert count(app, IdentityAccessToken, IdentityAccessToken.auth_method == "azure-auth") == 0


def test_outcomes_are_counted_by_reason(
    client: TestClient,
    admin: Admin,
    identity_id: str,
    key: SigningKey,
    clock: FrozenClock,
    app: Any,
    entra: FakeEntra,
) -> None:
    login(client, identity_id, mint(key, clock))
    login(client, identity_id, mint(key, clock, oid=OID_B))
    login(client, identity_id, mint(key, clock, oid=OID_B))
    login(client, identity_id, "garbage")
    elsewhere = new_identity(app, admin)
    attach(client, admin, elsewhere, tenantId=T2)
    entra.outage()  # T2's keys were never fetched: unavailable
    assert login(client, elsewhere, mint(key, clock, tenant=T2)).status_code == 503
    counts = get_login_metrics(app.state.context).snapshot()
    assert counts == {
        "success": {"ok": 1},
        "failure": {"principal_not_allowed": 2, "malformed_token": 1},
        "unavailable": {"jwks_unavailable": 1},
    }


# --- revocation and policy --------------------------------------------------------------------


def test_revoking_azure_auth_revokes_only_its_tokens(
    client: TestClient, admin: Admin, identity_id: str, key: SigningKey, clock: FrozenClock, app: Any
) -> None:
    token = login(client, identity_id, mint(key, clock)).json()["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(config_url(identity_id), headers=headers).status_code == 200
    response = client.delete(config_url(identity_id), headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["identityAzureAuth"]["identityId"] == identity_id
    assert client.get("/api/v1/auth/azure-auth/identities/" + identity_id, headers=headers).status_code == 401
    assert (
        client.get(config_url(identity_id), headers=admin.headers).status_code == 400
    )  # admin token lives on
    assert login(client, identity_id, mint(key, clock)).status_code == 401


def test_trusted_ip_change_applies_to_existing_tokens(
    client: TestClient, admin: Admin, identity_id: str, key: SigningKey, clock: FrozenClock
) -> None:
    token = login(client, identity_id, mint(key, clock)).json()["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(config_url(identity_id), headers=headers).status_code == 200
    patched = client.patch(
        config_url(identity_id),
        json={"accessTokenTrustedIps": [{"ipAddress": "10.0.0.0/8"}]},
        headers=admin.headers,
    )
    assert patched.status_code == 200
    assert client.get(config_url(identity_id), headers=headers).status_code == 403


def test_use_limit_and_ttl_come_from_the_config(
    client: TestClient, admin: Admin, app: Any, key: SigningKey, clock: FrozenClock
) -> None:
    identity = new_identity(app, admin)
    attach(client, admin, identity, accessTokenTTL=120, accessTokenMaxTTL=600, accessTokenNumUsesLimit=2)
    body = login(client, identity, mint(key, clock)).json()
    assert (body["expiresIn"], body["accessTokenMaxTTL"]) == (120, 600)
    headers = {"Authorization": f"Bearer {body['accessToken']}"}
    assert [client.get(config_url(identity), headers=headers).status_code for _ in range(3)] == [
        200,
        200,
        401,
    ]


# --- explain ----------------------------------------------------------------------------------


def test_explain_names_the_failing_check_and_issues_nothing(
    client: TestClient, admin: Admin, app: Any, key: SigningKey, clock: FrozenClock
) -> None:
    identity = new_identity(app, admin)
    attach(client, admin, identity, oneTimeUse=True)
    url = config_url(identity) + "/explain"
    bad = client.post(url, json={"jwt": mint(key, clock, oid=OID_B)}, headers=admin.headers)
    assert bad.status_code == 200, bad.text
    body = bad.json()
    assert (body["result"], body["failedCheck"], body["reason"]) == (
        "fail",
        "principal",
        "principal_not_allowed",
    )
    assert body["claims"]["oid"] == OID_B
    token = mint(key, clock)
    good = client.post(url, json={"jwt": token}, headers=admin.headers).json()
    assert good["result"] == "pass"
    assert {c["check"] for c in good["checks"]} >= {
        "signature",
        "audience",
        "principal",
        "identity",
        "one_time_use",
    }
    # Nothing issued, nothing consumed: the same token still logs in once.
    assert count(app, IdentityAccessToken, IdentityAccessToken.identity_id == identity) == 0
    assert login(client, identity, token).status_code == 200
    replayed = client.post(url, json={"jwt": token}, headers=admin.headers).json()
    assert (replayed["failedCheck"], replayed["reason"]) == ("one_time_use", "token_replayed")


def test_explain_is_for_org_admins_only(
    client: TestClient, admin: Admin, app: Any, identity_id: str, key: SigningKey, clock: FrozenClock
) -> None:
    # The built-in org "member" role may manage identities (as in Infisical) but not explain logins.
    member = new_identity(app, admin, role="member")
    attach(client, admin, member)
    token = login(client, member, mint(key, clock)).json()["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(config_url(identity_id), headers=headers).status_code == 200
    explained = client.post(
        config_url(identity_id) + "/explain", json={"jwt": mint(key, clock)}, headers=headers
    )
    assert explained.status_code == 403


def test_explain_reports_an_outage_instead_of_failing(
    client: TestClient, admin: Admin, identity_id: str, key: SigningKey, clock: FrozenClock, entra: FakeEntra
) -> None:
    entra.outage()
    body = client.post(
        config_url(identity_id) + "/explain", json={"jwt": mint(key, clock)}, headers=admin.headers
    ).json()
    assert (body["failedCheck"], body["reason"]) == ("signature", "keys_unavailable")


# --- concurrency against a real server --------------------------------------------------------


@pytest.fixture
def live_url(app: Any) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_fifty_concurrent_uses_of_a_limited_azure_token(
    live_url: str, admin: Admin, app: Any, key: SigningKey, clock: FrozenClock
) -> None:
    limit, callers = 5, 50
    identity = new_identity(app, admin)
    with httpx.Client(base_url=live_url, timeout=30) as http:
        assert attach(http, admin, identity, accessTokenNumUsesLimit=limit).status_code == 200
        token = login(http, identity, mint(key, clock)).json()["accessToken"]
        barrier = threading.Barrier(callers)

        def use(_i: int) -> int:
            barrier.wait()
            return http.get(config_url(identity), headers={"Authorization": f"Bearer {token}"}).status_code

        with ThreadPoolExecutor(callers) as pool:
            statuses = list(pool.map(use, range(callers)))
    assert statuses.count(200) == limit, statuses
    assert statuses.count(401) == callers - limit, statuses
    with app.state.context.session_factory() as session:
        row = session.scalar(select(IdentityAccessToken).where(IdentityAccessToken.identity_id == identity))
        assert row is not None
        assert row.num_uses == limit


def test_concurrent_logins_on_a_cold_cache_fetch_keys_once(
    live_url: str, identity_id: str, key: SigningKey, clock: FrozenClock, entra: FakeEntra
) -> None:
    callers = 10
    tokens = [mint(key, clock) for _ in range(callers)]
    with (
        httpx.Client(base_url=live_url, timeout=30) as http,
        entra.held() as gate,
        ThreadPoolExecutor(callers) as pool,
    ):
        futures = [pool.submit(login, http, identity_id, t) for t in tokens]
        time.sleep(0.3)  # every login is now waiting on the one held fetch
        gate.set()
        statuses = [f.result(timeout=30).status_code for f in futures]
    assert statuses == [200] * callers
    assert entra.key_fetches() == 1
