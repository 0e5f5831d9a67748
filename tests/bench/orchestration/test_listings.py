"""``targets`` and ``models`` as typed calls: one status per target whatever a target
does, and the zoo listed even when a plug-in zoo is broken."""

from __future__ import annotations

import pytest

from qatbench.bench.orchestration import listings
from qatbench.bench.orchestration.config import RunConfig
from qatbench.models.zoo import ZOO
from qatbench.targets.registry import target_names


def test_every_target_gets_one_status_and_the_host_cpu_is_available() -> None:
    statuses = listings.target_statuses(RunConfig())
    assert [s.name for s in statuses] == list(target_names())
    by_name = {s.name: s for s in statuses}
    assert by_name["cpu-ref"].state == "available"
    assert all(s.details for s in statuses)  # a reason or what was found, never blank


def test_a_target_that_raises_while_probed_is_an_error_row_not_a_failed_listing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from qatbench.targets import registry

    real = registry.create_target

    def create(name: str, options: dict) -> object:
        if name == "cpu-ref":
            raise RuntimeError("probe exploded")
        return real(name, options)

    monkeypatch.setattr(registry, "create_target", create)
    statuses = {s.name: s for s in listings.target_statuses(RunConfig(),
                                                            ["cpu-ref", "cpu-xnnpack"])}
    assert statuses["cpu-ref"].state == "error"
    assert statuses["cpu-ref"].details == "RuntimeError: probe exploded"
    assert statuses["cpu-xnnpack"].state == "available"


def test_a_broken_plugin_zoo_is_named_and_the_built_in_zoo_still_listed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict:
        raise ImportError("no module named 'lab_models'")

    monkeypatch.setattr(listings, "known_models", broken)
    listing = listings.model_listing()
    assert set(listing.specs) == set(ZOO)
    assert set(listing.origins.values()) == {"zoo"}
    assert "ImportError: no module named 'lab_models'" in listing.plugin_error
