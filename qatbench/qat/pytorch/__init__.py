"""PyTorch models through the same build contract as the Keras core.

A ``[models.NAME] torch = "module:function"`` source is checked (``source.py``: the
module, its data in the module's layout, ``torch.export``, litert-torch's conversion and
the quantizer's coverage) and built (``build.py``) into the same variants, eval set and
manifest as a Keras model: ``float32`` by litert-torch, ``ptq_int8`` by PT2E static int8
with litert-torch's ``PT2EQuantizer``, ``qat_int8`` by ``prepare_qat_pt2e``, a fine-tune
and ``convert_pt2e`` (``pt2e.py``, ``train.py``). The build child and the source check
reach this package through string references (``qat/build_worker.py``,
``qat/source_check.py``), so the Keras core never imports it: it sits above the core and
uses its shared pieces (the manifest, fidelity, the LiteRT Quantizer, ``verify_variant``).

torch, torchao and litert_torch are imported only here (the ``torch`` extra).
"""
