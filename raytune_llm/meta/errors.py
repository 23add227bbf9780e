"""Errors of the meta-learning package (each also a built-in exception a caller would catch)."""

from __future__ import annotations

from raytune_llm.errors import RaytuneLLMError


class MetaDataError(RaytuneLLMError, ValueError):
    """Bad input to the meta-dataset: a record, a meta-feature, a table; the message names it."""


class UnknownDatasetError(RaytuneLLMError, KeyError):
    """A data set name that the store (or the seed list) does not know; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


class MetaStoreSchemaError(RaytuneLLMError, RuntimeError):
    """A store file written with a schema version this code does not read."""


class ReadOnlyStoreError(RaytuneLLMError, PermissionError):
    """A write to a store opened read-only (the packaged seed meta-dataset)."""


class NotFittedError(RaytuneLLMError, RuntimeError):
    """A :class:`~raytune_llm.meta.MetaLearner` used before :meth:`fit`."""
