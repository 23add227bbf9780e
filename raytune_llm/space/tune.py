"""Reading Ray Tune search spaces: nested dictionaries <-> ``"a/b"`` names, Tune domains -> parameters.

Ray is imported only when a Tune space is read, so the rest of :mod:`raytune_llm.space` works
without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from raytune_llm.errors import SearchSpaceError
from raytune_llm.space.params import CategoricalParam, FloatParam, IntParam, Param

SEP = "/"

__all__ = ["SEP", "flatten", "read_tune", "unflatten"]


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dictionaries to ``"a/b"`` keys (lists and other values are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(key, str):
            raise SearchSpaceError(f"search space keys must be strings, got {key!r} at {prefix or 'top level'!r}")
        if SEP in key:
            raise SearchSpaceError(
                f"key {prefix + key!r} contains {SEP!r}, which raytune-llm uses for nesting; "
                "rename it or nest it as a dictionary"
            )
        name = prefix + key
        if isinstance(value, Mapping) and value and "grid_search" not in value:
            flat.update(flatten(value, name + SEP))
        else:
            flat[name] = value
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten`."""
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        node = nested
        *parents, leaf = name.split(SEP)
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def read_tune(param_space: Mapping[str, Any]) -> tuple[list[Param], dict[str, Any]]:
    """The parameters and the constants of a Ray Tune search space.

    Args:
        param_space: the dictionary given to ``tune.run(config=...)`` or
            ``Tuner(param_space=...)``, possibly nested.

    Returns:
        One parameter per Tune domain, and flattened name -> value for everything else.

    Raises:
        SearchSpaceError: for grid searches, ``sample_from``, domains inside lists, and spaces
            with nothing to search; the message names the key and what to do instead.
    """
    from ray.tune.search.sample import Domain

    if not isinstance(param_space, Mapping):
        raise SearchSpaceError(
            f"a search space must be a dict of Tune domains, got {type(param_space).__name__}: {param_space!r}"
        )
    params: list[Param] = []
    constants: dict[str, Any] = {}
    for name, value in flatten(param_space).items():
        if isinstance(value, Domain):
            params.append(_param_from_domain(name, value))
        elif isinstance(value, Mapping) and "grid_search" in value:
            raise SearchSpaceError(
                f"parameter {name!r} is tune.grid_search(...); raytune-llm searchers choose the values "
                "themselves. Use tune.choice([...]) instead, or pass the grid points as points_to_evaluate"
            )
        elif callable(value) and not isinstance(value, type):
            raise SearchSpaceError(
                f"parameter {name!r} is a function: conditional or derived values cannot be searched. "
                "Sample the independent parameters and compute this one inside your trainable"
            )
        elif isinstance(value, (list, tuple)) and _contains_domain(value):
            raise SearchSpaceError(
                f"parameter {name!r} is a list containing Tune domains; searchers cannot index into "
                "lists. Use a dict ({'0': tune.uniform(...), ...}) instead"
            )
        else:
            constants[name] = value
    if not params:
        raise SearchSpaceError(
            "the search space has no Tune domains to search (only constants); add e.g. "
            "tune.uniform(...), tune.loguniform(...), tune.randint(...) or tune.choice([...])"
        )
    return params, constants


def _param_from_domain(name: str, domain: Any) -> Param:
    from ray.tune.search import sample

    sampler = domain.get_sampler()
    q = None
    if isinstance(sampler, sample.Quantized):
        q = sampler.q
        sampler = sampler.get_sampler()
    if isinstance(sampler, sample.Grid):
        raise SearchSpaceError(
            f"parameter {name!r} is a grid search; raytune-llm searchers choose the values themselves. "
            "Use tune.choice([...]) instead, or pass the grid points as points_to_evaluate"
        )
    if isinstance(domain, sample.Function):
        raise SearchSpaceError(
            f"parameter {name!r} uses tune.sample_from, a conditional or derived value that a model-based "
            "searcher cannot represent. Sample the independent parameters and compute this one inside "
            "your trainable from config"
        )
    if isinstance(domain, sample.Categorical):
        if _contains_domain(domain.categories):
            raise SearchSpaceError(
                f"parameter {name!r} is a tune.choice whose options contain Tune domains (a conditional "
                "space); raytune-llm searchers pass choices through as they are. Search the inner "
                "parameters as parameters of their own and pick among them inside your trainable"
            )
        return CategoricalParam(name, tuple(domain.categories))
    if isinstance(domain, sample.Integer):
        log = isinstance(sampler, sample.LogUniform)
        if q is not None and (isinstance(q, bool) or not float(q).is_integer()):
            raise SearchSpaceError(f"parameter {name!r}: an integer domain needs an integer step, got q={q!r}; "
                                   "use tune.qrandint(low, high, q) with an int q, or tune.quniform for a float grid")
        if q is None or q == 1:
            # Tune's integer samplers exclude the upper bound when q == 1
            return IntParam(name, int(domain.lower), int(domain.upper) - 1, log=log, q=1)
        return IntParam(name, int(domain.lower), int(domain.upper), log=log, q=int(q))
    if isinstance(domain, sample.Float):
        if isinstance(sampler, sample.Normal):
            return FloatParam(name, float(domain.lower), float(domain.upper), q=q,
                              mean=float(sampler.mean), sd=float(sampler.sd))
        log = isinstance(sampler, sample.LogUniform)
        return FloatParam(name, float(domain.lower), float(domain.upper), log=log, q=q)
    raise SearchSpaceError(f"parameter {name!r}: unsupported Tune domain {domain!r}")


def _contains_domain(values: Iterable[Any]) -> bool:
    from ray.tune.search.sample import Domain

    for v in values:
        if isinstance(v, Domain):
            return True
        if isinstance(v, (list, tuple)) and _contains_domain(v):
            return True
        if isinstance(v, Mapping) and _contains_domain(v.values()):
            return True
    return False
