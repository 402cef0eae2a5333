#!/bin/sh
# Entrypoint of the stand-in Lambda Python base image (written for this project, after the
# documented behaviour of the official image's entrypoint).
#
# The handler ("module.function") is the image's CMD, passed here as the only argument.
# Inside Lambda, or under an emulator that runs this script as its bootstrap (sam local),
# AWS_LAMBDA_RUNTIME_API is set and the runtime interface client runs directly. Without it,
# the Runtime Interface Emulator runs first, serves the invoke API on port 8080 and starts
# the runtime interface client with AWS_LAMBDA_RUNTIME_API pointing at itself.
if [ "$#" -ne 1 ]; then
    echo "lambda-entrypoint.sh: expected the handler name as the only argument (set CMD)" >&2
    exit 142
fi
export _HANDLER="$1"

bootstrap="${LAMBDA_RUNTIME_DIR:-/var/runtime}/bootstrap"
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
    exec /usr/local/bin/aws-lambda-rie "$bootstrap"
fi
exec "$bootstrap"
