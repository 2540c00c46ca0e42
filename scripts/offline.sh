#!/usr/bin/env bash
# Run a command with the network cut: a fresh network namespace where only loopback is up
# (papermill talks to its kernels over 127.0.0.1). This proves that executing and building the
# book downloads nothing. Where namespaces are unavailable the command runs normally, with a note.
set -euo pipefail
if command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then ns=(unshare -n); else ns=(unshare -r -n); fi
  if "${ns[@]}" true 2>/dev/null; then
    echo "offline: running without network: $*" >&2
    exec "${ns[@]}" -- bash -c 'ip link set lo up && exec "$@"' offline "$@"
  fi
fi
echo "offline: note: cannot create a network namespace here; running with network" >&2
exec "$@"
