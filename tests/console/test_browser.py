"""The console in a real browser: Debian's Chromium driven by Playwright against a real uvicorn
server on 127.0.0.1 (temporary SQLite database, stand-in Entra ID, frozen clock).

Skipped, saying why, when Chromium or Playwright is missing. Install Chromium with
`apt-get install -y chromium` (Debian); Playwright drives /usr/bin/chromium and never downloads
a browser. Set TESSERA_SCREENSHOTS=docs/screenshots to refresh the README's screenshots.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.app import create_app
from tessera.clock import FrozenClock, utcnow
from tests.conftest import BOOTSTRAP_BODY, make_settings
from tests.fakes.entra import ARM, FakeEntra, SigningKey, token_claims

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"browser tests skipped: {CHROMIUM} not found "
        "(install Debian's Chromium: apt-get install -y chromium)",
        allow_module_level=True,
    )
try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    pytest.skip("browser tests skipped: the playwright package is not installed", allow_module_level=True)

import uvicorn  # noqa: E402 - only needed once the skips above did not fire

pytestmark = pytest.mark.slow

# The flags Chromium needs on a machine without a display, sandbox or outside network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
PRINCIPAL = "11111111-1111-4111-8111-111111111111"
IDLE = 1800
VIEWPORT = {"width": 1366, "height": 860}  # a common laptop screen


@dataclass
class LiveServer:
    url: str
    clock: FrozenClock
    app: Any
    entra: FakeEntra


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live(sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    database = tmp_path / "tessera.db"
    shutil.copyfile(sqlite_template, database)
    entra = FakeEntra().start()
    clock = FrozenClock(utcnow().replace(microsecond=0))
    settings = make_settings(f"sqlite:///{database}", tmp_path / "data", azure_authority_host=entra.authority)
    app = create_app(settings, clock=clock)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield LiveServer(url=f"http://127.0.0.1:{port}", clock=clock, app=app, entra=entra)
    server.should_exit = True
    thread.join(timeout=20)
    entra.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = Path(os.environ.get("TESSERA_SCREENSHOTS") or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


@contextmanager
def attacker_page(console_url: str) -> Iterator[str]:
    """Serve, from another port, a page that posts a form to the console as soon as it loads."""
    html = (
        f'<html><body onload="document.forms[0].submit()"><form method="post" '
        f'action="{console_url}/organization/access-control/identities/new">'
        '<input name="name" value="from-elsewhere"><input name="role" value="admin"></form></body></html>'
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def bootstrap(live: LiveServer) -> None:
    response = httpx.post(f"{live.url}/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY)
    assert response.status_code == 200, response.text


def sign_in(page: Page, live: LiveServer) -> None:
    page.goto(f"{live.url}/login")
    page.get_by_label("Email").fill(BOOTSTRAP_BODY["email"])
    page.get_by_label("Password").fill(BOOTSTRAP_BODY["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible()


def azure_token(key: SigningKey, live: LiveServer) -> str:
    return key.sign(token_claims(tenant=TENANT, oid=PRINCIPAL, now=live.clock.now(), audience=ARM))


def test_the_seed_click_path(page: Page, live: LiveServer, shots: Path) -> None:
    key = live.entra.new_key()
    # First run: the console offers the set-up form.
    page.goto(live.url + "/")
    expect(page.get_by_role("heading", name="Set up Tessera")).to_be_visible()
    page.screenshot(path=shots / "setup.png")
    page.get_by_label("Organisation name").fill(BOOTSTRAP_BODY["organization"])
    page.get_by_label("Your email").fill(BOOTSTRAP_BODY["email"])
    page.get_by_label(re.compile(r"^Password")).fill(BOOTSTRAP_BODY["password"])
    page.get_by_label("Repeat the password").fill(BOOTSTRAP_BODY["password"])
    page.get_by_role("button", name="Set up").click()
    page.get_by_role("link", name="Continue to sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(page, live)
    # Keyboard: the first Tab reaches the skip link, which is then shown.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    expect(page.get_by_role("link", name="Skip to content")).to_be_visible()

    # A project to add the identity to.
    page.get_by_role("link", name="Projects", exact=True).click()
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Name").fill("Payments")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Payments")).to_be_visible()
    project_url = page.url.split("?")[0]

    # Organization Settings > Access Control > Identities > Create identity.
    page.get_by_role("link", name="Organization Settings").click()
    expect(page.get_by_role("heading", name="Access Control")).to_be_visible()
    page.get_by_role("link", name="Create identity").click()
    page.get_by_label("Name").fill("azure-vm")
    page.get_by_label("Role").select_option("member")
    page.screenshot(path=shots / "identity-create.png")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="azure-vm")).to_be_visible()
    identity_url = page.url.split("?")[0]
    identity_id = identity_url.rsplit("/", 1)[1]

    # Replace the default Universal Auth with Azure Auth.
    page.get_by_role("link", name="Remove Universal Auth").click()
    page.get_by_role("button", name="Remove Universal Auth").click()
    page.get_by_role("link", name="Add Azure Auth").click()
    page.get_by_role("textbox", name="Tenant ID", exact=True).fill(TENANT)
    page.get_by_label("Resource / Audience").fill(ARM)
    page.get_by_label("Allowed Service Principal IDs").fill(PRINCIPAL)
    page.get_by_label("Access Token TTL (seconds)").fill("2592000")
    page.get_by_label("Access Token Max TTL (seconds)").fill("2592000")
    page.get_by_label("Access Token Max Number of Uses").fill("0")
    page.get_by_label("Access Token Trusted IPs").fill("0.0.0.0/0, ::/0")
    page.screenshot(path=shots / "azure-auth.png", full_page=True)
    page.get_by_role("button", name="Add Azure Auth").click()
    expect(page.get_by_text(TENANT)).to_be_visible()

    # Project > Access Control > Machine Identities > Add identity, with a project role.
    page.goto(project_url)
    page.get_by_role("navigation", name="Project sections").get_by_role("link", name="Access Control").click()
    page.get_by_role("link", name="Add identity").click()
    page.get_by_label("Identity").select_option(identity_id)
    page.get_by_label("Project role").select_option("viewer")
    page.get_by_role("button", name="Add identity").click()
    expect(page.get_by_role("cell", name="azure-vm", exact=True)).to_be_visible()
    page.screenshot(path=shots / "project-identities.png")

    # The workload logs in with a stand-in Entra token and uses its access token.
    live.clock.advance(30)
    login = httpx.post(
        f"{live.url}/api/v1/auth/azure-auth/login",
        json={"identityId": identity_id, "jwt": azure_token(key, live)},
    )
    assert login.status_code == 200, login.text
    bearer = {"Authorization": f"Bearer {login.json()['accessToken']}"}
    project_id = project_url.rsplit("/", 1)[1]
    for _ in range(3):
        used = httpx.get(
            f"{live.url}/api/v3/secrets/raw",
            params={"workspaceId": project_id, "environment": "dev"},
            headers=bearer,
        )
        assert used.status_code == 200, used.text

    # The console shows its last login and use count.
    page.goto(identity_url)
    expect(page.locator("#last-login-method")).to_have_text("azure-auth")
    expect(page.locator("#last-login")).not_to_have_text("—")
    expect(page.locator("#use-count")).to_have_text("3")
    expect(page.locator("#login-count")).to_have_text("1")
    page.screenshot(path=shots / "identity.png", full_page=True)

    page.get_by_role("link", name="Organization Settings").click()
    page.screenshot(path=shots / "identities.png")


def test_secrets_are_masked_until_revealed(page: Page, live: LiveServer, shots: Path) -> None:
    bootstrap(live)
    sign_in(page, live)
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Name").fill("Payments")
    page.get_by_role("button", name="Create project").click()
    page.get_by_role("navigation", name="Project sections").get_by_role("link", name="Secrets").click()
    page.get_by_label("Folder name").fill("config")
    page.get_by_role("button", name="Create folder").click()
    page.get_by_role("link", name="config").click()
    for name, value in (("DATABASE_URL", "postgres://app:s3cr3t@db/app"), ("API_KEY", "k-12345-abcdef")):
        page.get_by_role("textbox", name="Name", exact=True).fill(name)
        page.get_by_role("textbox", name="Value", exact=True).fill(value)
        page.get_by_role("button", name="Add secret").click()
    assert "s3cr3t" not in page.content()
    page.get_by_role("button", name="Reveal DATABASE_URL").click()  # htmx swaps the value in place
    expect(page.get_by_text("postgres://app:s3cr3t@db/app")).to_be_visible()
    assert "k-12345-abcdef" not in page.content()
    page.screenshot(path=shots / "secrets.png")

    page.get_by_role("navigation", name="Project sections").get_by_role("link", name="Project Roles").click()
    page.get_by_role("link", name="Create role").click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Config reader")
    page.get_by_label("Slug").fill("config-reader")
    page.get_by_label("Rule 1 subject").select_option("secrets")
    page.get_by_label("Rule 1 actions").select_option(["read"])
    page.get_by_label("Rule 1 environment").fill("staging")
    page.get_by_label("Rule 1 secretPath").fill("/config/**")
    page.get_by_role("button", name="Create role").click()
    expect(page.get_by_role("heading", name="Edit role Config reader")).to_be_visible()
    page.screenshot(path=shots / "role-editor.png", full_page=True)

    page.get_by_role("link", name="Audit log", exact=True).click()
    page.screenshot(path=shots / "audit.png")
    page.get_by_role("link", name="Overview").click()
    page.screenshot(path=shots / "overview.png")


def test_a_form_without_the_right_csrf_token_is_refused(page: Page, live: LiveServer) -> None:
    bootstrap(live)
    sign_in(page, live)
    page.goto(f"{live.url}/organization/access-control/identities/new")
    page.get_by_label("Name").fill("forged")
    form_token = "form[action$='/identities/new'] input[name=csrf_token]"
    page.evaluate(f'document.querySelector("{form_token}").value = "0".repeat(64)')
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Form expired")).to_be_visible()
    # A page on another port of the same host (same site, so SameSite cookies are still sent)
    # submits a form to the console: without the token it is refused.
    with attacker_page(live.url) as attacker_url:
        page.goto(attacker_url)
        expect(page.get_by_role("heading", name="Form expired")).to_be_visible()
    page.goto(f"{live.url}/organization/access-control/identities")
    assert "forged" not in page.content()
    assert "from-elsewhere" not in page.content()


def test_an_idle_session_ends(page: Page, live: LiveServer) -> None:
    bootstrap(live)
    sign_in(page, live)
    live.clock.advance(IDLE + 1)
    page.get_by_role("link", name="Audit log", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Your session has ended. Sign in again to continue.")
    page.get_by_label("Email").fill(BOOTSTRAP_BODY["email"])
    page.get_by_label("Password").fill(BOOTSTRAP_BODY["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()  # back where they were going
