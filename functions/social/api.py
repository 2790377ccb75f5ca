"""HTTP routes of the social domain."""

from __future__ import annotations

from chalice import Blueprint

from functions.core.web import Api

bp = Blueprint(__name__)
api = Api(bp)
