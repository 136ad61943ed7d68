"""The schema tables in docs/design.md are generated from the code's Field tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.model.options import OPTIONS
from bootstrap.model.profiles import PROFILE_FIELDS
from bootstrap.model.recipes import RECIPE_FIELDS
from bootstrap.model.schema import describe
from bootstrap.model.sources import OVERRIDE_FIELDS, SOURCE_FIELDS
from bootstrap.model.targets import TARGET_FIELDS

DESIGN = Path(__file__).resolve().parent.parent / "docs" / "design.md"
README = DESIGN.parent.parent / "README.md"


@pytest.mark.parametrize(
    "fields", [RECIPE_FIELDS, SOURCE_FIELDS, OVERRIDE_FIELDS, TARGET_FIELDS, PROFILE_FIELDS]
)
def test_schema_tables_are_current(fields) -> None:
    assert describe(fields) in DESIGN.read_text(), "run tools/update_docs.py"


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_every_option_has_a_row_in_the_readme_table(option) -> None:
    flag = "--" + option.name.replace("_", "-")
    assert f"| `{flag}` | `{option.env}` |" in README.read_text()
