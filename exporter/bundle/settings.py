"""The ``bundle:`` section of the config: thresholds, budgets and receivers of the generated bundle.

Placeholder: the bundle generator (issue 5) fills this in. Every default carries a comment explaining it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class BundleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
