"""The one registry pattern every extension point uses."""

import sys

import pytest

from cubeworld.errors import CubeworldError, UnknownEntryError
from cubeworld.registry import Registry


def test_entries_in_order_and_lookup():
    reg: Registry[int] = Registry("widget", {"a": 1})
    reg.register("b", 2)

    @reg.register("c")
    def c():
        return 3

    assert reg.names() == ("a", "b", "c")
    assert reg.get("b") == 2 and reg.get("c") is c
    assert "a" in reg and "z" not in reg and len(reg) == 3
    assert dict(reg.items())["a"] == 1


def test_unknown_name_lists_the_known_ones():
    reg = Registry("stimulus family", {"tower": 1, "pyramid": 2})
    with pytest.raises(UnknownEntryError, match=r"unknown stimulus family 'domino': expected one of tower, pyramid"):
        reg.get("domino")
    assert issubclass(UnknownEntryError, CubeworldError)


def test_duplicate_names_are_refused():
    reg = Registry("widget", {"a": 1})
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a", 2)


def test_lazy_entries_load_on_first_use_only():
    sys.modules.pop("colorsys", None)
    reg = Registry("codec", {"hls": "colorsys:rgb_to_hls"})
    assert reg.names() == ("hls",) and "colorsys" not in sys.modules
    import colorsys

    assert reg.get("hls") is colorsys.rgb_to_hls
