"""Android phones over adb: the adb wrapper (``adb``), ``benchmark_model``'s output and
op tables (``benchmark_model_output``), and the NNAPI / phone-CPU targets (``target``).
"""
