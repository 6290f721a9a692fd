"""Powertools logger, metrics and tracer shared by every function (configured by environment)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
# Only botocore: every call the service makes to AWS goes through it, and it is the only library
# of the layer X-Ray can patch that the service uses. Patching everything (the default) also
# imports each other supported library that happens to be installed (sqlite3 in the runtime) and
# probes for the rest, in every cold start.
tracer = Tracer(patch_modules=("botocore",))
