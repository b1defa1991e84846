"""Moved to :mod:`optix_evo.runs.folder`; this module re-exports it so that older imports keep working."""

from optix_evo.runs.folder import *  # noqa: F401,F403
from optix_evo.runs.folder import __all__  # noqa: F401
