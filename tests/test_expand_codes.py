"""The plan's categorical columns made without checking their categories again."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bulkops.jobs import expand


@pytest.mark.parametrize("fast", [True, False])
def test_from_codes_is_the_checked_categorical(fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not fast:  # a pandas without the fast path: the checked dtype
        monkeypatch.setattr(expand, "_FAST_DTYPE", None)
    categories = pd.Index(["hol2", "hol0", "hol1"], dtype="str")
    codes = np.array([0, -1, 2, 1, 0], dtype=np.int64)
    made = expand._from_codes(codes, categories)
    checked = pd.Categorical.from_codes(codes, categories=categories)
    assert made.dtype == checked.dtype and made.ordered is checked.ordered
    assert made.categories.dtype == checked.categories.dtype
    assert list(made.categories) == ["hol2", "hol0", "hol1"]
    assert made.codes.tolist() == checked.codes.tolist()
    with pytest.raises(ValueError):  # codes out of range are still refused
        expand._from_codes(np.array([3]), categories)
