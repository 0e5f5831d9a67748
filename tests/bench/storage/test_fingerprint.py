"""A row's fingerprint: which parts it is made of, the id they hash to, and how a
mismatch is named (``storage/fingerprint.py``)."""

from __future__ import annotations

import json

from qatbench.bench.storage.environment import Environment
from qatbench.bench.storage.fingerprint import (
    delegate_kind,
    differences,
    fingerprint_of,
    fingerprint_parts,
    host_parts,
    parse_parts,
)
from tests.bench.runs_helpers import fingerprint

HOST = Environment(host="lab-7", cpu_model="AMD EPYC 7B13", cpu_count=2, machine="x86_64",
                   os="Linux", python="3.11.9", governor="performance",
                   load_average=(1.0, 1.0, 1.0), git_commit="abc", git_dirty=False,
                   cpu_flags="avx avx2 fma")


def test_host_parts_are_the_cpu_its_flags_its_cores_and_the_machine() -> None:
    # not the host name, the load or the commit: two identical lab hosts share an id
    assert host_parts(HOST) == {"cpu_model": "AMD EPYC 7B13", "cpu_flags": "avx avx2 fma",
                                "cpu_count": "2", "machine": "x86_64"}


def test_a_delegate_is_fingerprinted_by_its_kind_not_by_what_it_took() -> None:
    assert delegate_kind("xnnpack (12 kernels)") == "xnnpack"
    assert delegate_kind("  nnapi (3 partitions)  ") == "nnapi"
    assert delegate_kind("edgetpu") == "edgetpu"
    assert delegate_kind("") == "" and delegate_kind(None) == ""  # type: ignore[arg-type]
    assert delegate_kind("gpu (opencl) (5 nodes)") == "gpu"


def test_parts_join_host_runtime_delegate_and_device() -> None:
    parts = fingerprint_parts(host=host_parts(HOST), runtime="ai-edge-litert 2.3.0",
                              delegate="xnnpack (7 kernels)",
                              device={"model": "Pixel 8", "build": 34})
    assert parts == {**host_parts(HOST), "runtime": "ai-edge-litert 2.3.0",
                     "delegate": "xnnpack", "device.model": "Pixel 8", "device.build": "34"}
    # a phone: no host parts; a missing runtime is an empty part, not an absent one
    assert fingerprint_parts(host=None, runtime="", delegate="") == {"runtime": "",
                                                                    "delegate": ""}
    host = host_parts(HOST)
    fingerprint_parts(host=host, runtime="r", delegate="d", device={"x": 1})
    assert host == host_parts(HOST)  # the caller's dict is not changed


def test_the_id_is_12_hex_digits_of_the_sorted_compact_json() -> None:
    # pinned: every stored row and every lab baseline is keyed by these ids
    assert fingerprint_of({"cpu_model": "AMD EPYC 7B13", "runtime": "ai-edge-litert 2.3.0"}
                          ) == "7f4ffb623441"
    assert fingerprint_of({}) == "44136fa355b3"
    a = {"runtime": "r", "delegate": "d"}
    assert fingerprint_of(a) == fingerprint_of(dict(reversed(a.items())))
    assert fingerprint_of(a) != fingerprint_of({**a, "delegate": "e"})


def test_the_tests_rows_carry_the_products_fingerprint() -> None:
    columns = fingerprint(cpu_model="AMD EPYC 7B13", runtime="ai-edge-litert 2.3.0")
    assert columns["fingerprint"] == "7f4ffb623441"
    assert columns["fingerprint"] == fingerprint_of(parse_parts(columns["fingerprint_parts"]))


def test_parse_parts_reads_the_stored_json_and_nothing_else() -> None:
    assert parse_parts(json.dumps({"a": "1", "b": 2})) == {"a": "1", "b": "2"}
    for bad in (None, "", float("nan"), "{not json", "[1, 2]", "3", 7):
        assert parse_parts(bad) == {}


def test_differences_name_each_part_that_changed() -> None:
    base = {"cpu_model": "A", "runtime": "r1", "delegate": "xnnpack"}
    current = {"cpu_model": "B", "runtime": "r1", "device.model": "Pixel"}
    assert differences(base, current) == ["cpu_model: A -> B",
                                          "delegate: xnnpack -> (absent)",
                                          "device.model: (absent) -> Pixel"]
    assert differences(base, dict(base)) == []
