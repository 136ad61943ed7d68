#!/usr/bin/env python3
"""Regenerate the schema tables in docs/design.md from the code's Field tables."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bootstrap.model.profiles import PROFILE_FIELDS
from bootstrap.model.recipes import RECIPE_FIELDS
from bootstrap.model.schema import describe
from bootstrap.model.sources import OVERRIDE_FIELDS, SOURCE_FIELDS
from bootstrap.model.targets import TARGET_FIELDS

DESIGN = Path(__file__).resolve().parent.parent / "docs" / "design.md"
SECTIONS = {
    "### Recipe": RECIPE_FIELDS,
    "### Source": SOURCE_FIELDS,
    "### Override": OVERRIDE_FIELDS,
    "### Target": TARGET_FIELDS,
    "### Profile": PROFILE_FIELDS,
}


def main() -> None:
    text = DESIGN.read_text()
    for heading, fields in SECTIONS.items():
        pattern = re.compile(
            rf"({re.escape(heading)}[^\n]*\n(?:(?!\| key)[^\n]*\n)*)"
            r"(\| key[^\n]*\n(?:\|[^\n]*\n)*)"
        )
        text, count = pattern.subn(lambda m, f=fields: m.group(1) + describe(f) + "\n", text)
        assert count == 1, heading
    DESIGN.write_text(text)


if __name__ == "__main__":
    main()
