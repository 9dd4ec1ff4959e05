#!/usr/bin/env bash
# The benchmark's load generator is Debian's wrk (with bench/lua scripts). Install it when missing:
# as root with apt-get (one `apt-get update` first), otherwise print the command and stop.
set -euo pipefail

command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "wrk is missing. Install it with: sudo apt-get update && sudo apt-get install -y wrk" >&2
  exit 1
fi
echo "Installing wrk"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends wrk >/dev/null
