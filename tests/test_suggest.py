"""The end of every "unknown name" message: what is offered, and the close names."""

from __future__ import annotations

from covalent_nb._suggest import MAX_LISTED, choices_hint, close_names, did_you_mean, listing


def test_close_names_best_first_ignoring_case() -> None:
    assert close_names("dask_typo", ["local", "dask", "awsbatch"]) == ["dask"]
    assert close_names("DASK", ["local", "dask"]) == ["dask"]
    assert close_names("stauts", ["start", "status", "stop"])[0] == "status"
    assert close_names("quantum", ["local", "dask"]) == []


def test_did_you_mean_names_one_or_several() -> None:
    assert did_you_mean("lokal", ["local", "dask"]) == "did you mean 'local'?"
    assert did_you_mean("stat", ["start", "status", "stop"]) == "did you mean 'start' or 'status'?"
    assert did_you_mean("tsat", ["stat", "tast", "sat", "x"]) == "did you mean 'sat', 'tast' or 'stat'?"
    assert did_you_mean("quantum", ["local"]) == ""


def test_choices_hint_lists_what_is_offered_then_the_suggestion() -> None:
    assert choices_hint("dask_typo", ["dask", "local"], "this server offers") == (
        "this server offers: dask, local; did you mean 'dask'?")
    assert choices_hint("quantum", ["dask", "local"]) == "known names: dask, local"
    assert choices_hint("x", []) == "known names: (none)"


def test_a_long_listing_is_cut_but_the_suggestion_looks_at_every_name() -> None:
    names = [f"name{i:03d}" for i in range(MAX_LISTED + 5)] + ["zebra"]
    hint = choices_hint("zebro", names)
    assert f"name{MAX_LISTED - 1:03d} and 6 more; did you mean 'zebra'?" in hint
    assert f"name{MAX_LISTED:03d}" not in hint


def test_listing_alone_for_ids() -> None:
    assert listing([0, 1, 1, 2]) == "0, 1, 2"
    assert listing([]) == "(none)"
    assert listing(range(MAX_LISTED + 2)).endswith(f"{MAX_LISTED - 1} and 2 more")
