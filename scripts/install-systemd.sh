#!/usr/bin/env bash
# Installs edgelog as a systemd service (run as root, after `deno task compile`): the binary as
# /usr/local/bin/edgelog, deploy/edgelog.service as /etc/systemd/system/edgelog.service, and the
# documents its Documentation= line names in /usr/local/share/doc/edgelog. Set PREFIX= to stage
# into another root (e.g. a device image). Does not enable or start the service.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${PREFIX:-}
binary=${EDGELOG_BINARY:-dist/edgelog}
[ -x "$binary" ] || { echo "install-systemd: $binary missing: run deno task compile first" >&2; exit 1; }
install -D -m 0755 "$binary" "$prefix/usr/local/bin/edgelog"
install -D -m 0644 deploy/edgelog.service "$prefix/etc/systemd/system/edgelog.service"
for doc in README.md docs/SECURITY.md docs/RELIABILITY.md; do
  install -D -m 0644 "$doc" "$prefix/usr/local/share/doc/edgelog/$(basename "$doc")"
done
echo "installed; now: systemctl daemon-reload && systemctl enable --now edgelog" >&2
