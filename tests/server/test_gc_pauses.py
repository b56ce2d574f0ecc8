"""CollectorPauses: no automatic collection while a big dispatch is built; its objects frozen while it runs."""

from __future__ import annotations

import gc
import sys

import pytest

from covalent_nb.server.gc_pauses import SWITCH_SECONDS, CollectorPauses


@pytest.fixture
def pauses():
    """A CollectorPauses, with the collector's state put back afterwards whatever the test did."""
    enabled, interval = gc.isenabled(), sys.getswitchinterval()
    yield CollectorPauses()
    gc.unfreeze()
    gc.enable() if enabled else gc.disable()
    sys.setswitchinterval(interval)


def test_building_defers_collections_and_switches_the_gil_often(pauses):
    interval = sys.getswitchinterval()
    with pauses.building():
        assert not gc.isenabled()
        assert sys.getswitchinterval() == min(interval, SWITCH_SECONDS)
        with pauses.building():  # nested (two big posts at once): still deferred
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled() and sys.getswitchinterval() == interval
    assert gc.get_freeze_count() == 0, "nothing kept: nothing frozen"


def test_a_kept_dispatch_is_frozen_until_it_ends(pauses):
    with pauses.building():
        pauses.keep("big")
    assert gc.get_freeze_count() > 0
    with pauses.building():  # a view read meanwhile freezes nothing more and thaws nothing
        frozen = gc.get_freeze_count()
    assert gc.get_freeze_count() == frozen
    pauses.ended("small")  # another dispatch ending changes nothing
    assert gc.get_freeze_count() == frozen
    pauses.ended("big")
    assert gc.get_freeze_count() == 0


def test_a_dispatch_ending_while_another_is_built_thaws_afterwards(pauses):
    with pauses.building():
        pauses.keep("first")
    with pauses.building():
        pauses.ended("first")
        assert gc.get_freeze_count() > 0, "not while building"
    assert gc.get_freeze_count() == 0
