#!/bin/bash
# Runs inside the lab VM, chrooted into the overlay of the host's root (see vm.py).
# Usage: guest.sh RESULTS_DIR
#   RESULTS_DIR is the writable 9p export shared with the host. It holds lab.env
#   (written by vm.py) and receives junit.xml, rc, timings.json, dmesg.txt and logs/.
set -u

RESULTS=${1:?usage: guest.sh RESULTS_DIR}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=${TERM:-linux} COLUMNS=120
export PYTHONUNBUFFERED=1

uptime_s() { local up _; read -r up _ < /proc/uptime; echo "$up"; }
echo "lab: guest.sh started at uptime $(uptime_s) s on kernel $(uname -r)"

finish() {
    echo "$1" > "$RESULTS/rc"
    dmesg > "$RESULTS/dmesg.txt" 2>/dev/null
    sync
    echo "lab: guest.sh done at uptime $(uptime_s) s, pytest exit code $1; powering off"
    busybox poweroff -f || echo o > /proc/sysrq-trigger
    sleep 10
}

# shellcheck source=/dev/null
source "$RESULTS/lab.env" || { echo "lab: cannot read $RESULTS/lab.env"; finish 4; }

# The initramfs holds the modules (/run/lvstop-vm/kmod); make them modprobe-able here.
KVER=$(uname -r)
if [ ! -e "/lib/modules/$KVER/modules.dep" ]; then
    mkdir -p "/lib/modules/$KVER"
    mount --bind /run/lvstop-vm/kmod "/lib/modules/$KVER"
fi
mod_failed=0
while read -r mod; do
    if ! modprobe "$mod"; then
        echo "lab: modprobe $mod FAILED"
        mod_failed=1
    fi
done < "/lib/modules/$KVER/lvstop-lab.modules"
[ "$mod_failed" = 0 ] || echo "lab: some modules failed to load; tests will show the damage"

ip link set lo up
cd "$LVSTOP_LAB_REPO" || { echo "lab: no repo at $LVSTOP_LAB_REPO"; finish 4; }

export LVSTOP_LAB=1 LVSTOP_LAB_RESULTS="$RESULTS"
echo "lab: running pytest at uptime $(uptime_s) s"
rc=0
"$LVSTOP_LAB_REPO/.venv/bin/python" -m pytest "${LVSTOP_LAB_PATHS[@]}" \
    -p no:cacheprovider -o addopts="" -rA --junitxml="$RESULTS/junit.xml" \
    "${LVSTOP_LAB_PYTEST_ARGS[@]}" || rc=$?
finish "$rc"
