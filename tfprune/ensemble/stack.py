"""A stack of N identical-shape MLPs held as one set of batched variables.

Layer ``l`` has a kernel of shape ``(N, fan_in, fan_out)``, a bias of shape
``(N, fan_out)`` and 0/1 masks of the same shapes. The forward pass is the
batched product ``einsum("pbi,pij->pbj")`` (a batched matmul) with
``W * M`` and ``b * m``: masks enter as constants, so a pruned entry gets
exactly zero gradient. Training keeps a pruned entry's stored
value at exactly 0 (:meth:`StackedMLP.apply_masks` at the start of every
level, masked gradients after), so its loop uses the same product without the
two mask multiplications per layer (:meth:`StackedMLP.call_unmasked`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._keras import keras, tf, check_model
from .._validate import check_choice, check_float, check_int, check_type
from ..errors import InvalidParameterError
from ..utils import derive_seed

__all__ = ["StackedMLP", "INITS"]

INITS = ("normal", "glorot_uniform", "glorot_normal")


def _init_layer(rng: np.random.Generator, init: str, std: float, fan_in: int,
                fan_out: int) -> np.ndarray:
    if init == "normal":
        return rng.standard_normal((fan_in, fan_out)) * std
    if init == "glorot_uniform":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out))
    std = np.sqrt(2.0 / (fan_in + fan_out))
    return rng.standard_normal((fan_in, fan_out)) * std


@tf.custom_gradient
def _add_bias(h, b):
    """``h + b`` per network (``h``: (N, B, units), ``b``: (N, units)).

    The bias gradient is the sum of ``dh`` over the batch. TensorFlow's
    reduction over the middle axis of (N, B, units) groups the additions
    by the total size, so one network's sum would depend on how many
    networks share the stack; summed along the innermost axis instead, each
    network's sum is computed alone, and a network trains bit for bit the
    same in any stack (what sharded Monte Carlo relies on).
    """
    def grad(dh):
        return dh, tf.reduce_sum(tf.transpose(dh, [0, 2, 1]), axis=2)
    return h + tf.expand_dims(b, 1), grad


class StackedMLP:
    """``N`` MLPs ``inputs -> hidden... -> outputs`` trained as one graph.

    Every network has its own recorded seed (``derive_seed(seed, i)`` unless
    ``seeds`` is given), from which its initial weights are drawn with NumPy,
    so network ``i`` starts from the same weights whatever ``N`` is and on
    whatever device.

    Args:
        n_networks: number of networks ``N`` (ignored when ``seeds`` is given).
        inputs: input width.
        hidden: hidden widths, e.g. ``(400, 400, 400, 16)``.
        outputs: output width (the output layer is linear).
        activation: hidden activation name (``"tanh"``, ``"relu"``, ...).
        init: ``"normal"`` (the Monte Carlo protocol: N(0, init_std) in every
            layer), ``"glorot_uniform"`` (Keras' default) or
            ``"glorot_normal"``. Biases start at 0, masks at 1.
        init_std: standard deviation of the ``"normal"`` init.
        seed: base seed; network ``i`` uses ``derive_seed(seed, i)``.
        seeds: explicit per-network seeds (overrides ``n_networks``/``seed``),
            e.g. to rebuild network ``i`` of a larger ensemble alone.
        strategy: a ``tf.distribute.Strategy``; variables are created in its
            scope. ``None`` uses the current (default) strategy.

    Raises:
        ValueError/TypeError: for bad widths, init, seeds.
    """

    def __init__(self, n_networks: int = 1, inputs: int = 10,
                 hidden: Sequence[int] = (400, 400, 400, 16), outputs: int = 7,
                 activation: str = "tanh", init: str = "normal",
                 init_std: float = 0.2, seed: int | None = 0,
                 seeds: Sequence[int] | None = None, strategy=None):
        f = "StackedMLP"
        self.inputs = check_int(inputs, "inputs", f, min_value=1)
        self.outputs = check_int(outputs, "outputs", f, min_value=1)
        check_type(hidden, (tuple, list), "hidden", f, "a tuple of widths")
        self.hidden = tuple(check_int(h, f"hidden[{i}]", f, min_value=1)
                            for i, h in enumerate(hidden))
        check_type(activation, str, "activation", f, "an activation name")
        try:
            self._act = keras.activations.get(activation)
        except (ValueError, TypeError) as e:
            raise InvalidParameterError(
                f"{f}(): 'activation' must be a Keras activation name such as "
                f"'tanh' or 'relu'; got {activation!r}.") from e
        self.activation = activation
        self.init = check_choice(init, INITS, "init", f)
        self.init_std = check_float(init_std, "init_std", f, min_value=0.0,
                                    min_inclusive=False)
        if seeds is None:
            n = check_int(n_networks, "n_networks", f, min_value=1)
            seed = check_int(seed, "seed", f, min_value=0, allow_none=True)
            if seed is None:
                seed = int(np.random.SeedSequence().generate_state(1)[0]
                           & 0x7FFFFFFF)
            self.seed = seed
            self.seeds = [derive_seed(seed, i) for i in range(n)]
        else:
            check_type(seeds, (tuple, list, np.ndarray), "seeds", f,
                       "a sequence of integers")
            if len(seeds) == 0:
                raise InvalidParameterError(
                    f"{f}(): 'seeds' must hold at least one seed; got [].")
            self.seed = None
            self.seeds = [check_int(int(s) if isinstance(s, np.integer) else s,
                                    f"seeds[{i}]", f, min_value=0)
                          for i, s in enumerate(seeds)]
        self.n_networks = len(self.seeds)
        self.strategy = strategy or tf.distribute.get_strategy()
        if not isinstance(self.strategy, tf.distribute.Strategy):
            raise TypeError(f"{f}(): 'strategy' must be a tf.distribute."
                            f"Strategy; got {type(strategy).__name__}.")
        self.widths = (self.inputs,) + self.hidden + (self.outputs,)
        kernels, biases = self._initial_weights()
        with self.strategy.scope():
            self.kernels = [tf.Variable(k, name=f"kernel_{i}", trainable=True)
                            for i, k in enumerate(kernels, 1)]
            self.biases = [tf.Variable(b, name=f"bias_{i}", trainable=True)
                           for i, b in enumerate(biases, 1)]
            self.kernel_masks = [
                tf.Variable(np.ones_like(k), name=f"kernel_mask_{i}",
                            trainable=False) for i, k in enumerate(kernels, 1)]
            self.bias_masks = [
                tf.Variable(np.ones_like(b), name=f"bias_mask_{i}",
                            trainable=False) for i, b in enumerate(biases, 1)]

    # ------------------------------------------------------------------ init
    def _initial_weights(self):
        kernels = [np.empty((self.n_networks, a, b), np.float32)
                   for a, b in zip(self.widths[:-1], self.widths[1:])]
        biases = [np.zeros((self.n_networks, b), np.float32)
                  for b in self.widths[1:]]
        for p, s in enumerate(self.seeds):
            rng = np.random.default_rng(s)
            for k in kernels:
                k[p] = _init_layer(rng, self.init, self.init_std,
                                   k.shape[1], k.shape[2])
        return kernels, biases

    # --------------------------------------------------------------- forward
    @property
    def n_layers(self) -> int:
        return len(self.kernels)

    @property
    def layer_names(self) -> list[str]:
        """Names of the layers as in the exported Keras model."""
        return [f"hidden_{i}" for i in range(1, len(self.hidden) + 1)] + \
            ["output"]

    @property
    def trainable_variables(self) -> list:
        return list(self.kernels) + list(self.biases)

    def call(self, x):
        """Outputs of all networks for one batch ``x`` of shape (B, inputs).

        Returns a ``(N, B, outputs)`` tensor. Runs inside ``tf.function``s.
        """
        return self._forward(x, [w * m for w, m in zip(self.kernels,
                                                       self.kernel_masks)],
                             [b * m for b, m in zip(self.biases,
                                                    self.bias_masks)])

    def call_unmasked(self, x):
        """:meth:`call` without the masks: equal to it while every pruned
        entry is stored as 0 (after :meth:`apply_masks`), and cheaper."""
        return self._forward(x, self.kernels, self.biases)

    def _forward(self, x, kernels, biases):
        h = None
        last = self.n_layers - 1
        for l, (w, b) in enumerate(zip(kernels, biases)):
            # einsum("pbi,pij->pbj"); BatchMatMulV2 is faster than Einsum on
            # CPU and broadcasts the shared (B, inputs) batch over networks.
            h = _add_bias(tf.matmul(x if h is None else h, w), b)
            if l < last:
                h = self._act(h)
        return h

    def apply_masks(self) -> None:
        """Store every pruned entry as exactly 0 (``W <- W * M``)."""
        for v, m in zip(self.kernels + self.biases,
                        self.kernel_masks + self.bias_masks):
            v.assign(v * m)

    __call__ = call

    def predict(self, x, batch_size: int = 1024) -> np.ndarray:
        """Predictions of every network, ``(N, len(x), outputs)`` float32."""
        x = np.asarray(x, np.float32)
        if x.ndim != 2 or x.shape[1] != self.inputs:
            raise InvalidParameterError(
                f"StackedMLP.predict(): 'x' must have shape "
                f"(n, {self.inputs}); got {x.shape}.")
        batch_size = check_int(batch_size, "batch_size", "StackedMLP.predict",
                               min_value=1)
        fn = self._predict_fn()
        out = [fn(tf.constant(x[i:i + batch_size])).numpy()
               for i in range(0, len(x), batch_size)]
        if not out:
            return np.zeros((self.n_networks, 0, self.outputs), np.float32)
        return np.concatenate(out, axis=1)

    def _predict_fn(self):
        if getattr(self, "_pred", None) is None:
            self._pred = tf.function(self.call)
        return self._pred

    # --------------------------------------------------------------- weights
    def get_state(self) -> dict[str, np.ndarray]:
        """All weights and masks as NumPy arrays keyed ``kernel_1`` ..."""
        state = {}
        for name, vs in (("kernel", self.kernels), ("bias", self.biases),
                         ("kernel_mask", self.kernel_masks),
                         ("bias_mask", self.bias_masks)):
            for i, v in enumerate(vs, 1):
                state[f"{name}_{i}"] = v.numpy()
        return state

    def set_state(self, state: dict) -> None:
        """Load arrays written by :meth:`get_state` (shapes must match)."""
        for name, vs in (("kernel", self.kernels), ("bias", self.biases),
                         ("kernel_mask", self.kernel_masks),
                         ("bias_mask", self.bias_masks)):
            for i, v in enumerate(vs, 1):
                arr = np.asarray(state[f"{name}_{i}"], np.float32)
                if tuple(arr.shape) != tuple(v.shape):
                    raise InvalidParameterError(
                        f"StackedMLP.set_state(): '{name}_{i}' has shape "
                        f"{arr.shape}, expected {tuple(v.shape)}.")
                v.assign(arr)

    def masked_weights(self, network: int) -> list[np.ndarray]:
        """``[W1*M1, b1*m1, ...]`` of one network, in Keras weight order."""
        i = self._check_network(network, "masked_weights")
        out = []
        for w, b, wm, bm in zip(self.kernels, self.biases, self.kernel_masks,
                                self.bias_masks):
            out += [(w[i] * wm[i]).numpy(), (b[i] * bm[i]).numpy()]
        return out

    def _check_network(self, network, func):
        return check_int(network, "network", f"StackedMLP.{func}",
                         min_value=0, max_value=self.n_networks - 1)

    # ---------------------------------------------------------------- export
    def to_keras(self, network: int, weights: list | None = None,
                 name: str | None = None) -> keras.Model:
        """Network ``network`` as a plain tf_keras model (``tp.models.mlp``).

        The pruned entries are zero in the returned kernels; layers are named
        ``hidden_1 ... hidden_k`` and ``output``. ``weights`` (a list in Keras
        order) overrides the current weights, e.g. a saved level.
        """
        from ..models import mlp
        i = self._check_network(network, "to_keras")
        model = mlp(self.inputs, self.hidden, self.outputs,
                    activation=self.activation, seed=0,
                    name=name or f"network_{i}")
        model.set_weights(self.masked_weights(i) if weights is None
                          else weights)
        return model

    @classmethod
    def from_models(cls, models, strategy=None) -> "StackedMLP":
        """Stack existing tf_keras Dense-stack models of identical shape.

        Each model must be a chain of ``Dense`` layers (linear output, one
        shared hidden activation), e.g. built with ``tp.models.mlp`` or
        ``tp.models.moth_controller``. The models are not changed; zero
        kernel entries do not become masked.
        """
        f = "StackedMLP.from_models"
        check_type(models, (list, tuple), "models", f, "a list of models")
        if not models:
            raise InvalidParameterError(f"{f}(): 'models' is empty.")
        shapes, acts = [], []
        for j, m in enumerate(models):
            check_model(m, f"models[{j}]", f)
            dense = [l for l in m.layers
                     if not isinstance(l, keras.layers.InputLayer)]
            if not dense or not all(isinstance(l, keras.layers.Dense)
                                    for l in dense):
                raise InvalidParameterError(
                    f"{f}(): models[{j}] ({m.name}) must be a chain of Dense "
                    "layers only; got " +
                    ", ".join(type(l).__name__ for l in dense) + ".")
            if not all(l.use_bias for l in dense):
                raise InvalidParameterError(
                    f"{f}(): every Dense layer of models[{j}] ({m.name}) "
                    "must have a bias (use_bias=True).")
            shapes.append(tuple(tuple(l.kernel.shape.as_list())
                                for l in dense))
            acts.append(tuple(l.get_config()["activation"] for l in dense))
        if len(set(shapes)) != 1 or len(set(acts)) != 1:
            raise InvalidParameterError(
                f"{f}(): all models must have the same layer shapes and "
                f"activations; got shapes {sorted(set(shapes))}.")
        hid_acts = set(acts[0][:-1])
        if acts[0][-1] != "linear" or len(hid_acts) > 1:
            raise InvalidParameterError(
                f"{f}(): the output layer must be linear and all hidden "
                f"layers share one activation; got {acts[0]}.")
        widths = [s[0] for s in shapes[0]] + [shapes[0][-1][1]]
        ens = cls(len(models), inputs=widths[0], hidden=tuple(widths[1:-1]),
                  outputs=widths[-1],
                  activation=(hid_acts.pop() if hid_acts else "tanh"),
                  seeds=[0] * len(models), strategy=strategy)
        ens.seeds = [None] * len(models)
        for l in range(ens.n_layers):
            ws = [m.get_weights()[2 * l] for m in models]
            bs = [m.get_weights()[2 * l + 1] for m in models]
            ens.kernels[l].assign(np.stack(ws).astype(np.float32))
            ens.biases[l].assign(np.stack(bs).astype(np.float32))
        return ens

    def __repr__(self):
        w = "-".join(str(v) for v in self.widths)
        return (f"StackedMLP(n_networks={self.n_networks}, widths={w}, "
                f"activation={self.activation!r}, init={self.init!r})")
