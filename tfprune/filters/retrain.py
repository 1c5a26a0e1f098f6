"""Brief retraining after pruning, with the D-Score recipe
(``docs/sections/filters.md``, "Retraining").

Defaults follow the original code: SGD with momentum 0.9 and Nesterov,
learning rate 1e-3 with Keras' time-based decay ``lr / (1 + 5e-4 *
iteration)`` (a learning-rate decay, not a weight decay: L2 comes from the
kernel regularisers, which the model keeps), 10 epochs, batch 64.
"""
from __future__ import annotations

from contextlib import nullcontext

from .._keras import check_model, compile_like, is_compiled, keras, tf
from .._validate import check_float, check_int, renamed
from ..errors import InvalidParameterError
from ..utils import ensure_device, set_seed

__all__ = ["TimeDecay", "retrain", "augmenter"]


@keras.saving.register_keras_serializable(package="tfprune")
class TimeDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Keras' classic time-based decay: ``lr_t = lr / (1 + decay * t)``.

    ``t`` is the optimizer iteration (one per batch).

    Args:
        initial_learning_rate: ``lr`` at iteration 0, > 0.
        decay: decay per iteration, >= 0.
    """

    def __init__(self, initial_learning_rate=1e-3, decay=5e-4, name=None):
        super().__init__()
        self.initial_learning_rate = check_float(
            initial_learning_rate, "initial_learning_rate", "TimeDecay",
            min_value=0.0, min_inclusive=False)
        self.decay = check_float(decay, "decay", "TimeDecay", min_value=0.0)
        self.name = name

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        return self.initial_learning_rate / (1.0 + self.decay * step)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay": self.decay, "name": self.name}


def augmenter(seed=None, rotation=15.0, shift=0.1, flip=True):
    """The D-Score training augmentation as a Keras layer stack.

    Rotation ``rotation`` degrees, width/height shift ``shift``, horizontal
    flip. Active only when called with ``training=True``.
    """
    L = keras.layers
    steps = []
    if rotation:
        steps.append(L.RandomRotation(rotation / 360.0, fill_mode="nearest",
                                      seed=seed))
    if shift:
        steps.append(L.RandomTranslation(shift, shift, fill_mode="nearest",
                                         seed=seed))
    if flip:
        steps.append(L.RandomFlip("horizontal", seed=seed))
    return keras.Sequential(steps, name="augment")


def _as_dataset(data, batch_size, shuffle, seed, aug, name, func,
                model=None):
    from .._validate import check_dataset
    data = check_dataset(data, name, func, model=model)
    if isinstance(data, tf.data.Dataset):
        ds = data
        if aug is not None:
            ds = ds.map(lambda x, y: (aug(x, training=True), y),
                        num_parallel_calls=tf.data.AUTOTUNE)
        return ds
    x, y = data
    if aug is None:
        return x, y
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda a, b: (aug(a, training=True), b))
    return ds.prefetch(tf.data.AUTOTUNE)


def _augmentation(augment, seed, func):
    """``augment`` as a callable ``(x, training=True)``, or ``None``."""
    if augment is True:
        return augmenter(seed=seed)
    if augment is False or augment is None:
        return None
    if not callable(augment):
        raise TypeError(f"{func}(): 'augment' must be True, False or a "
                        f"callable; got {type(augment).__name__}.")
    if isinstance(augment, keras.layers.Layer):
        return augment
    return lambda x, training=True: augment(x)


def _compiled_copy(model, strategy, learning_rate, momentum, nesterov, decay,
                   **overrides):
    """A copy of ``model`` built in ``strategy``'s scope and compiled like it
    with the recipe's SGD (``overrides``: loss and metrics, when given)."""
    with (strategy.scope() if strategy is not None else nullcontext()):
        new = keras.models.clone_model(model)
        new.set_weights(model.get_weights())
        opt = keras.optimizers.SGD(
            learning_rate=(TimeDecay(learning_rate, decay) if decay
                           else learning_rate),
            momentum=momentum, nesterov=bool(nesterov))
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return compile_like(new, model, strategy, optimizer=opt, **overrides)


