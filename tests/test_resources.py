"""Specification of the shipped files: the zoo, the icon and the op's sources are found
through ``aegui.resources`` (inside an installed package, else in the checkout)."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

from aegui import resources
from aegui.models import zoo
from aegui.ops import _extension


def test_the_zoo_the_icon_and_the_ops_sources_are_where_resources_says():
    root = resources.resources_dir()
    assert zoo.MODELS_DIR == root / "models"
    assert {f"{name}.pt" for name in zoo.SHIPPED} <= {p.name for p in zoo.MODELS_DIR.iterdir()}
    assert _extension.source_dir() == resources.csrc_dir()
    assert (resources.csrc_dir() / "bindings.cpp").is_file() and (resources.csrc_dir() / "bottleneck.h").is_file()


def test_the_icon_is_an_svg_with_a_png_rendering_at_every_listed_size():
    svg = ET.parse(resources.icon_path()).getroot()
    assert svg.tag.endswith("svg") and svg.get("viewBox") == "0 0 256 256"
    for size in resources.ICON_SIZES:
        data = resources.icon_path(size).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", data[16:24]) == (size, size)
