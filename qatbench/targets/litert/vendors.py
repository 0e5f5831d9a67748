"""The NPU vendors LiteRT compiles for, and what each needs on this host.

LiteRT ships one compiler plug-in per vendor inside ``ai-edge-litert``; the vendor's own
compiler libraries come from a separate SDK package that downloads them from the
vendor's site at install time (and installs empty, or fails, without that download).
This table is the single place that knows a vendor's backend id in LiteRT, its SDK
package, the variable that points at a local copy of its SDK libraries, and the fix to
print when they are missing. The SoC names are LiteRT's own (read from its vendor
tables), so a new SoC in a LiteRT release needs no change here.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Vendor:
    """One NPU vendor as LiteRT's AOT tooling knows it."""

    key: str  # our short name: the target names are litert-<key>
    label: str  # for rows and messages
    backend_id: str  # ai_edge_litert.aot vendor registry id
    target_module: str  # module with LiteRT's SocModel enum for this vendor
    sdk_package: str  # the pip package that fetches the vendor compiler
    default_soc: str
    where_to_get: str  # the vendor's SDK, for a lab that installs it by hand

    @property
    def sdk_env(self) -> str:
        """The variable naming a local copy of the vendor's SDK libraries."""
        return f"QATBENCH_LITERT_SDK_{self.key.upper().replace('-', '_')}"

    def socs(self) -> list[str]:
        """LiteRT's list of SoC models for this vendor (``ALL`` excluded)."""
        module = importlib.import_module(self.target_module)
        return [m.value for m in module.SocModel if m.value != "ALL"]

    def sdk_version(self) -> str:
        """``package version`` of the installed SDK package, or why there is none."""
        try:
            return f"{self.sdk_package} {metadata.version(self.sdk_package)}"
        except metadata.PackageNotFoundError:
            return f"{self.sdk_package} not installed"

    def fix(self) -> str:
        return (f"install the vendor SDK with access to the vendor's download "
                f"(`pip install {self.sdk_package}` fetches it from {self.where_to_get} "
                f"at install time), or set {self.sdk_env} (or `sdk_libs = \"DIR\"` under "
                f"[targets.NAME]) to a local directory holding its host libraries")


VENDORS: dict[str, Vendor] = {v.key: v for v in (
    Vendor("qualcomm", "Qualcomm", "qualcomm", "ai_edge_litert.aot.vendors.qualcomm.target",
           "ai-edge-litert-sdk-qualcomm", "SM8650",
           "Qualcomm's QAIRT SDK (softwarecenter.qualcomm.com)"),
    Vendor("mediatek", "MediaTek", "mediatek", "ai_edge_litert.aot.vendors.mediatek.target",
           "ai-edge-litert-sdk-mediatek", "MT6989",
           "MediaTek's NeuroPilot SDK (neuropilot.mediatek.com)"),
    Vendor("google-tensor", "Google Tensor", "GOOGLE",
           "ai_edge_litert.aot.vendors.google_tensor.target",
           "ai-edge-litert-sdk-google-tensor", "Tensor_G4",
           "Google's Tensor ML SDK download"),
    Vendor("samsung", "Samsung", "samsung", "ai_edge_litert.aot.vendors.samsung.target",
           "ai-edge-litert-sdk-samsung", "E9965", "Samsung's Exynos AI Studio"),
    Vendor("intel", "Intel", "intel_openvino",
           "ai_edge_litert.aot.vendors.intel_openvino.target",
           "ai-edge-litert-sdk-intel", "LNL",
           "Intel's OpenVINO toolkit archive (storage.openvinotoolkit.org)"),
)}


def local_sdk_dir(vendor: Vendor, configured: str | None) -> Path | None:
    """The local SDK library directory the user pointed at: the variable, else the config."""
    value = os.environ.get(vendor.sdk_env) or configured
    return Path(value).expanduser() if value else None


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
