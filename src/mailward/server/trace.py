"""The TRACE log level (below DEBUG): protocol transcripts, with credentials masked."""

from __future__ import annotations

import logging

TRACE = 5

logging.addLevelName(TRACE, "TRACE")
