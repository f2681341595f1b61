#!/bin/bash
# PID 1 of the orch test VM (`cargo xtask vm`). Mounts what the tests need
# (proc, sys, devtmpfs, cgroup v2, bpffs, tmpfs), mounts the payload disk
# read-only at /opt/orch, runs /opt/orch/run, writes /results as a tar
# stream onto the raw results disk, and powers the machine off. If it ever
# exits, the kernel panics and (booted with panic=1 under -no-reboot) the
# VM stops anyway.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8

say() { echo "orch-vm: $*"; }

# fs TYPE DIR [OPTIONS]: mounts TYPE on DIR unless something is there.
fs() {
    mkdir -p "$2"
    mountpoint -q "$2" && return 0
    mount -t "$1" ${3:+-o "$3"} "$1" "$2" || say "mounting $1 on $2 failed"
}

mount -o remount,rw / || say "remounting / read-write failed"
fs proc /proc
fs sysfs /sys
fs devtmpfs /dev
fs devpts /dev/pts gid=5,mode=620,ptmxmode=666
fs tmpfs /dev/shm mode=1777
fs tmpfs /run mode=755
fs tmpfs /tmp mode=1777
fs cgroup2 /sys/fs/cgroup nsdelegate
fs bpf /sys/fs/bpf mode=700
ln -sf /proc/self/fd /dev/fd 2>/dev/null
# Kernel modules a node loads at boot (/etc/modules-load.d, as systemd does).
for conf in /etc/modules-load.d/*.conf; do
    [ -f "$conf" ] || continue
    while read -r module _; do
        case "$module" in '' | '#'*) continue ;; esac
        modprobe "$module" || say "modprobe $module failed"
    done < "$conf"
done
hostname orch-vm
ip link set lo up
ulimit -n 65536

mkdir -p /opt/orch /results
mount -o ro /dev/vdb /opt/orch || say "mounting the payload disk (/dev/vdb) failed"
say "init started: kernel $(uname -r), $(nproc) cpus, $(stat -fc %T /sys/fs/cgroup) at /sys/fs/cgroup, $(stat -fc %T /sys/fs/bpf) at /sys/fs/bpf"

status=1
if [ -x /opt/orch/run ]; then
    RESULTS=/results /opt/orch/run
    status=$?
else
    say "/opt/orch/run is missing"
fi
echo "$status" > /results/exit-status
tar -C /results -cf /dev/vdc . || say "writing the results disk (/dev/vdc) failed"
sync
say "done status=$status"
echo o > /proc/sysrq-trigger
sleep 60
