#!/bin/bash
# Render the upstream (env PROXY_UPSTREAM, host:port, default backend:8000) into nginx.conf,
# then exec the command (nginx, or the lb role's `nginx -c ...`) as PID 1.
set -euo pipefail

template=/etc/nginx/nginx.conf.template
conf=/etc/nginx/nginx.conf
upstream=${PROXY_UPSTREAM:-backend:8000}

# Checked before it reaches sed and nginx: only a plain name and a port can be rendered.
if ! [[ $upstream =~ ^[A-Za-z0-9._-]+:([0-9]+)$ ]] || [ "${#BASH_REMATCH[1]}" -gt 5 ] \
   || [ "$((10#${BASH_REMATCH[1]}))" -lt 1 ] || [ "$((10#${BASH_REMATCH[1]}))" -gt 65535 ]; then
  printf '[proxy-entrypoint] ERROR: PROXY_UPSTREAM=%q is not host:port (expected ^[A-Za-z0-9._-]+:[0-9]+$, port 1-65535)\n' \
    "$upstream" >&2
  exit 64
fi

rendered=$(sed "s/@PROXY_UPSTREAM@/$upstream/g" "$template")
# Write only on a change: with the default upstream the image's file is already right,
# so a read-only or non-root container still starts.
if [ "$rendered" != "$(cat "$conf" 2>/dev/null)" ]; then
  printf '%s\n' "$rendered" >"$conf"
fi

exec "$@"
