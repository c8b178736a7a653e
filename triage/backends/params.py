"""scikit-learn's parameter contract without importing scikit-learn.

`sklearn.base` pulls in pandas and scipy.stats: about a second and 150 MB before a model is
even read. A backend that must load fast inherits this instead of `BaseEstimator`; `get_params`,
`set_params` and the constructor signature are all `sklearn.base.clone` and grid searches need.
"""

from __future__ import annotations

import inspect
from typing import Any

from calmdesk.errors import InputError


class ParamsMixin:
    """`get_params` / `set_params` / `repr` from the `__init__` signature, as scikit-learn's."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(
            name
            for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters and their current values."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> ParamsMixin:
        """Change constructor parameters (before `fit`), refusing unknown names."""
        valid = set(self._get_param_names())
        for name, value in params.items():
            if name not in valid:
                raise InputError(
                    f"invalid parameter {name!r} for {type(self).__name__}; "
                    f"valid: {', '.join(sorted(valid))}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if defaults.get(name, inspect.Parameter.empty) != value
        ]
        return f"{type(self).__name__}({', '.join(changed)})"
