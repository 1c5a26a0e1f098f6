"""Training and evaluation of a :class:`StackedMLP` as one TensorFlow graph.

All networks see the same minibatch. The gradient comes from the *sum* of
the per-network mean-squared errors, so network ``p`` receives exactly the
gradient of its own loss, as if it were trained alone. (The protocol's
single scalar, the mean over networks, is that sum divided by ``N``; Adam
is invariant to a constant loss scale up to ``epsilon``, so both give the
same training; the sum also keeps ``epsilon`` at its usual relative size.)

Many batches run inside one ``tf.function`` call; Python only checks early
stopping between chunks. With a ``tf.distribute`` strategy each minibatch is
split across the replicas and the gradients are summed.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .._keras import tf
from .._validate import check_float, check_int, check_xy
from ..errors import InvalidParameterError
from ..utils import progress_bar
from .optim import StackedAdam
from .stack import StackedMLP
from .stopping import get_stopping

__all__ = ["EnsembleTrainer", "LevelLog", "out_of_memory"]


def out_of_memory(err, ensemble, batch_size, what="training"):
    """A ``ResourceExhaustedError`` whose message says how to fit in memory."""
    msg = (f"Out of memory while {what} {ensemble.n_networks} networks "
           f"({'-'.join(map(str, ensemble.widths))}) with batch size "
           f"{batch_size}. Use a smaller batch size (--batch-size / "
           "batch_size=) or fewer networks (--networks / n_networks=), or "
           "split the Monte Carlo into several runs with different seeds. "
           f"Original error: {str(err).splitlines()[0][:300]}")
    return tf.errors.ResourceExhaustedError(getattr(err, "node_def", None),
                                            getattr(err, "op", None), msg)


@dataclass(frozen=True)
class LevelLog:
    """What happened during the training of one level.

    Attributes:
        batches: ``(N,)`` batches each network trained for.
        stopped: ``(N,)`` True where early stopping fired (False: the cap).
        train_trace: ``(batches_run, N)`` per-batch training loss.
        val_trace: ``(batches_run, N)`` per-batch validation-minibatch loss
            (empty when no early stopping rule needed it).
    """
    batches: np.ndarray
    stopped: np.ndarray
    train_trace: np.ndarray
    val_trace: np.ndarray


def _as_tensors(data, name, func, ens):
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise InvalidParameterError(
            f"{func}(): '{name}' must be an (x, y) tuple of arrays; got "
            f"{type(data).__name__}.")
    x, y = check_xy(data[0], data[1], name, func)
    if x.ndim != 2 or x.shape[1] != ens.inputs:
        raise InvalidParameterError(
            f"{func}(): '{name}' x must have shape (n, {ens.inputs}) to fit "
            f"the networks' {ens.inputs} inputs; got {x.shape}.")
    if y.ndim != 2 or y.shape[1] != ens.outputs:
        raise InvalidParameterError(
            f"{func}(): '{name}' y must have shape (n, {ens.outputs}) to fit "
            f"the networks' {ens.outputs} outputs; got {y.shape}.")
    return (tf.constant(np.asarray(x, np.float32)),
            tf.constant(np.asarray(y, np.float32)))


def _show(bar, n, last_losses, active) -> None:
    if not bar.disable:
        loss = last_losses[active] if active.any() else last_losses
        bar.update(n)
        bar.set_postfix(active=int(active.sum()), loss=f"{loss.mean():.3g}")


class EnsembleTrainer:
    """Adam training, early stopping and evaluation of a :class:`StackedMLP`.

    The optimiser state lives here and is kept across levels (as in the
    protocol, Adam is not reset between pruning levels).

    Args:
        ensemble: the :class:`StackedMLP` to train (updated in place).
        learning_rate, beta_1, beta_2, epsilon: Adam's settings.
        batch_size: minibatch size shared by all networks; with a strategy it
            must be divisible by the number of replicas.
        jit_compile: compile the training loop with XLA (default: only on a
            GPU with the default strategy).
    """

    def __init__(self, ensemble: StackedMLP, learning_rate: float = 5e-4,
                 beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, batch_size: int = 128,
                 jit_compile: bool | None = None):
        f = "EnsembleTrainer"
        if not isinstance(ensemble, StackedMLP):
            raise TypeError(f"{f}(): 'ensemble' must be a StackedMLP; got "
                            f"{type(ensemble).__name__}.")
        self.ensemble = ens = ensemble
        self.batch_size = check_int(batch_size, "batch_size", f, min_value=1)
        self.replicas = ens.strategy.num_replicas_in_sync
        if self.batch_size % self.replicas:
            raise InvalidParameterError(
                f"{f}(): 'batch_size' ({self.batch_size}) must be divisible "
                f"by the strategy's {self.replicas} replicas; use a multiple "
                f"of {self.replicas}.")
        check_float(learning_rate, "learning_rate", f, min_value=0.0,
                    min_inclusive=False)
        check_float(beta_1, "beta_1", f, 0.0, 1.0, max_inclusive=False)
        check_float(beta_2, "beta_2", f, 0.0, 1.0, max_inclusive=False)
        check_float(epsilon, "epsilon", f, min_value=0.0)
        self.optimizer = StackedAdam(
            ens.trainable_variables, ens.kernel_masks + ens.bias_masks,
            ens.n_networks, learning_rate, beta_1, beta_2, epsilon,
            strategy=ens.strategy)
        if jit_compile is None:
            jit_compile = (self.replicas == 1 and
                           bool(tf.config.list_logical_devices("GPU")))
        self.jit_compile = bool(jit_compile)
        self._steps = {}
        self._eval = {}

    # -------------------------------------------------------------- training
    def _replica_grads(self, xb, yb, xv, yv, record_val):
        ens = self.ensemble
        ctx = tf.distribute.get_replica_context()
        r = ctx.replica_id_in_sync_group
        per = self.batch_size // self.replicas
        xs, ys = xb[r * per:(r + 1) * per], yb[r * per:(r + 1) * per]
        with tf.GradientTape() as tape:
            pred = ens.call_unmasked(xs)
            sse = tf.reduce_sum(tf.square(pred - ys[None]), axis=[1, 2])
            loss = tf.reduce_sum(sse) / float(self.batch_size * ens.outputs)
        grads = tape.gradient(loss, ens.trainable_variables)
        if record_val:
            vper = tf.shape(xv)[0] // self.replicas
            xvs = xv[r * vper:(r + 1) * vper]
            yvs = yv[r * vper:(r + 1) * vper]
            vsse = tf.reduce_sum(tf.square(ens.call_unmasked(xvs) - yvs[None]),
                                 axis=[1, 2])
        else:
            vsse = tf.zeros([ens.n_networks])
        return grads, sse, vsse

    def _steps_fn(self, record_val, n_static=None, uniform=False,
                  dense=False):
        key = (record_val, n_static, uniform, dense)
        if key in self._steps:
            return self._steps[key]
        ens = self.ensemble
        strategy = ens.strategy
        bs = self.batch_size
        scale = float(bs * ens.outputs)
        SUM = tf.distribute.ReduceOp.SUM
        replica_fn = functools.partial(self._replica_grads,
                                       record_val=record_val)

        def steps(x, y, xv, yv, start, n):
            nb = tf.shape(x, out_type=tf.int64)[0] // bs
            vbs = tf.shape(xv, out_type=tf.int64)[0]
            vbs = tf.minimum(vbs // self.replicas * self.replicas,
                             tf.constant(bs, tf.int64))
            nvb = tf.shape(xv, out_type=tf.int64)[0] // vbs
            vscale = tf.cast(vbs, tf.float32) * float(ens.outputs)
            size = n if n_static is None else n_static
            ta_t = tf.TensorArray(tf.float32, size=size)
            ta_v = tf.TensorArray(tf.float32, size=size)
            for k in tf.range(size):
                s = start + tf.cast(k, tf.int64)
                i = (s % nb) * bs
                j = (s % nvb) * vbs
                grads, sse, vsse = strategy.run(
                    replica_fn, args=(x[i:i + bs], y[i:i + bs],
                                      xv[j:j + vbs], yv[j:j + vbs]))
                grads = [strategy.reduce(SUM, g, axis=None) for g in grads]
                sse = strategy.reduce(SUM, sse, axis=None)
                vsse = strategy.reduce(SUM, vsse, axis=None)
                if uniform:
                    self.optimizer.apply_uniform(grads, masked=not dense)
                else:
                    self.optimizer.apply(grads)
                ta_t = ta_t.write(k, sse / scale)
                ta_v = ta_v.write(k, vsse / vscale)
            return ta_t.stack(), ta_v.stack()

        fn = tf.function(steps, jit_compile=self.jit_compile or None,
                         input_signature=self._data_spec(2) + [
                             tf.TensorSpec([], tf.int64),
                             tf.TensorSpec([], tf.int32)])
        self._steps[key] = fn
        return fn

    def _level_inputs(self, train, val, max_batches, early_stopping, chunk,
                      f):
        """Checked tensors, rule, cap and chunk length of one level."""
        ens = self.ensemble
        x, y = train if isinstance(train[0], tf.Tensor) else \
            _as_tensors(train, "train", f, ens)
        n_train = int(x.shape[0])
        if n_train < self.batch_size:
            raise InvalidParameterError(
                f"{f}(): 'train' has {n_train} rows, fewer than one batch of "
                f"{self.batch_size}; lower batch_size.")
        rule = get_stopping(early_stopping, f)
        if val is None:
            if rule is not None:
                raise InvalidParameterError(
                    f"{f}(): early stopping needs 'val' data; pass val=(x, y) "
                    "or early_stopping=None.")
            xv, yv = x[:self.batch_size], y[:self.batch_size]
        else:
            xv, yv = val if isinstance(val[0], tf.Tensor) else \
                _as_tensors(val, "val", f, ens)
            if int(xv.shape[0]) < self.replicas:
                raise InvalidParameterError(
                    f"{f}(): 'val' has {int(xv.shape[0])} rows; need at "
                    f"least {self.replicas}.")
        if max_batches is None:
            max_batches = n_train // self.batch_size
        max_batches = check_int(max_batches, "max_batches", f, min_value=1)
        every = rule.check_every if rule is not None else \
            check_int(chunk, "chunk", f, min_value=1)
        return x, y, xv, yv, rule, max_batches, every

    def train_level(self, train, val=None, max_batches: int | None = None,
                    early_stopping="ratio", chunk: int = 100,
                    progress: bool = True, desc: str = "training"
                    ) -> LevelLog:
        """Train all networks from batch 0 until each stops or the cap.

        Batches are taken in order from ``train`` (pre-shuffled by the
        caller), wrapping around when the cap exceeds one pass; validation
        minibatches cycle through ``val``. A network stops updating as soon as
        its early-stopping rule fires; the others go on.

        Args:
            train: ``(x, y)`` arrays, ``x`` of shape (n, inputs).
            val: ``(x, y)`` validation arrays (needed by early stopping).
            max_batches: cap on batches for this level; ``None`` is one pass
                over ``train`` (``n // batch_size``).
            early_stopping: ``"ratio"`` (the protocol's rule),
                ``"patience"``, ``None`` or a rule object from
                :mod:`tfprune.ensemble.stopping`.
            chunk: batches per compiled call when no rule sets it.
            progress: show a progress bar.
            desc: progress-bar label.

        Returns:
            A :class:`LevelLog`.

        Raises:
            tf.errors.ResourceExhaustedError: out of memory, with a message
                suggesting a smaller batch size or fewer networks.
        """
        f = "EnsembleTrainer.train_level"
        ens = self.ensemble
        x, y, xv, yv, rule, max_batches, every = self._level_inputs(
            train, val, max_batches, early_stopping, chunk, f)
        n_net = ens.n_networks
        active = np.ones(n_net, bool)
        batches = np.full(n_net, max_batches, np.int64)
        stopped = np.zeros(n_net, bool)
        if rule is not None:
            rule.reset(n_net)
        self.optimizer.active.assign(np.ones(n_net, np.float32))
        ens.apply_masks()
        uniform = self.optimizer.uniform()
        dense = uniform and self.optimizer.dense()
        t_parts, v_parts = [], []
        done = 0
        bar = progress_bar(progress, max_batches, desc=desc, unit="batch",
                           leave=False)
        try:
            while done < max_batches and active.any():
                n = min(every, max_batches - done)
                fn = self._steps_fn(rule is not None,
                                    n if self.jit_compile else None,
                                    uniform and bool(active.all()), dense)
                tl, vl = fn(x, y, xv, yv, tf.constant(done, tf.int64),
                            tf.constant(n, tf.int32))
                t_parts.append(tl.numpy())
                v_parts.append(vl.numpy())
                done += n
                if rule is not None and n == every:
                    stop = rule.update(np.concatenate(v_parts)) & active
                    if stop.any():
                        batches[stop] = done
                        stopped[stop] = True
                        active &= ~stop
                        self.optimizer.active.assign(active.astype(np.float32))
                _show(bar, n, t_parts[-1][-1], active)
        except tf.errors.ResourceExhaustedError as e:
            raise out_of_memory(e, ens, self.batch_size) from e
        finally:
            bar.close()
            self.optimizer.active.assign(np.ones(n_net, np.float32))
        empty = np.zeros((0, n_net), np.float32)
        return LevelLog(batches=batches, stopped=stopped,
                        train_trace=np.concatenate(t_parts) if t_parts
                        else empty,
                        val_trace=(np.concatenate(v_parts)
                                   if rule is not None and v_parts else empty))

    # ------------------------------------------------------------ evaluation
    def _eval_fn(self, batch_size):
        if batch_size in self._eval:
            return self._eval[batch_size]
        ens = self.ensemble
        strategy = ens.strategy
        R = self.replicas
        SUM = tf.distribute.ReduceOp.SUM

        def replica_sse(xb, yb):
            ctx = tf.distribute.get_replica_context()
            r = ctx.replica_id_in_sync_group
            b = tf.shape(xb)[0]
            per = (b + R - 1) // R
            lo = tf.minimum(r * per, b)
            hi = tf.minimum(lo + per, b)
            pred = ens.call(xb[lo:hi])
            return tf.reduce_sum(tf.square(pred - yb[lo:hi][None]),
                                 axis=[1, 2])

        def evaluate(x, y):
            n = tf.shape(x)[0]
            nb = (n + batch_size - 1) // batch_size
            acc = tf.zeros([ens.n_networks], tf.float64)
            for k in tf.range(nb):
                i = k * batch_size
                sse = strategy.run(replica_sse,
                                   args=(x[i:i + batch_size],
                                         y[i:i + batch_size]))
                acc += tf.cast(strategy.reduce(SUM, sse, axis=None),
                               tf.float64)
            return acc / tf.cast(n * ens.outputs, tf.float64)

        fn = tf.function(evaluate, input_signature=self._data_spec(1))
        self._eval[batch_size] = fn
        return fn

    def evaluate(self, data, batch_size: int = 1024) -> np.ndarray:
        """Each network's MSE over the whole of ``data`` (mean over rows and
        outputs), computed in batches of ``batch_size``; ``(N,)`` float64."""
        f = "EnsembleTrainer.evaluate"
        x, y = data if isinstance(data[0], tf.Tensor) else \
            _as_tensors(data, "data", f, self.ensemble)
        batch_size = check_int(batch_size, "batch_size", f, min_value=1)
        try:
            return self._eval_fn(batch_size)(x, y).numpy()
        except tf.errors.ResourceExhaustedError as e:
            raise out_of_memory(e, self.ensemble, batch_size,
                                "evaluating") from e

    def _data_spec(self, n_pairs):
        ens = self.ensemble
        return [tf.TensorSpec([None, ens.inputs], tf.float32),
                tf.TensorSpec([None, ens.outputs], tf.float32)] * n_pairs

    def get_state(self) -> dict:
        return self.optimizer.get_state()

    def set_state(self, state: dict) -> None:
        self.optimizer.set_state(state)


