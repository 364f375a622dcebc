"""The docs say what the code does: every setting is documented."""

from __future__ import annotations

from pathlib import Path

from onpyrunner.settings import Settings

DOCS = Path(__file__).parent.parent / "docs"


def test_every_setting_is_in_the_settings_doc() -> None:
    text = (DOCS / "settings.md").read_text()
    missing = [n for n in Settings.model_fields if f"`ONPYRUNNER_{n.upper()}`" not in text]
    assert missing == []
