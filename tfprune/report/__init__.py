"""Parameter, MAC and FLOP reports for tf_keras models, computed from shapes.

``count_flops`` uses the TensorFlow profiler's convention: **2 FLOPs per
multiply-add plus the bias adds**, and, like the profiler, it also counts the
element-wise arithmetic of the other layers. It applies, layer by layer, the
per-op rules that ``tf.compat.v1.profiler`` applies to the ops tf_keras lowers
the layer to, so the result equals :func:`profiler_flops` exactly, without
tracing, freezing or profiling a graph. The rules, what each layer counts and
where the profiler itself is wrong (grouped convolutions) are listed in
``docs/sections/report.md``.

A layer type without a rule is counted as 0 with ``counted=False`` and a
warning; add a rule with :func:`register_layer`. ``macs`` counts only the
multiply-accumulates of the weight layers (Conv/Dense families), the number
most pruning papers quote.

Modules: ``rules`` (the registry and shared arithmetic), ``layer_rules`` (the
built-in rules), ``walk`` (shapes through the graph), ``tables``
(``layer_table`` and the totals), ``compare``, ``render``, ``profiler``
(TensorFlow's profiler), ``loading``, ``measure`` (measured latency) and
``size`` (size on disk).
"""
from . import layer_rules  # noqa: F401  (registers the built-in rules)
from .compare import compare
from .loading import load_model
from .measure import measure, measure_models, measure_speedup
from .profiler import profiler_flops
from .render import render
from .rules import LayerCost, register_layer, unregister_layer
from .size import gzip_size, size_on_disk
from .tables import (COLUMNS, EXTRA_COLUMNS, UNIT, count_flops, count_macs,
                     count_params, layer_table)

__all__ = ["count_params", "count_flops", "count_macs", "layer_table",
           "compare", "render", "profiler_flops", "load_model",
           "register_layer", "unregister_layer", "LayerCost", "COLUMNS",
           "EXTRA_COLUMNS", "UNIT", "measure", "measure_models",
           "measure_speedup", "size_on_disk", "gzip_size"]
