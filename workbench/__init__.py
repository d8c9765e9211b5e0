"""safetynet: the data officers' web workbench (FastAPI + Jinja2 + HTMX over the warehouse).

    from safetynet.workbench import create_app
    app = create_app(Path("var/safetynet.duckdb"))      # then: uvicorn, or `safetynet web serve`
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:  # lazy: importing the package does not import FastAPI
    if name == "create_app":
        from safetynet.workbench.app import create_app

        return create_app
    raise AttributeError(name)
