"""LiteRT's NPU path: vendors and their SDKs (``vendors``), ahead-of-time compiles
(``aot``), the CompiledModel API on the host (``compiled_model``), where ops landed
(``placement``), the options every LiteRT target reads (``options``), the compiled model
on a phone (``phone``, an Android target) and the targets themselves (``npu``).
"""
