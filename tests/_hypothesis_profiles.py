"""Hypothesis settings profiles for the property-based tests.

``HYPOTHESIS_PROFILE=ci`` (the default) keeps the suite fast; ``HYPOTHESIS_PROFILE=long``
runs many more examples, e.g. before a release::

    HYPOTHESIS_PROFILE=long pytest tests/test_oracle.py

No example database is written, so a run leaves no files behind; a failing example is
reported with a ``@reproduce_failure`` blob instead.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])

settings.register_profile("ci", max_examples=30, **_COMMON)
settings.register_profile("long", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
