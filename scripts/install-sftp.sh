#!/usr/bin/env bash
# Installs what the SFTP tests' server needs: Debian's OpenSSH server (/usr/sbin/sshd)
# and ssh-keygen. The tests run their own sshd in the foreground on a free port with
# their own config and keys; the system ssh service is never enabled or left running.
# Idempotent and fast when everything is present. Run as root on Debian 12.
set -euo pipefail

if [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-sftp.sh: openssh-server is missing and installing it needs root" >&2
    exit 1
fi

# Keep the package's maintainer scripts from starting the system service: a
# policy-rc.d that denies every start, ours only if none exists, removed afterwards.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

running_before=$(pgrep -x sshd || true)

export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends openssh-server openssh-client; then
    apt-get update
    apt-get install -y --no-install-recommends openssh-server openssh-client
fi

# If a service manager started the system sshd anyway, stop that one (only if it was
# not running before this script) and keep it from starting at boot.
if [ -z "$running_before" ] && [ -f /run/sshd.pid ]; then
    pid=$(cat /run/sshd.pid)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" || true
    fi
fi
if command -v systemctl >/dev/null 2>&1; then
    # Works offline too (no running systemd): removes the boot-time enablement.
    systemctl disable ssh.service >/dev/null 2>&1 || true
    if [ -z "$running_before" ] && [ -d /run/systemd/system ]; then
        systemctl stop ssh.service ssh.socket >/dev/null 2>&1 || true
    fi
fi

test -x /usr/sbin/sshd
