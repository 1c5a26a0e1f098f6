"""The one place that talks to the TFLite converter and interpreter.

The interpreter comes from ``ai_edge_litert`` (LiteRT, the optional extra
``tflite``) when it is installed and from ``tf.lite`` otherwise; the
deprecation notice ``tf.lite.Interpreter`` prints is silenced here, so users
never see it. Conversion always uses TensorFlow's ``tf.lite.TFLiteConverter``.
Nothing here validates user input: the public functions that call it
(``tp.export.to_tflite``, ``tp.report.measure``) do that first.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

import numpy as np

from ._keras import tf

__all__ = ["QUANTIZE", "convert", "interpreter", "runtime_name", "Runner",
           "is_quantize_aware", "quiet"]

#: The ``quantize`` values :func:`convert` knows.
QUANTIZE = (None, "dynamic", "float16", "int8")


@contextlib.contextmanager
def quiet():
    """Hide what the converter and the interpreter print for developers:
    Python warnings, TensorFlow's logger and the C++ runtime's stderr lines
    ("Created TensorFlow Lite XNNPACK delegate"). Errors still raise."""
    logger = tf.get_logger()
    level = logger.level
    saved = None
    try:
        sys.stderr.flush()
        fd = sys.__stderr__.fileno()
        saved = os.dup(fd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        saved = None
    try:
        logger.setLevel("ERROR")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        if saved is not None:
            os.dup2(saved, sys.__stderr__.fileno())
            os.close(saved)


def _litert_interpreter():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    return Interpreter


def runtime_name() -> str:
    """``"ai_edge_litert"`` when LiteRT is installed, else ``"tf.lite"``."""
    return "ai_edge_litert" if _litert_interpreter() else "tf.lite"


def interpreter(content: bytes, num_threads=None):
    """A TFLite interpreter over the flatbuffer ``content`` (not allocated)."""
    cls = _litert_interpreter()
    if cls is None:
        cls = tf.lite.Interpreter
    with quiet():
        return cls(model_content=bytes(content), num_threads=num_threads)


def is_quantize_aware(model) -> bool:
    """True for a model holding tfmot quantization wrappers (QAT)."""
    return any(c.__name__.startswith("Quantize") and "tensorflow_model_"
               "optimization" in (c.__module__ or "")
               for la in model.layers for c in type(la).__mro__)


def _representative(x, samples):
    x = np.asarray(x, dtype=np.float32)

    def gen():
        for i in range(min(len(x), samples)):
            yield [x[i:i + 1]]
    return gen


def convert(model, quantize=None, representative_data=None, sparse=False,
            calibration_samples=200) -> bytes:
    """The TFLite flatbuffer of a plain (stripped) tf_keras model.

    ``quantize``: None (float32), ``"dynamic"`` (int8 weights, float
    activations), ``"float16"`` (float16 weights) or ``"int8"`` (integer-only
    ops and int8 input/output, calibrated on ``representative_data``, an
    array of inputs; a quantization-aware model carries its own ranges).
    ``sparse`` asks the converter to encode pruned weights sparsely.
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    opts = []
    if quantize is not None:
        opts.append(tf.lite.Optimize.DEFAULT)
    if sparse:
        opts.append(tf.lite.Optimize.EXPERIMENTAL_SPARSITY)
    converter.optimizations = opts
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        if representative_data is not None:
            converter.representative_dataset = _representative(
                representative_data, calibration_samples)
        if not is_quantize_aware(model):
            # A QAT model is integer-only from its fake-quant ranges; this
            # setting would make the converter ask for calibration data.
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with quiet():
        return converter.convert()


class Runner:
    """One allocated interpreter for one batch size: ``run(x)`` and the bare
    ``invoke()`` that timing loops call after ``set_input(x)``."""

    def __init__(self, content: bytes, batch_size: int, num_threads=None):
        self.interp = interpreter(content, num_threads)
        self.inputs = self.interp.get_input_details()
        for d in self.inputs:
            shape = [int(s) for s in d["shape_signature"]]
            if shape:
                self.interp.resize_tensor_input(d["index"],
                                                [batch_size] + shape[1:])
        with quiet():
            self.interp.allocate_tensors()
        self.inputs = self.interp.get_input_details()
        self.outputs = self.interp.get_output_details()
        self.invoke = self.interp.invoke

    @staticmethod
    def _to_tensor(x, detail):
        scale, zero = detail["quantization"]
        dtype = detail["dtype"]
        x = np.asarray(x)
        if np.issubdtype(dtype, np.integer) and scale:
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        return x.astype(dtype)

    @staticmethod
    def _from_tensor(y, detail):
        scale, zero = detail["quantization"]
        if np.issubdtype(y.dtype, np.integer) and scale:
            return (y.astype(np.float32) - zero) * scale
        return y

    def set_input(self, xs) -> None:
        """Copy one array per model input into the interpreter."""
        for x, d in zip(xs, self.inputs):
            self.interp.set_tensor(d["index"], self._to_tensor(x, d))

    def run(self, xs) -> list:
        """Float outputs for the inputs ``xs`` (one array per input)."""
        self.set_input(xs)
        self.invoke()
        return [self._from_tensor(self.interp.get_tensor(d["index"]), d)
                for d in self.outputs]
