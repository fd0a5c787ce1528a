"""The README documents every setting and keeps exactly two set-up commands in its quick start."""

from __future__ import annotations

import re
from pathlib import Path

from tessera.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = [
        f"TESSERA_{name.upper()}" for name in Settings.model_fields if f"`TESSERA_{name.upper()}`" not in text
    ]
    assert missing == [], f"README's configuration table lacks: {missing}"


def test_quick_start_has_exactly_the_two_set_up_commands() -> None:
    text = README.read_text()
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick_start, flags=re.S)
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/tessera server",
        "bash scripts/test",
    ]
