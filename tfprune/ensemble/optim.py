"""Adam for stacked variables, one independent optimiser per network.

Keras' Adam keeps one step counter for all variables; here every network has
its own counter ``t[p]`` and only networks whose ``active[p]`` is 1 move
(moments, counter and weights), so a network that has stopped early is frozen
exactly while the others go on. Gradients are multiplied by the weight masks,
and pruning zeroes a pruned entry's moments, so a pruned weight's moments and
updates stay exactly zero.

The update is tf_keras's Adam: ``lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) *
m / (sqrt(v) + epsilon)``. While every network is active and all share one
step count (a fresh run, or the whole run with shared early stopping),
:meth:`apply_uniform` does the same update with TensorFlow's fused Adam
kernel, one pass over each variable instead of a dozen.
"""
from __future__ import annotations

from .._keras import tf

__all__ = ["StackedAdam"]


class StackedAdam:
    """Per-network Adam (Kingma & Ba) over variables of shape ``(N, ...)``.

    ``m_hat / (sqrt(v_hat) + epsilon)`` with bias correction by each
    network's own step count. Variables are created in ``strategy``'s scope;
    :meth:`apply` must run in cross-replica context (inside a ``tf.function``).

    Args:
        variables: the stacked trainable variables (kernels and biases).
        masks: one 0/1 mask variable per variable (same shape), or ``None``.
        n_networks: ``N``, the size of the first axis.
        learning_rate, beta_1, beta_2, epsilon: Adam's settings.
        strategy: the ``tf.distribute.Strategy`` owning the variables.
    """

    def __init__(self, variables, masks, n_networks, learning_rate=5e-4,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, strategy=None):
        self.variables = list(variables)
        self.masks = list(masks) if masks is not None else \
            [None] * len(self.variables)
        self.lr = float(learning_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        strategy = strategy or tf.distribute.get_strategy()
        with strategy.scope():
            self.m = [tf.Variable(tf.zeros_like(v), trainable=False,
                                  name=f"adam_m_{i}")
                      for i, v in enumerate(self.variables)]
            self.v = [tf.Variable(tf.zeros_like(v), trainable=False,
                                  name=f"adam_v_{i}")
                      for i, v in enumerate(self.variables)]
            self.t = tf.Variable(tf.zeros([n_networks], tf.int64),
                                 trainable=False, name="adam_t")
            self.active = tf.Variable(tf.ones([n_networks], tf.float32),
                                      trainable=False, name="active")
        # The fused kernel needs plain variables (not mirrored ones).
        self.can_fuse = not any(isinstance(v, tf.distribute.DistributedValues)
                                for v in self.variables)

    def uniform(self) -> bool:
        """True when :meth:`apply_uniform` may replace :meth:`apply`: plain
        variables, every network active and one shared step count."""
        t = self.t.numpy()
        return bool(self.can_fuse and self.active.numpy().all()
                    and (t == t[0]).all())

    def apply(self, grads) -> None:
        """One Adam step for the active networks.

        The per-network factors are ``(N, 1, ...)`` tensors. The arithmetic
        is that of TensorFlow's fused kernel, operation for operation
        (``alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)``, ``m += (g - m) * (1 -
        b1)``, ``v += (g^2 - v) * (1 - b2)``, ``var -= m * alpha / (sqrt(v) +
        eps)``, all in float32), so a network's weights do not depend on
        which of the two paths ran, hence not on the other networks in the
        stack (tested bit for bit on CPU). An inactive network has all its
        factors at 0 and does not move.
        """
        active = self.active.read_value()
        t = self.t.assign_add(tf.cast(active > 0, tf.int64))
        tf_ = tf.cast(tf.maximum(t, 1), tf.float32)
        one = tf.constant(1.0)
        b1, b2 = tf.constant(self.beta_1), tf.constant(self.beta_2)
        k1 = (one - b1) * active
        k2 = (one - b2) * active
        alpha = (tf.constant(self.lr) * tf.sqrt(one - tf.pow(b2, tf_))
                 / (one - tf.pow(b1, tf_)) * active)
        eps = tf.constant(self.epsilon)
        for var, g, m, v, mask in zip(self.variables, grads, self.m, self.v,
                                      self.masks):
            shape = [-1] + [1] * (len(var.shape) - 1)
            if mask is not None:
                g = g * mask
            m.assign_add((g - m) * tf.reshape(k1, shape))
            v.assign_add((tf.square(g) - v) * tf.reshape(k2, shape))
            var.assign_sub(m * tf.reshape(alpha, shape) / (tf.sqrt(v) + eps))

    def dense(self) -> bool:
        """True when no mask has a zero (gradients need no masking)."""
        return all(m is None or bool(m.numpy().all()) for m in self.masks)

    def apply_uniform(self, grads, masked: bool = True) -> None:
        """:meth:`apply` when :meth:`uniform` holds, with the fused kernel;
        ``masked=False`` skips the gradient masks (valid when :meth:`dense`).
        """
        t = self.t.assign_add(tf.ones_like(self.t))
        tf_ = tf.cast(t[0], tf.float32)
        consts = {"lr": tf.constant(self.lr),
                  "beta1": tf.constant(self.beta_1),
                  "beta2": tf.constant(self.beta_2),
                  "epsilon": tf.constant(self.epsilon),
                  "beta1_power": tf.pow(tf.constant(self.beta_1), tf_),
                  "beta2_power": tf.pow(tf.constant(self.beta_2), tf_)}
        for var, g, m, v, mask in zip(self.variables, grads, self.m, self.v,
                                      self.masks):
            if masked and mask is not None:
                g = g * mask
            tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle,
                                         v=v.handle, grad=g, **consts)

    def get_state(self) -> dict:
        """Moments, step counters and the active flags as NumPy arrays."""
        state = {"adam_t": self.t.numpy(), "adam_active": self.active.numpy()}
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            state[f"adam_m_{i}"] = m.numpy()
            state[f"adam_v_{i}"] = v.numpy()
        return state

    def set_state(self, state: dict) -> None:
        """Load arrays written by :meth:`get_state`."""
        self.t.assign(state["adam_t"])
        self.active.assign(state["adam_active"])
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            m.assign(state[f"adam_m_{i}"])
            v.assign(state[f"adam_v_{i}"])
