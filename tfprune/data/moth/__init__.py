"""Simulated hawkmoth hovering flights and the controller data set.

The model (``docs/sections/moth_data.md``): two rigid prolate ellipsoids
(head-thorax and abdomen) joined at the petiole by a torsional spring and
damper, a wing force ``F`` at angle ``alpha`` to the thorax axis, an
abdominal torque ``tau``, gravity and Reynolds-dependent drag; CGS units,
angles in radians. Each simulation draws a random initial state and random
constant controls and integrates 20 ms, thousands of trajectories at a time
in numpy.

Modules: ``sampling`` (ranges, columns, seeded draws), ``simulate``
(:func:`simulate`, :func:`reference_solve`, :func:`trajectory`),
``dataset`` (:func:`make_dataset`, :class:`MothScaler`), ``disk``
(:func:`simulate_to_disk` with resume and shards, :func:`load_simulations`,
:func:`verify_simulations`).
"""
from ._model import MothParams, STATE_NAMES, CONTROL_NAMES
from .sampling import (T_END, DEFAULT_RTOL, SAMPLE_BLOCK, DEFAULT_RANGES,
                       INITIAL_COLUMNS, CONTROL_COLUMNS, FINAL_COLUMNS,
                       INPUT_COLUMNS, OUTPUT_COLUMNS, STATUS_CODES,
                       sample_inputs)
from .simulate import (METHODS, simulate, reference_solve, trajectory,
                       states_of, controls_of)
from .dataset import MothScaler, MothDataset, network_arrays, make_dataset
from .disk import (SimulationConfig, SimulationCheck, simulate_to_disk,
                   resume_simulations, load_simulations, verify_simulations)

__all__ = ["simulate", "make_dataset", "simulate_to_disk",
           "resume_simulations", "load_simulations", "verify_simulations",
           "reference_solve", "MothDataset", "MothScaler", "MothParams",
           "SimulationConfig", "SimulationCheck", "DEFAULT_RANGES",
           "INPUT_COLUMNS", "OUTPUT_COLUMNS", "INITIAL_COLUMNS",
           "FINAL_COLUMNS", "CONTROL_COLUMNS", "STATE_NAMES",
           "CONTROL_NAMES", "STATUS_CODES", "T_END", "DEFAULT_RTOL",
           "SAMPLE_BLOCK", "METHODS", "sample_inputs", "trajectory",
           "states_of", "controls_of", "network_arrays"]
