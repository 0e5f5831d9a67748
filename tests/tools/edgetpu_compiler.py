"""A simulated Coral ``edgetpu_compiler`` for tests: same flags, files and output as the real one.

It reads the model with LiteRT and places each op as the compiler would at first
order: integer ops of the supported kinds are "Mapped to Edge TPU"; ops on float
tensors work "on an unsupported data type"; after the first unmapped op inside the
graph everything else runs on the CPU. It writes ``<stem>_edgetpu.tflite`` (the input
model, which stays runnable on a CPU interpreter) and ``<stem>_edgetpu.log``, prints the
v15 or v16 summary, and with ``-s`` the per-op table.

Knobs (environment):
  SIM_EDGETPU_VERSION   15 or 16 (default 16)
  SIM_EDGETPU_FAIL      make the compilation fail with this message
  SIM_EDGETPU_HANG      sleep this many seconds first (a hung compiler)
  SIM_EDGETPU_ARGV_LOG  append the command line to this file (tests check the flags)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

VERSIONS = {"15": "15.0.340273435", "16": "16.0.384591198"}
SUPPORTED = {"ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
             "FULLY_CONNECTED", "HARD_SWISH", "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL",
             "PAD", "QUANTIZE", "RELU", "RELU6", "RESHAPE", "SOFTMAX", "TANH", "DEQUANTIZE"}
MAPPED = "Mapped to Edge TPU"
FLOAT_DTYPE = "Operation is working on an unsupported data type"
UNSUPPORTED = "Operation not supported"
CUT = "More than one subgraph is not supported"
ON_CHIP_BYTES = 8 * 1024 * 1024 - 400 * 1024


def size_text(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.2f}MiB"
    if n >= 1024:
        return f"{n / 1024:.2f}KiB"
    return f"{n:.2f}B"


def place_ops(model: Path) -> tuple[list[tuple[str, str]], bool]:
    """(op, status) in execution order, and whether any integer compute was found."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=str(model),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    dtypes = {t["index"]: np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    placed, cut, seen_mapped, quantized = [], False, False, False
    for op in interpreter._get_ops_details():
        name = op["op_name"]
        tensors = [i for i in (*op["inputs"], *op["outputs"]) if i >= 0]
        kinds = {dtypes[i] for i in tensors}
        is_float = any(k.kind == "f" for k in kinds)
        if not is_float and name not in {"QUANTIZE", "DEQUANTIZE"}:
            quantized = True
        if cut:
            status = CUT
        elif is_float:
            status = FLOAT_DTYPE
        elif name not in SUPPORTED:
            status = UNSUPPORTED
        else:
            status = MAPPED
        if status == MAPPED:
            seen_mapped = True
        elif seen_mapped and status != FLOAT_DTYPE:
            cut = True  # the first unmapped op inside the graph cuts it
        elif seen_mapped and status == FLOAT_DTYPE and name != "DEQUANTIZE":
            cut = True
        placed.append((name, status))
    return placed, quantized


def table(placed: list[tuple[str, str]]) -> list[str]:
    rows: OrderedDict[tuple[str, str], int] = OrderedDict()
    for key in placed:
        rows[key] = rows.get(key, 0) + 1
    lines = ["Operator                       Count      Status", ""]
    lines += [f"{op:<30} {count:<10} {status}" for (op, status), count in rows.items()]
    return lines


def main() -> int:
    if os.environ.get("SIM_EDGETPU_ARGV_LOG"):
        with open(os.environ["SIM_EDGETPU_ARGV_LOG"], "a") as handle:
            handle.write(" ".join(sys.argv[1:]) + "\n")
    version_key = os.environ.get("SIM_EDGETPU_VERSION", "16")
    version = VERSIONS[version_key]
    parser = argparse.ArgumentParser(prog="edgetpu_compiler", add_help=True)
    parser.add_argument("-o", "--out_dir", default=".")
    parser.add_argument("-s", "--show_operations", action="store_true")
    parser.add_argument("-m", "--min_runtime_version")
    parser.add_argument("-n", "--num_segments", type=int)
    parser.add_argument("-a", "--intermediate_tensors", action="store_true")
    parser.add_argument("-d", "--search_delegate", action="store_true")
    parser.add_argument("-k", "--delegate_search_step", type=int)
    parser.add_argument("-t", "--timeout_sec", type=int, default=180)
    parser.add_argument("-i", "--intermediate_tensors_list")
    parser.add_argument("-v", "--version", action="store_true")
    parser.add_argument("models", nargs="*")
    args = parser.parse_args()
    print(f"Edge TPU Compiler version {version}")
    if args.version:
        return 0
    if not args.models:
        print("ERROR: No input model provided.", file=sys.stderr)
        return 1
    if version_key == "16":
        print(f"Started a compilation timeout timer of {args.timeout_sec} seconds.")
    if os.environ.get("SIM_EDGETPU_HANG"):
        time.sleep(float(os.environ["SIM_EDGETPU_HANG"]))
    model = Path(args.models[0])

    def fail(message: str) -> int:
        print(f"ERROR: {message}")
        if version_key == "16":
            print("Compilation failed: Model failed in Tflite interpreter. Please ensure "
                  "model can be loaded/run in Tflite interpreter.")
            print("Compilation child process completed within timeout period.")
            print("Compilation failed! ")
        else:
            print(f"Compilation failed: {message}")
        return 1

    if not model.is_file():
        return fail(f"Could not open '{model}'.")
    if os.environ.get("SIM_EDGETPU_FAIL"):
        return fail(os.environ["SIM_EDGETPU_FAIL"])
    placed, quantized = place_ops(model)
    if not quantized:
        return fail("Model not quantized")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{model.stem}_edgetpu.tflite"
    log = out_dir / f"{model.stem}_edgetpu.log"
    shutil.copyfile(model, output)
    log.write_text("\n".join([f"Edge TPU Compiler version {version}",
                              f"Input: {model.name}", f"Output: {output.name}", "",
                              *table(placed)]) + "\n")
    size = model.stat().st_size
    on_chip = min(size, ON_CHIP_BYTES)
    on_tpu = sum(1 for _, status in placed if status == MAPPED)
    lines = ["", f"Model compiled successfully in {max(1, size // 20000)} ms.", "",
             f"Input model: {model}", f"Input size: {size_text(size)}",
             f"Output model: {output}", f"Output size: {size_text(output.stat().st_size)}",
             f"On-chip memory used for caching model parameters: {size_text(on_chip)}",
             "On-chip memory remaining for caching model parameters: "
             f"{size_text(ON_CHIP_BYTES - on_chip)}",
             "Off-chip memory used for streaming uncached model parameters: "
             f"{size_text(size - on_chip)}",
             f"Number of Edge TPU subgraphs: {1 if on_tpu else 0}",
             f"Total number of operations: {len(placed)}",
             f"Operation log: {log}", ""]
    if on_tpu < len(placed):
        lines += ["Model successfully compiled but not all operations are supported by the "
                  "Edge TPU. A percentage of the model will instead run on the CPU, which is "
                  "slower. If possible, consider updating your model to use only operations "
                  "supported by the Edge TPU. For details, visit g.co/coral/model-reqs.",
                  f"Number of operations that will run on Edge TPU: {on_tpu}",
                  f"Number of operations that will run on CPU: {len(placed) - on_tpu}", ""]
    if args.show_operations:
        lines += table(placed)
    else:
        lines += ["See the operation log file for individual operation details."]
    if version_key == "16":
        lines += ["Compilation child process completed within timeout period.",
                  "Compilation succeeded! "]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
