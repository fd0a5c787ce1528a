"""Pure helpers of the console: charts, formatting, the permission editor, filters, redirects, CSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tessera.console import csrf
from tessera.console.charts import bar_chart_svg, daily_counts
from tessera.console.formatting import cidrs, duration, uses, when
from tessera.console.pages.overview import audit_filters
from tessera.console.pages.secrets import breadcrumbs
from tessera.console.permission_editor import RuleRow, row_errors, rows_from_rules, rules_from_rows
from tessera.console.web import safe_next

NOW = datetime(2030, 1, 31, 12, 0, tzinfo=UTC)


def test_daily_counts_cover_every_day_oldest_first() -> None:
    times = [NOW, NOW - timedelta(hours=1), NOW - timedelta(days=2), NOW - timedelta(days=40)]
    counts = daily_counts(times, now=NOW, days=7)
    assert counts.days[0] == (NOW - timedelta(days=6)).date()
    assert counts.counts == [0, 0, 0, 0, 1, 0, 2]
    assert counts.total == 3


def test_chart_is_accessible_svg_with_one_bar_per_day() -> None:
    svg = bar_chart_svg(daily_counts([NOW], now=NOW, days=30), title="Logins <per> day")
    assert svg.startswith("<svg")
    assert 'role="img"' in svg
    assert svg.count('class="bar"') == 30
    assert "Logins &lt;per&gt; day" in svg
    assert "1 logins" in svg


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "no limit"), (59, "59 seconds"), (3600, "1 hour"), (2_592_000, "30 days"), (90_061, "1 day 1 hour")],
    ids=["zero", "seconds", "hour", "thirty-days", "two-units"],
)
def test_duration(seconds: int, text: str) -> None:
    assert duration(seconds) == text


def test_small_formatters() -> None:
    assert when(None) == "—"
    assert when(NOW) == "2030-01-31 12:00 UTC"
    assert uses(3, 0) == "3 (no limit)"
    assert uses(3, 10) == "3 of 10"
    assert cidrs([{"ipAddress": "10.0.0.0", "prefix": 8}, {"ipAddress": "1.2.3.4"}]) == "10.0.0.0/8, 1.2.3.4"


def test_rules_round_trip_through_the_editor() -> None:
    rules = [
        {
            "subject": "secrets",
            "action": ["read"],
            "conditions": {"environment": "staging", "secretPath": {"$glob": "/config/**"}},
            "inverted": False,
        },
        {
            "subject": "secrets",
            "action": "delete",
            "conditions": {"environment": {"$in": ["dev", "prod"]}},
            "inverted": True,
        },
    ]
    rows = rows_from_rules(rules)
    assert rows[0] == RuleRow("secrets", ["read"], "staging", "/config/**", False)
    assert rows[1].environment == "dev, prod"
    assert rows[1].inverted
    wire, origin = rules_from_rows([RuleRow(), *rows])
    assert origin == [1, 2]
    assert wire[0]["conditions"] == {"environment": {"$eq": "staging"}, "secretPath": {"$glob": "/config/**"}}
    assert wire[1]["conditions"] == {"environment": {"$in": ["dev", "prod"]}}


def test_environment_globs_become_glob_conditions() -> None:
    wire, _ = rules_from_rows([RuleRow("secrets", ["read"], "prod-*", "")])
    assert wire[0]["conditions"] == {"environment": {"$glob": "prod-*"}}


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("permissions.1.action", "rule-4-actions"),
        ("permissions.0.subject", "rule-2-subject"),
        ("permissions.1.conditions.secretPath", "rule-4-secretPath"),
        ("permissions", "permissions"),
    ],
    ids=["action", "subject", "condition", "whole-list"],
)
def test_service_errors_land_on_the_row_they_came_from(path: str, field: str) -> None:
    assert row_errors(path, "bad", origin=[2, 4]) == {field: "bad"}


def test_audit_filters_drop_what_they_cannot_use() -> None:
    filters = audit_filters({"outcome": "maybe", "since": "yesterday", "until": "2030-01-31", "page": "x"})
    assert filters["outcome"] is None
    assert filters["since"] is None
    assert filters["page"] == 1
    assert filters["until"] == datetime(2030, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_breadcrumbs() -> None:
    assert breadcrumbs("/") == [("/", "/")]
    assert breadcrumbs("/a/b") == [("/", "/"), ("a", "/a"), ("b", "/a/b")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "/"), ("/audit", "/audit"), ("//evil", "/"), ("https://evil", "/"), ("/\\evil", "/")],
    ids=["none", "path", "scheme-relative", "absolute", "backslash"],
)
def test_safe_next(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_csrf_tokens_are_bound_to_their_kind_and_binding() -> None:
    key = csrf.csrf_key(b"k" * 32)
    token = csrf.token_for(key, "s", "session-a")
    assert csrf.is_valid(key, "s", "session-a", token)
    assert not csrf.is_valid(key, "s", "session-b", token)
    assert not csrf.is_valid(key, "a", "session-a", token)
    assert not csrf.is_valid(csrf.csrf_key(b"j" * 32), "s", "session-a", token)
    assert not csrf.is_valid(key, "s", None, token)
    assert not csrf.is_valid(key, "s", "session-a", None)
