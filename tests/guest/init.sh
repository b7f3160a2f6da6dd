#!/bin/sh
# PID 1 of the user-mode-linux guest of tests/guest/run: its root is this machine's file
# system (hostfs). Mounts the guest's own /proc, /sys and cgroup v2 (each mount's type is
# checked before anything is written: the root is the host's), enables the memory
# controller for the root cgroup's children, runs the job named on the kernel command
# line (PROBE_GUEST_JOB=DIR holding job.sh and cwd) and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
off() { sync; python3 -c 'import ctypes, os; os.sync(); ctypes.CDLL(None).reboot(0x4321FEDC)'; sleep 5; exit 1; }
die() { echo "init.sh: $*" >> "$PROBE_GUEST_JOB/err" 2>/dev/null; off; }
mount -t proc proc /proc && [ "$(stat -f -c %T /proc)" = proc ] || die "no /proc of the guest"
mount -t sysfs sysfs /sys && [ "$(stat -f -c %T /sys)" = sysfs ] || die "no /sys of the guest"
mount -t cgroup2 none /sys/fs/cgroup && [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] \
    || die "no cgroup2 of the guest"
mount -t tmpfs tmpfs /run || die "no /run"
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm || die "no /dev/shm"
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
[ -n "$PROBE_GUEST_JOB" ] && [ -f "$PROBE_GUEST_JOB/job.sh" ] || die "no job"
echo +memory > /sys/fs/cgroup/cgroup.subtree_control || die "cannot enable the memory controller"
cd "$(cat "$PROBE_GUEST_JOB/cwd")" 2>/dev/null || cd /
/bin/bash "$PROBE_GUEST_JOB/job.sh" > "$PROBE_GUEST_JOB/out" 2> "$PROBE_GUEST_JOB/err" < /dev/null
echo $? > "$PROBE_GUEST_JOB/rc"
off
