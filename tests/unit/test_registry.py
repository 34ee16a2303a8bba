import pytest

from neurocircuits.registry import DuplicateNameError, Registry, UnknownNameError


def test_registry_rejects_duplicates_and_suggests_names():
    reg = Registry("widget")

    @reg.register("lif")
    def lif():
        return 1

    assert reg.get("lif")() == 1
    with pytest.raises(DuplicateNameError, match="already registered"):
        reg.add("lif", lif)
    with pytest.raises(UnknownNameError, match=r"Did you mean 'lif'.*Valid widgets: lif"):
        reg.get("lfi")