@renamed(lr="learning_rate")
def retrain(model, data, epochs=10, batch_size=64, learning_rate=1e-3,
            momentum=0.9, nesterov=True, decay=5e-4, augment=False,
            validation_data=None, loss=None, metrics=None, strategy=None,
            seed=0, callbacks=None, verbose=0) -> keras.Model:
    """Fine-tune a (pruned) model and return the retrained copy.

    The input model is not changed: a copy is built (inside ``strategy``'s
    scope when given), compiled with SGD + Nesterov momentum and a
    :class:`TimeDecay` schedule, and the model's own loss and metrics.

    Args:
        model: a tf_keras Sequential/Functional model. Its compiled loss and
            metrics are reused unless ``loss``/``metrics`` are given.
        data: ``(x, y)`` arrays or a batched ``tf.data.Dataset``.
        epochs, batch_size: as in ``fit`` (``batch_size`` is ignored for a
            Dataset; it is the global batch under a strategy).
        learning_rate, momentum, nesterov: SGD settings
            (``learning_rate`` was ``lr``, deprecated).
        decay: time-based LR decay per iteration (0 for a constant LR).
        augment: ``True`` for the D-Score image augmentation (rotation 15°,
            shift 0.1, horizontal flip), a callable/layer applied to each
            training batch, or ``False``.
        validation_data: optional ``(x, y)`` or Dataset.
        loss, metrics: override the compiled ones (required when the model
            was never compiled).
        strategy: a ``tf.distribute.Strategy`` (e.g. ``MirroredStrategy``,
            ``MultiWorkerMirroredStrategy``) to train on several devices.
        seed: seeds shuffling, augmentation and dropout.
        callbacks: Keras callbacks passed to ``fit``.
        verbose: ``fit`` verbosity.

    Returns:
        The retrained new model; ``model.history`` holds the Keras history.

    Raises:
        TypeError: for a non-tf_keras model.
        ValueError: for bad settings, or an uncompiled model without ``loss``.
    """
    func = "retrain"
    check_model(model, "model", func)
    ensure_device()
    epochs = check_int(epochs, "epochs", func, min_value=0)
    batch_size = check_int(batch_size, "batch_size", func, min_value=1)
    learning_rate = check_float(learning_rate, "learning_rate", func,
                                min_value=0.0, min_inclusive=False)
    momentum = check_float(momentum, "momentum", func, 0.0, 1.0,
                           max_inclusive=False)
    decay = check_float(decay, "decay", func, min_value=0.0)
    seed = check_int(seed, "seed", func, min_value=0, allow_none=True)
    if strategy is not None and not isinstance(strategy,
                                               tf.distribute.Strategy):
        raise TypeError(f"{func}(): 'strategy' must be a tf.distribute."
                        f"Strategy; got {type(strategy).__name__}.")
    if loss is None and not is_compiled(model):
        raise InvalidParameterError(
            f"{func}(): model {model.name!r} was never compiled and no "
            "'loss' was given; compile it or pass loss=... (and metrics=...).")
    if seed is not None:
        set_seed(seed)
    aug = _augmentation(augment, seed, func)
    train = _as_dataset(data, batch_size, True, seed, aug, "data", func,
                        model)
    val = None
    if validation_data is not None:
        val = _as_dataset(validation_data, batch_size, False, seed, None,
                          "validation_data", func, model)
    new = _compiled_copy(model, strategy, learning_rate, momentum, nesterov,
                         decay, loss=loss, metrics=metrics)
    if epochs == 0:
        return new
    fit_kw = dict(epochs=epochs, verbose=verbose, callbacks=callbacks,
                  validation_data=val)
    if isinstance(train, tuple):
        new.fit(train[0], train[1], batch_size=batch_size, shuffle=True,
                **fit_kw)
    else:
        new.fit(train, **fit_kw)
    return new
