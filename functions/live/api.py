"""HTTP routes of the live domain."""

from __future__ import annotations

from chalice import Blueprint

from functions.core.web import Api

bp = Blueprint(__name__)
api = Api(bp)
