"""Every definition shown in docs/segments.md is valid."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.segments.validation import parse_definition

DOC = Path(__file__).resolve().parents[2] / "docs" / "segments.md"
BLOCKS = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]
NODES = [b for b in BLOCKS if "type" in b or {"all", "any", "not"} & set(b)]
DEFINITIONS = [b for b in BLOCKS if "version" in b]


def test_the_doc_has_examples():
    assert len(DEFINITIONS) >= 8 and len(NODES) >= 12


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_worked_example_is_valid(definition):
    parse_definition(definition)


@pytest.mark.parametrize("node", NODES)
def test_condition_example_is_valid(node):
    parse_definition({"version": 1, "match": node})
