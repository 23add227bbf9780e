"""A local Ray instance for tests whose workers can import the repository and the tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def local_ray(num_cpus: int = 2) -> Iterator[None]:
    import ray

    path = os.pathsep.join([TESTS, os.path.dirname(TESTS), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        yield
    finally:
        ray.shutdown()
