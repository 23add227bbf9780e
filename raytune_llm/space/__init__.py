"""One typed search space: Ray Tune domains <-> unit cube <-> configurations.

Every searcher of raytune-llm sees a search space through :class:`SearchSpace`: the particle swarm
moves in the unit cube ``[0, 1] ** space.dim``, Tune receives nested configurations, and the LLM
reads the space as :mod:`raytune_llm.proposals.render` writes it (a table, an answer schema, a
grammar). The space itself knows nothing of LLMs.

Modules, one job each:

* :mod:`~raytune_llm.space.params`: the parameter types and their maps to and from ``[0, 1]``.
* :mod:`~raytune_llm.space.core`: :class:`SearchSpace` (dimensions, unit cube, keys, fingerprint).
* :mod:`~raytune_llm.space.tune`: reading Tune domains; nested dicts <-> ``"a/b"`` names.
* :mod:`~raytune_llm.space.validation`: checking, repairing and coercing configurations.

The mapping, one coordinate per parameter:

* ``float`` (``uniform``, ``quniform``): linear in ``[low, high]``; ``loguniform``/``qloguniform``:
  linear in log space; ``randn``/``qrandn``: through the normal quantile function (the unit cube
  covers the distribution's 1e-6..1-1e-6 quantiles). Quantized values are rounded to the nearest
  multiple of ``q`` inside the bounds.
* ``int`` (``randint``, ``qrandint``, ``lograndint``, ``qlograndint``): the allowed values (multiples
  of ``q`` inside the bounds, with Tune's exclusive upper bound for ``q == 1``) split the unit
  interval into equal bins (in log space for the log samplers); a value maps to its bin's centre.
* ``choice``: the categories split the unit interval into equal bins, in the order given.
  Categories next to each other are therefore "close" for the swarm: list ordinal choices in order.

Nested dictionaries are flattened to ``"a/b"`` keys and unflattened when a configuration is built;
constants are carried through unchanged and are not dimensions.

Example:
    >>> from ray import tune
    >>> space = SearchSpace.from_tune({"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 5),
    ...                                "opt": {"name": tune.choice(["adam", "sgd"])}, "epochs": 3})
    >>> space.dim
    3
    >>> config = space.from_unit([0.5, 0.99, 0.0])
    >>> config["layers"], config["opt"]["name"], config["epochs"]
    (3, 'adam', 3)
"""

from __future__ import annotations

from raytune_llm.space.core import SearchSpace
from raytune_llm.space.params import CategoricalParam, FloatParam, IntParam, Param
from raytune_llm.space.tune import SEP, flatten, unflatten

__all__ = ["SEP", "CategoricalParam", "FloatParam", "IntParam", "Param", "SearchSpace", "flatten", "unflatten"]
