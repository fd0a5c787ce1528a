"""Console pages over HTTP: what they show, what their forms change, and their field errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tessera.auth.universal.verify import PREFIX_LENGTH
from tessera.console.principal import DELEGATE_NAME
from tests.conftest import Admin
from tests.console.conftest import create_identity
from tests.console.support import Console, audit_of, field_errors, identity_id_from

AZURE = "/identities/{}/auth/azure-auth"
TENANT = "11111111-2222-4333-8444-555555555555"
PRINCIPAL = "aaaaaaaa-2222-4333-8444-555555555555"


def test_every_page_sends_protective_headers(console: Console) -> None:
    response = console.get("/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("name", ["htmx.min.js", "console.css", "console.js"], ids=["htmx", "css", "js"])
def test_vendored_static_files_are_served_from_the_package(anonymous: Console, name: str) -> None:
    response = anonymous.get(f"/static/console/{name}")
    assert response.status_code == 200
    assert response.content


@pytest.mark.parametrize(
    "name",
    ["..%2Fmodels.py", "models.py", "htmx.LICENSE.txt", "%2e%2e%2f%2e%2e%2fsettings.py"],
    ids=["encoded-traversal", "module", "unlisted", "double-encoded"],
)
def test_only_listed_static_files_are_served(anonymous: Console, name: str) -> None:
    assert anonymous.get(f"/static/console/{name}").status_code == 404


def test_values_are_escaped_in_pages(console: Console) -> None:
    response = create_identity(console, name="<script>alert(1)</script>")
    page = console.get(response.headers["location"])
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


# --- identities ---------------------------------------------------------------------------------


def test_create_identity_with_org_role_starts_with_universal_auth(console: Console, app: Any) -> None:
    response = create_identity(console, name="vm-app", role="member")
    assert response.status_code == 303
    page = console.get(response.headers["location"])
    assert page.status_code == 200
    assert "vm-app" in page.text
    assert re.search(r"Universal Auth <span class=\"badge ok\">Configured", page.text)
    assert "member" in page.text
    events = audit_of(app, "console.identity.create")
    assert [e.actor_type for e in events] == ["user"]
    assert events[0].details["email"] == "admin@example.com"


@pytest.mark.parametrize(
    ("data", "field"),
    [({"name": "", "role": "member"}, "name"), ({"name": "x", "role": "no-such-role"}, "role")],
    ids=["blank-name", "unknown-role"],
)
def test_create_identity_reports_field_errors(console: Console, data: dict[str, str], field: str) -> None:
    response = create_identity(console, **data)
    assert response.status_code in (404, 422)
    assert field in field_errors(response)


def test_identity_list_hides_the_console_delegate(console: Console) -> None:
    create_identity(console, name="listed-one")
    page = console.get("/organization/access-control/identities")
    assert "listed-one" in page.text
    assert DELEGATE_NAME not in page.text


def test_disable_and_delete_an_identity(console: Console) -> None:
    identity = identity_id_from(create_identity(console))
    response = console.submit(
        f"/identities/{identity}/edit",
        data={"name": "vm-app", "role": "member", "hasDeleteProtection": "true"},
    )
    assert response.status_code == 303
    page = console.get(f"/identities/{identity}")
    assert "Disabled" in page.text
    # Delete asks first; with delete protection on, the service refuses.
    confirm = console.get(f"/identities/{identity}/delete")
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.text
    refused = console.submit(f"/identities/{identity}/delete")
    assert refused.status_code == 400
    console.submit(
        f"/identities/{identity}/edit", data={"name": "vm-app", "role": "member", "isActive": "true"}
    )
    assert console.submit(f"/identities/{identity}/delete").status_code == 303
    assert console.get(f"/identities/{identity}").status_code == 404


def test_the_console_refuses_to_change_its_own_delegate(console: Console, app: Any) -> None:
    console.get("/")
    with app.state.context.session_factory() as session:
        from tessera.console.principal import find_delegate

        delegate = find_delegate(session, console_org(app))
    assert delegate is not None
    assert console.get(f"/identities/{delegate}/edit").status_code == 400
    assert (
        console.submit(f"/identities/{delegate}", action=f"/identities/{delegate}/delete").status_code == 400
    )


def console_org(app: Any) -> str:
    from sqlalchemy import select

    from tessera.orgs.models import Organization

    with app.state.context.session_factory() as session:
        org_id = session.scalar(select(Organization.id))
    assert org_id is not None
    return org_id


# --- auth methods ---------------------------------------------------------------------------------


def test_client_secret_is_shown_once_and_never_again(console: Console) -> None:
    identity = identity_id_from(create_identity(console))
    page = f"/identities/{identity}/auth/universal-auth/client-secrets/new"
    response = console.submit(
        page, action=f"/identities/{identity}/auth/universal-auth/client-secrets", data={"description": "ci"}
    )
    assert response.status_code == 200
    secret = re.search(r'id="cred-2" class="secret-value">([0-9a-f]{64})<', response.text)
    assert secret is not None
    detail = console.get(f"/identities/{identity}")
    assert secret.group(1) not in detail.text
    assert f"<code>{secret.group(1)[:PREFIX_LENGTH]}…</code>" in detail.text  # the prefix tells secrets apart


def test_replace_universal_auth_with_azure_auth(console: Console) -> None:
    identity = identity_id_from(create_identity(console))
    confirm = console.get(f"/identities/{identity}/auth/universal-auth/remove")
    assert "stops working" in confirm.text
    assert console.submit(f"/identities/{identity}/auth/universal-auth/remove").status_code == 303
    response = console.submit(
        AZURE.format(identity),
        data={
            "tenantId": TENANT.upper(),
            "resource": "https://management.azure.com/",
            "allowedServicePrincipalIds": "{" + PRINCIPAL.upper() + "}",
            "accessTokenTTL": "3600",
            "accessTokenMaxTTL": "7200",
            "accessTokenNumUsesLimit": "10",
            "accessTokenTrustedIps": "10.0.0.0/8, 127.0.0.1",
            "cloud": "public",
            "oneTimeUse": "true",
        },
    )
    assert response.status_code == 303, field_errors(response)
    page = console.get(f"/identities/{identity}")
    assert TENANT in page.text
    assert PRINCIPAL in page.text
    assert "10.0.0.0/8, 127.0.0.1/32" in page.text or "10.0.0.0/8, 127.0.0.1" in page.text
    assert "each token once" in page.text
    assert not re.search(r"Universal Auth <span class=\"badge ok\">", page.text)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tenantId": "not-a-guid"}, "tenantId"),
        ({"tenantId": ""}, "tenantId"),
        ({"accessTokenTTL": "7200", "accessTokenMaxTTL": "3600"}, "accessTokenTTL"),
        ({"accessTokenTrustedIps": "300.1.1.1"}, "accessTokenTrustedIps"),
        ({"accessTokenNumUsesLimit": "-1"}, "accessTokenNumUsesLimit"),
        ({"allowedServicePrincipalIds": "nope"}, "allowedServicePrincipalIds"),
    ],
    ids=["bad-tenant", "no-tenant", "ttl-above-max", "bad-ip", "negative-uses", "bad-principal"],
)
def test_azure_form_shows_errors_next_to_fields(console: Console, fields: dict[str, str], field: str) -> None:
    identity = identity_id_from(create_identity(console))
    data = {"tenantId": TENANT, "resource": "https://management.azure.com/", "cloud": "public", **fields}
    response = console.submit(AZURE.format(identity), data=data)
    assert response.status_code == 422
    assert field in field_errors(response)
    assert ">Add Azure Auth</a>" in console.get(f"/identities/{identity}").text  # nothing was attached


def test_token_auth_token_is_shown_once_and_can_be_revoked(console: Console) -> None:
    identity = identity_id_from(create_identity(console))
    assert console.submit(f"/identities/{identity}/auth/token-auth").status_code == 303
    created = console.submit(
        f"/identities/{identity}",
        action=f"/identities/{identity}/auth/token-auth/tokens",
        data={"name": "deploy"},
    )
    assert "shown only this once" in created.text
    page = console.get(f"/identities/{identity}")
    token_id = re.search(r"/tokens/([0-9a-f-]{36})/revoke", page.text)
    assert token_id is not None
    assert console.submit(f"/identities/{identity}/tokens/{token_id.group(1)}/revoke").status_code == 303
    assert "No active tokens." in console.get(f"/identities/{identity}").text


# --- projects, memberships, roles, secrets ------------------------------------------------------------


def test_project_name_is_required(console: Console) -> None:
    response = console.submit("/projects/new", data={"projectName": "  "})
    assert response.status_code == 422
    assert "projectName" in field_errors(response)


def test_add_identity_to_project_change_role_and_remove(console: Console, project_id: str) -> None:
    identity = identity_id_from(create_identity(console, name="worker"))
    base = f"/projects/{project_id}/access-control/identities"
    assert console.submit(base + "/add", data={"identityId": identity, "role": "viewer"}).status_code == 303
    listing = console.get(base)
    assert "worker" in listing.text
    assert "viewer" in listing.text
    bad = console.submit(f"{base}/{identity}/role", data={"role": "member", "temporary": "soon"})
    assert bad.status_code == 422
    assert "temporary" in field_errors(bad)
    assert (
        console.submit(f"{base}/{identity}/role", data={"role": "member", "temporary": "8h"}).status_code
        == 303
    )
    assert "until" in console.get(base).text
    assert console.submit(f"{base}/{identity}/remove").status_code == 303
    assert "worker" not in console.get(base).text


def test_custom_role_with_path_scoped_rule(console: Console, project_id: str) -> None:
    base = f"/projects/{project_id}/roles"
    data = {
        "name": "Config reader",
        "slug": "config-reader",
        "rule_count": "2",
        "rule-0-subject": "secrets",
        "rule-0-actions": "read",
        "rule-0-environment": "staging",
        "rule-0-secretPath": "/config/**",
        "rule-1-subject": "",
    }
    response = console.submit(base + "/new", data=data)
    assert response.status_code == 303, field_errors(response)
    page = console.get(response.headers["location"].split("?")[0])
    assert 'value="/config/**"' in page.text
    assert 'value="staging"' in page.text
    bad = console.submit(base + "/new", data={**data, "slug": "other", "rule-0-actions": "fly"})
    assert bad.status_code == 422
    assert "rule-0-actions" in field_errors(bad)


def test_secret_values_stay_out_of_the_page_until_revealed(
    console: Console, project_id: str, app: Any
) -> None:
    browser = f"/projects/{project_id}/secrets?env=dev&path=/"
    created = console.submit(
        browser,
        action=f"/projects/{project_id}/secrets/new",
        data={"env": "dev", "path": "/", "name": "DB_PASSWORD", "value": "hunter2-very-secret"},
    )
    assert created.status_code == 303, created.text
    page = console.get(browser)
    assert "DB_PASSWORD" in page.text
    assert "hunter2-very-secret" not in page.text
    revealed = console.submit(
        browser,
        action=f"/projects/{project_id}/secrets/reveal",
        data={"env": "dev", "path": "/", "name": "DB_PASSWORD", "index": "1"},
        headers={"HX-Request": "true"},
    )
    assert revealed.status_code == 200
    assert "hunter2-very-secret" in revealed.text
    assert [e.details["name"] for e in audit_of(app, "console.secret.reveal")] == ["DB_PASSWORD"]


def test_audit_log_filters(console: Console, admin: Admin) -> None:
    create_identity(console)
    everything = console.get("/audit")
    assert "console.identity.create" in everything.text
    only_logins = console.get("/audit?event=login&outcome=success")
    assert "console.identity.create" not in only_logins.text
    assert "<code>login</code>" in only_logins.text
    assert console.get("/audit?since=not-a-date&page=-3").status_code == 200
