"""``qatbench fingerprint``: one id for "this kind of host, with these tools and devices".

A device lab keeps one baseline per id, so a pull request is gated against a baseline
measured on the same kind of host. Rows carry their own, finer fingerprint (see
``storage.fingerprint``); this one is what can be known *before* a run: the host's CPU
and what each target's probe reports (runtime version, tool versions, device).
"""

from __future__ import annotations

from qatbench.bench.orchestration.config import RunConfig
from qatbench.bench.storage.environment import capture_environment
from qatbench.bench.storage.fingerprint import fingerprint_of, host_parts
from qatbench.targets.registry import create_target


def host_fingerprint(settings: RunConfig) -> tuple[str, dict[str, str]]:
    """(short id, the parts it is made of) for the targets of ``settings``."""
    parts = host_parts(capture_environment())
    for name in settings.run.targets:
        options = dict(settings.targets.get(name, {}))
        try:
            availability = create_target(name, options).probe()
        except Exception as error:  # a broken plug-in still gets an id, marked as such
            parts[name] = f"error: {type(error).__name__}"
            continue
        if not availability.available:
            parts[name] = "unavailable"
            continue
        for key, value in sorted(availability.details.items()):
            parts[f"{name}.{key}"] = str(value)
    return fingerprint_of(parts), parts
