"""The public surface: `__all__` lists exactly the public names of the package namespace."""

from __future__ import annotations
import __future__

import bulkops


def test_all_matches_namespace() -> None:
    public = {
        name
        for name, value in vars(bulkops).items()
        if not name.startswith("_") and not isinstance(value, type(bulkops) | __future__._Feature)  # type: ignore[attr-defined]
    }
    assert set(bulkops.__all__) == public | {"__version__"}
    assert list(bulkops.__all__) == sorted(bulkops.__all__)
