"""Sparsity schedules: the level lists and the tfmot schedule the callbacks drive.

``LevelSparsity`` is a tfmot ``PruningSchedule`` whose target sparsity, start
step, re-pruning frequency and polynomial ramp live in ``tf.Variable``s. The
callbacks (``SequentialPruning``) change the level in the middle of a
``model.fit`` by assigning those variables, so the traced training step never
has to be rebuilt. With constant values it behaves like tfmot's
``ConstantSparsity(sparsity, begin_step, frequency)``; with a ramp it behaves
like ``PolynomialDecay`` from the previous level to the new one.

Step convention (tfmot's): the wrapper increments its ``pruning_step`` before
asking the schedule, so the first training step is step 1.
"""
from __future__ import annotations

from .._keras import keras, tf
from .._tfmot import PruningSchedule
from .._validate import check_float, check_increasing_fractions, check_int

__all__ = ["LevelSparsity", "MOTH_LEVELS", "check_levels",
           "remaining_after"]

#: The 17 sequential levels of the moth study (``docs/sections/sparsity.md``).
MOTH_LEVELS = (0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.90,
               0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98)

_NEVER = -1


def check_levels(sparsities, name="sparsities", func=None) -> list[float]:
    """Validate a level list: non-empty, strictly increasing, each in [0, 1).

    Raises:
        InvalidParameterError: naming the offending entry and the fix.
        TypeError: when ``sparsities`` is not a sequence.
    """
    return check_increasing_fractions(sparsities, name, func)


def remaining_after(fraction: float, events: int) -> float:
    """Fraction of weights left after ``events`` prunings of ``fraction`` of
    the remaining weights each: ``(1 - fraction) ** events``."""
    return (1.0 - fraction) ** events


@keras.utils.register_keras_serializable(package="tfprune")
class LevelSparsity(PruningSchedule):
    """A tfmot pruning schedule whose level can change during training.

    The mask is recomputed (by tfmot, by magnitude, layer-wise) at
    ``begin_step``, then every ``frequency`` steps (``frequency=0``: never
    again, so the mask stays fixed and pruned weights stay exactly zero), and
    at every step of a polynomial ramp of ``ramp_steps`` steps that goes from
    ``initial_sparsity`` to ``sparsity``. ``begin_step=-1`` never prunes:
    the masks are then set from outside (``tp.sparsity.set_masks``).

    ``scale`` multiplies every sparsity the schedule returns (the output
    layer at half rate: ``scale=0.5``).

    Args:
        sparsity: target fraction of zeros in [0, 1).
        begin_step: first step at which the mask is computed (>= 1), or -1.
        frequency: re-prune every ``frequency`` steps after ``begin_step``;
            0 keeps the mask fixed.
        initial_sparsity: start of the ramp (ignored when ``ramp_steps=0``).
        ramp_steps: length of the polynomial ramp in steps (0: no ramp).
        power: exponent of the ramp (tfmot's PolynomialDecay default 3).
        scale: multiplier in (0, 1] applied to every returned sparsity.
    """

    def __init__(self, sparsity=0.5, begin_step=1, frequency=0,
                 initial_sparsity=0.0, ramp_steps=0, power=3.0, scale=1.0):
        func = "LevelSparsity"
        sparsity = check_float(sparsity, "sparsity", func, 0.0, 1.0,
                               max_inclusive=False)
        initial_sparsity = check_float(initial_sparsity, "initial_sparsity",
                                       func, 0.0, 1.0, max_inclusive=False)
        begin_step = check_int(begin_step, "begin_step", func, min_value=-1)
        if begin_step == 0:
            begin_step = 1
        frequency = check_int(frequency, "frequency", func, min_value=0)
        ramp_steps = check_int(ramp_steps, "ramp_steps", func, min_value=0)
        self.power = check_float(power, "power", func, 0.0, None,
                                 min_inclusive=False)
        self.scale = check_float(scale, "scale", func, 0.0, 1.0,
                                 min_inclusive=False)
        self._sparsity = tf.Variable(sparsity, trainable=False,
                                     dtype=tf.float32, name="level_sparsity")
        self._initial = tf.Variable(initial_sparsity, trainable=False,
                                    dtype=tf.float32, name="level_initial")
        self._begin = tf.Variable(begin_step, trainable=False,
                                  dtype=tf.int64, name="level_begin")
        self._frequency = tf.Variable(frequency, trainable=False,
                                      dtype=tf.int64, name="level_frequency")
        self._ramp = tf.Variable(ramp_steps, trainable=False,
                                 dtype=tf.int64, name="level_ramp")

    @property
    def sparsity(self) -> float:
        return float(self._sparsity.numpy())

    @property
    def begin_step(self) -> int:
        return int(self._begin.numpy())

    def set_level(self, sparsity, begin_step, frequency=0, ramp_steps=0,
                  initial_sparsity=None) -> None:
        """Move to a new level; called by the callbacks between steps."""
        if initial_sparsity is None:
            initial_sparsity = self.sparsity
        self._initial.assign(float(initial_sparsity))
        self._sparsity.assign(float(sparsity))
        self._begin.assign(int(begin_step))
        self._frequency.assign(int(frequency))
        self._ramp.assign(int(ramp_steps))

    def freeze(self) -> None:
        """Stop pruning: the current masks stay as they are."""
        self._begin.assign(_NEVER)

    def __call__(self, step):
        step = tf.cast(step, tf.int64)
        begin = self._begin
        t = step - begin
        active = tf.logical_and(begin >= 1, t >= 0)
        ramp = self._ramp
        freq = self._frequency
        in_ramp = tf.logical_and(ramp > 0, t <= ramp)
        periodic = tf.logical_and(
            freq > 0, tf.equal(tf.math.floormod(t, tf.maximum(freq, 1)), 0))
        should = tf.logical_and(
            active, tf.logical_or(tf.equal(t, 0),
                                  tf.logical_or(in_ramp, periodic)))
        p = tf.clip_by_value(
            tf.cast(t, tf.float32) / tf.cast(tf.maximum(ramp, 1), tf.float32),
            0.0, 1.0)
        ramped = self._sparsity + (self._initial - self._sparsity) * tf.pow(
            1.0 - p, self.power)
        sparsity = tf.where(in_ramp, ramped, self._sparsity) * self.scale
        return should, sparsity

    def get_config(self):
        # tfmot's wrapper stores this dict and deserialises it by class name;
        # the registered name lets tf_keras find the class on reload.
        return {"class_name": "tfprune>LevelSparsity", "config": {
            "sparsity": self.sparsity,
            "begin_step": self.begin_step,
            "frequency": int(self._frequency.numpy()),
            "initial_sparsity": float(self._initial.numpy()),
            "ramp_steps": int(self._ramp.numpy()),
            "power": self.power, "scale": self.scale}}

    @classmethod
    def from_config(cls, config):
        if "config" in config:
            config = config["config"]
        return cls(**config)

    def __repr__(self):
        c = self.get_config()["config"]
        return "LevelSparsity(" + ", ".join(f"{k}={v!r}" for k, v in
                                            c.items()) + ")"
