"""The QAT core: check, quantize (tfmot), fine-tune and export float32 / ptq_int8 / qat_int8."""
