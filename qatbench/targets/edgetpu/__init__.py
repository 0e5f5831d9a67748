"""The Coral Edge TPU: ``edgetpu_compiler`` and its report (``report``), the
libedgetpu runtime and the TPUs it finds (``runtime``), and the target (``target``),
which is the host interpreter with the Edge TPU delegate.
"""
