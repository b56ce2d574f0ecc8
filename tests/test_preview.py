"""Text previews of values (covalent_nb._preview): bounded, and never raising."""

from __future__ import annotations

from covalent_nb._preview import MAX_PREVIEW_CHARS, PREVIEW_CHARS, bounded_preview, text_preview


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class LongRepr:
    def __repr__(self) -> str:
        return "L" * 100_000


def test_small_values_are_their_repr() -> None:
    assert text_preview(42) == "42"
    assert text_preview({"a": [1, 2]}) == "{'a': [1, 2]}"
    assert text_preview("text") == "'text'"


def test_long_values_are_cut_to_the_limit() -> None:
    assert len(text_preview(list(range(100_000)))) <= PREVIEW_CHARS
    assert text_preview(list(range(100_000))).endswith("...]")
    long = text_preview(LongRepr())
    assert len(long) == PREVIEW_CHARS and "..." in long  # reprlib keeps its head and its tail
    assert len(text_preview("x" * 50_000, limit=100)) == 100
    nested = text_preview([[[[[["deep"]]]]]])
    assert "deep" not in nested and "..." in nested


def test_bytes_are_summarised_and_broken_reprs_do_not_raise() -> None:
    summary = text_preview(b"\x00" * 10_000_000)
    assert summary.startswith("<bytes of 10000000 bytes") and len(summary) < 400
    assert "BrokenRepr" in text_preview(BrokenRepr())


def test_bounded_preview_takes_only_strings_and_cuts_them() -> None:
    assert bounded_preview("abc") == "abc"
    assert bounded_preview(None) is None and bounded_preview(12) is None and bounded_preview(["a"]) is None
    assert len(bounded_preview("y" * (MAX_PREVIEW_CHARS * 3))) == MAX_PREVIEW_CHARS
