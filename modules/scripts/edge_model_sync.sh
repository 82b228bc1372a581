#!/bin/sh
# An edge site's model sync (modules/edge_site.py runs it inside the site's maintenance window):
# copies every model the site serves from its source into /models/incoming, then swaps the copy in
# as /models/current, the models it replaces kept as /models/previous. The swap comes only after
# every model is copied: an outage or the window's end leaves `current` as it was. Files stay
# writable for the cache's group (umask 0002: see UID in modules/edge_site.py).
#
# A template, filled in by modules/edge_site.py: @MODELS@ (the site's models, space-separated),
# @RCLONE_CONFIG@ (the mounted rclone config file) and @MODEL_SOURCE_ENV@ (the environment variable
# holding the rclone remote the models come from).

set -eu
umask 0002
rm -rf /models/incoming && mkdir -p /models/incoming
for m in @MODELS@; do rclone sync --config @RCLONE_CONFIG@ --cache-dir /tmp/rclone --checksum "$@MODEL_SOURCE_ENV@/$m" "/models/incoming/$m/$m"; done
rm -rf /models/previous
if [ -d /models/current ]; then mv /models/current /models/previous; fi
mv /models/incoming /models/current
