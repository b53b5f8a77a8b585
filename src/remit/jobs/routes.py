"""Pages of this package (being written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
