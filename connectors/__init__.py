"""safetynet.connectors: the extract stage (department files / databases -> raw."<source>").

    >>> from safetynet.connectors import extract_source, load_source_config
    >>> result = extract_source(con, load_source_config("sources/hrss_pension.yaml"),
    ...                         data_root, as_of)

``extract_source`` is imported lazily so that reading configs stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from safetynet.connectors.config import SourceConfig, load_source_config, load_source_configs

if TYPE_CHECKING:
    from safetynet.connectors.extract import ExtractResult, extract_source

__all__ = ["ExtractResult", "SourceConfig", "extract_source", "load_source_config",
           "load_source_configs"]


def __getattr__(name: str) -> Any:
    if name in ("ExtractResult", "extract_source"):
        from safetynet.connectors import extract

        return getattr(extract, name)
    raise AttributeError(name)
