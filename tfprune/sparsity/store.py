"""The finished levels of a sequential run, kept in a run folder.

One commit record per finished level ``i`` (see :mod:`tfprune._runstate`):
the level's stripped weights in ``level_XX.npz`` and, in the record itself,
the ``SequentialPruning`` state after that level (its history rows and
counters). Weights and state of a resumed run therefore always come from the
same level. ``history.csv`` is an export, rewritten after every commit and on
resume, and never read back.
"""
from __future__ import annotations

from .._io import atomic_save_npz, atomic_write_csv
from .._runstate import RunDir, Unit
from ..errors import RunStateError

__all__ = ["LevelStore"]


def _name(i: int) -> str:
    return f"level_{i:02d}.npz"


class LevelStore:
    """Commit and read back the levels of one run folder."""

    def __init__(self, rd: RunDir):
        self.rd = rd

    @property
    def path(self):
        return self.rd.path

    def last(self) -> Unit | None:
        """The most recent committed level, or None."""
        units = [u for u in self.rd.committed() if isinstance(u.key, int)]
        return units[-1] if units else None

    def commit(self, i: int, weights, state: dict, history) -> None:
        """Write level ``i``'s weights, then its record (``state`` is the
        callback state after the level), then the history export."""
        name = _name(i)
        atomic_save_npz(self.rd.file(name),
                        **{f"w{j:03d}": w for j, w in enumerate(weights)})
        self.rd.commit(i, files=[name], state={"callback": state})
        self.export(history)

    def export(self, history) -> None:
        """(Re)write ``history.csv`` (also on resume: a run killed between a
        record and its export leaves an older one)."""
        atomic_write_csv(self.rd.file("history.csv"), history)

    def state(self, unit: Unit) -> dict:
        return unit.state["callback"]

    def weights(self, unit_or_level) -> list:
        """The stripped weights of a committed level, checksum verified."""
        unit = unit_or_level
        if not isinstance(unit, Unit):
            try:
                unit = self.rd.unit(int(unit_or_level))
            except KeyError:
                raise RunStateError(
                    f"run folder {str(self.path)!r} has no record of level "
                    f"{unit_or_level} (units/{int(unit_or_level):06d}.json); "
                    "delete the folder and run again.") from None
        arrays = self.rd.load_npz(unit, _name(unit.key))
        return [arrays[k] for k in sorted(arrays)]
