#!/usr/bin/env bash
# `make test-realcloud`: start the real three-region OpenStack (or reuse a running one), run the
# real-cloud suite against it, then stop it (REALCLOUD_KEEP=1 leaves it running). Prints the
# time of each phase and the cloud's memory. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY=.venv/bin/python
export GOVCLOUD_REALCLOUD=${GOVCLOUD_REALCLOUD_DIR:-/tmp/govcloud-realcloud}
export GOVCLOUD_REALCLOUD_DIR=$GOVCLOUD_REALCLOUD

t0=$(date +%s)
tests/realcloud/install.sh || exit 1
t1=$(date +%s)
$PY -m tests.realcloud.cloud up || { $PY -m tests.realcloud.cloud down; exit 1; }
t2=$(date +%s)
rss=$($PY -m tests.realcloud.cloud status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["rss_mb"])')
$PY -m pytest -q -p no:cacheprovider -p no:warnings tests/realcloud "$@"
rc=$?
t3=$(date +%s)
rss_after=$($PY -m tests.realcloud.cloud status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["rss_mb"])')
if [[ "${REALCLOUD_KEEP:-0}" != 1 ]]; then
    $PY -m tests.realcloud.cloud down
fi
t4=$(date +%s)
echo "real cloud: install $((t1 - t0)) s, setup $((t2 - t1)) s, suite $((t3 - t2)) s," \
     "stop $((t4 - t3)) s, total $((t4 - t0)) s; RSS ${rss} MiB after setup, ${rss_after} MiB after the suite"
exit $rc
