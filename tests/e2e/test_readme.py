"""The README's Python snippets run as written, in order, in one namespace."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"


def _snippets():
    text = README.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_snippets():
    assert len(_snippets()) >= 4


@pytest.mark.slow
def test_readme_snippets_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    for i, code in enumerate(_snippets()):
        try:
            exec(compile(code, f"README.md snippet {i + 1}", "exec"), namespace)
        except Exception as e:  # pragma: no cover - the message is the point
            raise AssertionError(f"README snippet {i + 1} failed: {e!r}\n"
                                 f"{code}") from e
    # the snippets' results exist and are what the README says they are
    assert (tmp_path / "moth-run" / "manifest.json").exists()
    keras = namespace["tp"].keras
    for name in ("my_model", "sparse_model", "pruned", "smaller"):
        assert isinstance(namespace.get(name), keras.Model), name
    assert namespace["pruned"].count_params() < namespace["cnn"].count_params()
