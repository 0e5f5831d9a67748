"""Ahead-of-time compilation of a ``.tflite`` for one NPU SoC with LiteRT's plug-ins.

LiteRT's own vendor backends (``ai_edge_litert.aot.vendors``) decide how the plug-in is
called -- manufacturer and model strings, where the vendor SDK libraries are, vendor
flags -- and we take those arguments from them unchanged. The ``apply_plugin_main``
binary is then run here rather than through ``aot_compile``, because ``aot_compile``
hides what matters to a benchmark: it writes the plug-in's error to a ``.error`` file in
the temp dir and returns "failed to apply plugin", leaves a 0-byte ``.tflite`` behind,
has no timeout and no compile time. Here the plug-in's own words become the row's
error, a missing vendor library becomes ``unavailable`` naming that library, and an
output that is not a TFLite flatbuffer is never a result.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qatbench.targets.base import JobFailed, TargetUnavailable
from qatbench.targets.litert.vendors import Vendor
from qatbench.targets.tflite_file import TFLITE_MAGIC
from qatbench.targets.tools import ToolRun, run_tool

_PARTITION = re.compile(r"Partitioned subgraph<(\d+)>, selected (\d+) ops, from a total of "
                        r"(\d+) ops\. resulted in (\d+) partitions")
_MISSING_LIBRARY = re.compile(r"([\w.+-]+\.so[\w.]*): cannot open shared object file")
_UNDEFINED_SYMBOL = re.compile(r"Could not load shared library (\S+?): .*undefined symbol: "
                               r"(\S+?)\.?$")
# libraries a plug-in names in its own words rather than in the loader's
_NAMED_LIBRARIES = {"Failed to load NeuronAdapter shared library": "libneuron_adapter.so"}


@dataclass(frozen=True)
class SubgraphPartition:
    """What the plug-in reported for one subgraph (``apply_plugin``'s partition line)."""

    subgraph: int
    ops_offloaded: int
    ops_total: int
    partitions: int


@dataclass(frozen=True)
class PluginCall:
    """How LiteRT's vendor backend calls the plug-in for one SoC."""

    soc_manufacturer: str
    soc_model: str
    sdk_libs: str | None
    flags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CompileResult:
    model: Path
    seconds: float
    size_bytes: int
    partitions: tuple[SubgraphPartition, ...]
    call: PluginCall
    log: Path

    @property
    def ops_total(self) -> int:
        return sum(p.ops_total for p in self.partitions)

    @property
    def ops_offloaded(self) -> int:
        return sum(p.ops_offloaded for p in self.partitions)


def plugin_call(vendor: Vendor, soc: str, model: Path, output: Path) -> PluginCall:
    """The arguments LiteRT's own backend for ``vendor`` passes to the plug-in for ``soc``.

    Raises ``TargetUnavailable`` when this ai-edge-litert has no AOT tooling, and
    ``ValueError`` naming LiteRT's SoC list when ``soc`` is not in it.
    """
    try:
        import ai_edge_litert.aot.vendors  # noqa: F401  (registers every vendor backend)
        from ai_edge_litert.aot.core import aot_types, components
        from ai_edge_litert.aot.vendors import import_vendor
    except ImportError as error:
        raise TargetUnavailable(f"this ai-edge-litert has no AOT compiler tooling ({error}); "
                                "install ai-edge-litert 2.x on x86-64 Linux") from None
    if soc not in vendor.socs():
        raise ValueError(f"{soc!r} is not a {vendor.label} SoC LiteRT knows; "
                         f"LiteRT's list: {', '.join(vendor.socs())}")

    class _Recorder(components.ApplyPluginT):  # the backend calls it; we run it ourselves
        recorded: PluginCall | None = None

        def __call__(self, input_model: Any, output_model: Any, soc_manufacturer: Any,
                     soc_model: Any, *args: Any, **kwargs: Any) -> None:
            sdk = kwargs.pop("sdk_libs_path", None)
            self.recorded = PluginCall(str(soc_manufacturer), str(soc_model),
                                       str(sdk) if sdk else None,
                                       {k: str(v) for k, v in kwargs.items()})

    backend_class = import_vendor.import_vendor(vendor.backend_id)
    backend = next(iter(backend_class.create({"backend_id": vendor.backend_id,
                                              "soc_model": soc}).specialize()))
    recorder = _Recorder()
    backend.call_component(aot_types.Model.create_from_path(model),
                           aot_types.Model.create_from_path(output), recorder)
    if recorder.recorded is None:
        raise TargetUnavailable(f"LiteRT's {vendor.label} backend did not call its plug-in")
    return recorder.recorded


def apply_plugin_binary() -> Path:
    from ai_edge_litert.aot.core import common

    try:
        return common.get_resource(Path("tools/apply_plugin_main"))
    except FileNotFoundError:
        raise TargetUnavailable("ai-edge-litert has no tools/apply_plugin_main on this "
                                "platform (LiteRT ships AOT compilation for x86-64 Linux)"
                                ) from None


def library_path(call: PluginCall, sdk_dir: Path | None) -> str:
    from ai_edge_litert.aot.core import common

    parts = [str(sdk_dir) if sdk_dir else "", call.sdk_libs or "",
             common.construct_ld_library_path()]
    return os.pathsep.join(p for p in parts if p)


def plugin_errors(text: str) -> list[str]:
    """The plug-in's own error lines (``ERROR:``, failures and their ``└`` details)."""
    lines, keep = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("└") and keep:
            lines.append(stripped)
            continue
        keep = stripped.startswith(("ERROR", "Error", "F0", "terminate")) or \
            "Failed" in stripped or "failed" in stripped
        if keep and not stripped.startswith("WARNING: [npu_registry"):
            lines.append(stripped)
    return list(dict.fromkeys(lines))


def missing_library(text: str) -> str | None:
    """The vendor library whose absence stopped the plug-in, if that is what happened."""
    for phrase, library in _NAMED_LIBRARIES.items():
        if phrase in text:
            return library
    found = [m.group(1) for m in _MISSING_LIBRARY.finditer(text)
             if "LiteRtCompilerPlugin" not in m.group(1)]
    return found[-1] if found else None


def classify_failure(vendor: Vendor, soc: str, text: str, returncode: int | None
                     ) -> TargetUnavailable | JobFailed:
    """A failed plug-in run as the row it is: a missing SDK, a plug-in that does not load,
    or a real compile failure carrying the plug-in's own words."""
    library = missing_library(text)
    if library is not None:
        return TargetUnavailable(
            f"{vendor.label} SDK library {library} is missing ({vendor.sdk_version()}): "
            f"LiteRT's {vendor.label} plug-in cannot compile for {soc} without it -- "
            + vendor.fix())
    symbol = next((m for m in map(_UNDEFINED_SYMBOL.search, text.splitlines()) if m), None)
    if symbol is not None:
        return TargetUnavailable(
            f"LiteRT's {vendor.label} compiler plug-in does not load on this host "
            f"({Path(symbol.group(1)).name}: undefined symbol {symbol.group(2)}) -- use an "
            f"ai-edge-litert release whose {vendor.label} plug-in loads here")
    if "Loaded 0 plugins" in text:
        return TargetUnavailable(
            f"no {vendor.label} compiler plug-in could be loaded:\n"
            + "\n".join(plugin_errors(text)[-8:]) + f"\n-- {vendor.fix()}")
    errors = plugin_errors(text) or text.strip().splitlines()[-12:]
    return JobFailed(f"LiteRT {vendor.label} plug-in failed for {soc} (exit {returncode}):\n"
                     + "\n".join(errors[-20:]))


def _is_tflite(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size < 8:
        return False
    with path.open("rb") as handle:
        return handle.read(8)[4:8] == TFLITE_MAGIC


def compile_for_soc(model: Path, work: Path, vendor: Vendor, soc: str, *,
                    sdk_dir: Path | None = None, flags: dict[str, str] | None = None,
                    timeout_s: float = 600) -> CompileResult:
    """Compile ``model`` for ``soc`` into ``work``; raise the row's outcome otherwise."""
    model, work = Path(model).resolve(), Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    output = work / f"{model.stem}_{vendor.key}_{soc}.tflite"
    output.unlink(missing_ok=True)
    call = plugin_call(vendor, soc, model, output)
    all_flags = {**call.flags, **(flags or {})}
    args = [str(apply_plugin_binary()), "--cmd=apply", f"--model={model}", f"--o={output}",
            f"--soc_manufacturer={call.soc_manufacturer}", f"--soc_model={call.soc_model}",
            "--err=--", *(f"--{k}={v}" for k, v in all_flags.items())]
    # the vendor libraries are found through the loader path of the plug-in's process only
    launch = ["env", f"LD_LIBRARY_PATH={library_path(call, sdk_dir)}", *args]
    start = time.perf_counter()
    run: ToolRun = run_tool(launch, timeout_s=timeout_s, cwd=work)
    seconds = time.perf_counter() - start
    text = run.stdout + "\n" + run.stderr
    log = work / f"{output.stem}.apply_plugin.log"
    log.write_text(" ".join(args) + "\n\n" + text)
    if run.timed_out:
        output.unlink(missing_ok=True)
        raise JobFailed(f"LiteRT {vendor.label} plug-in did not finish in {timeout_s:g} s "
                        f"(compile_timeout_s) for {soc}; last output:\n{run.tail()}")
    if run.returncode != 0:
        output.unlink(missing_ok=True)  # the tool leaves a 0-byte file on failure
        raise classify_failure(vendor, soc, text, run.returncode)
    if not _is_tflite(output):
        size = output.stat().st_size if output.exists() else None
        output.unlink(missing_ok=True)
        what = "no file" if size is None else f"{size} bytes that are not a TFLite model"
        raise JobFailed(f"LiteRT {vendor.label} plug-in exited 0 for {soc} but wrote {what}; "
                        "a compiled model that is not a flatbuffer is never a result:\n"
                        + "\n".join(plugin_errors(text)[-12:] or [run.tail()]))
    partitions = tuple(SubgraphPartition(*map(int, m.groups()))
                       for m in _PARTITION.finditer(text))
    return CompileResult(model=output, seconds=seconds, size_bytes=output.stat().st_size,
                         partitions=partitions, call=call, log=log)
