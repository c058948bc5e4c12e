"""A boosted form's redirect back to its own page with only a new fragment reloads it."""

from __future__ import annotations

import pytest

from yiyun.web.htmx import only_fragment_differs

HERE = "http://127.0.0.1:8000/consults/5?done=saved"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/consults/5?done=saved#meeting-7", True),  # the browser would only scroll
        ("http://127.0.0.1:8000/consults/5?done=saved#x", True),
        ("/consults/5?done=saved", False),  # no fragment: the browser loads it anyway
        ("/consults/5?done=started#meeting-7", False),  # another query: a real load
        ("/consults/6?done=saved#meeting-7", False),
        ("http://other.example/consults/5?done=saved#x", False),
    ],
)
def test_only_a_new_fragment_needs_a_refresh(location: str, expected: bool) -> None:
    assert only_fragment_differs(HERE, location) is expected
