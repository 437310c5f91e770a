#!/bin/sh
# Let running systemd managers see the new or changed units. Nothing is
# enabled: credpool is per user, each user chooses with
#   systemctl --user enable --now credpool
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
echo "credpool: enable it for your user with: systemctl --user enable --now credpool"
