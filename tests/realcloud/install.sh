#!/usr/bin/env bash
# Install the Debian packages of the real-cloud target that are missing (nothing when all are
# there). The packages' own database setup, endpoint registration and service start are turned
# off: tests/realcloud/cloud.py configures and starts every service itself, under its state dir.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PACKAGES=(keystone placement-api nova-api nova-conductor nova-scheduler python3-nova glance-api
          neutron-api cinder-api python3-pymysql uwsgi-core uwsgi-plugin-python3 python3-openstackclient
          mariadb-server rabbitmq-server)

missing=0
for pkg in "${PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" == "install ok installed" ]] \
        || missing=1
done
(( missing )) || exit 0

sudo=()
(( $(id -u) == 0 )) || sudo=(sudo)
# Debconf answers: no dbconfig-common databases, no keystone endpoint/admin registration.
for p in keystone nova-common placement-common glance-common neutron-common cinder-common; do
    printf '%s %s/configure_db boolean false\n' "$p" "$p"
    printf '%s %s/dbconfig-install boolean false\n' "$p" "$p"
    printf '%s %s/register-endpoint boolean false\n' "$p" "$p"
    printf '%s %s/configure_rabbit boolean false\n' "$p" "$p"
    printf '%s %s/configure_ksat boolean false\n' "$p" "$p"
done | "${sudo[@]}" debconf-set-selections
printf 'keystone keystone/create-admin-tenant boolean false\n' | "${sudo[@]}" debconf-set-selections

# No init scripts run during the install (there is no systemd; the services are ours to start).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    own_policy=1
fi
trap '(( own_policy )) && "${sudo[@]}" rm -f "$policy"' EXIT
scripts/ensure-apt.sh "${PACKAGES[@]}"
