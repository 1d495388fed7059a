#!/bin/sh
# The Coder's commands run under bubblewrap (README "Commands"); the tests also run pytest inside it.
set -e
missing=""
command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
/usr/bin/python3 -c "import pytest" >/dev/null 2>&1 || missing="$missing python3-pytest"
if [ -z "$missing" ]; then exit 0; fi
echo "installing Debian's$missing for the command sandbox" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
