"""Moved to :mod:`optix_evo.runs.manifest` and :mod:`optix_evo.runs.reproduction`; re-exported here so that older
imports keep working."""

from optix_evo.runs.manifest import *  # noqa: F401,F403
from optix_evo.runs.manifest import MANIFEST_NAME, OUT_OPTION, command_argv, fingerprint_arrays  # noqa: F401
from optix_evo.runs.reproduction import *  # noqa: F401,F403
