"""Errors of the QAT core, each saying what is wrong and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass


class QatError(Exception):
    """Base of every error the QAT core raises on purpose."""


class QatModelError(QatError, ValueError):
    """The model cannot be quantization-aware trained as it is built."""


@dataclass(frozen=True)
class UnsupportedLayer:
    name: str
    class_name: str

    def __str__(self) -> str:
        return f"{self.name} ({self.class_name})"


class UnsupportedLayersError(QatModelError):
    """Every layer tfmot cannot quantize, listed at once, so one fix round is enough."""

    def __init__(self, model_name: str, layers: list[UnsupportedLayer]) -> None:
        self.model_name = model_name
        self.layers = layers
        listing = "\n".join(f"  - {layer}" for layer in layers)
        super().__init__(
            f"model {model_name!r} has {len(layers)} layer(s) that tfmot's default 8-bit "
            f"scheme cannot quantize:\n{listing}\nGive each a "
            "tfmot.quantization.keras.QuantizeConfig via quantize_annotate_layer, replace it "
            "with a supported layer, or keep it float with selective QAT (variant "
            "qat_selective, [training] qat_layers naming the layers to quantize)."
        )


class FineTuningDivergedError(QatError):
    """QAT fine-tuning left weights or quantizer ranges that are not numbers: converting
    them would write a file with nonsense quantization parameters (or crash the
    converter), so the variant stops here and says where it went wrong."""

    def __init__(self, model_name: str, variables: list[str]) -> None:
        self.variables = variables
        shown = ", ".join(variables[:5]) + (f" and {len(variables) - 5} more"
                                             if len(variables) > 5 else "")
        super().__init__(
            f"QAT fine-tuning of {model_name!r} diverged: {len(variables)} variable(s) hold "
            f"NaN or inf ({shown}). Lower [training] qat_learning_rate, check the training "
            "data for inf/NaN, or start the ranges at tfmot's values with "
            "[training] qat_ranges = \"tfmot\".")


class NotFullIntegerError(QatError):
    """A model labelled int8 still computes in float; it must not be reported as int8."""
