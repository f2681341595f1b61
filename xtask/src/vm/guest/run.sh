#!/bin/bash
# Runs the test executables named in /opt/orch/tests.list, one after the
# other, each bounded by /opt/orch/test-timeout seconds and given the
# arguments in /opt/orch/test-args (one a line), with the prebuilt
# binaries of /opt/orch/bin (ORCH_BIN_DIR: tests never call cargo here).
# Each one's output goes to the console and to $RESULTS/<name>.log, and a
# line per test to $RESULTS/status. Exits 0 when every test passed.
set -u
ORCH=/opt/orch
RESULTS=${RESULTS:-/results}
# ORCH_WORKSPACE: where a prebuilt `xtask run` finds examples/.
export ORCH_BIN_DIR=$ORCH/bin ORCH_WORKSPACE=$ORCH RUST_BACKTRACE=1
export PATH=$ORCH/bin:$PATH

# orch.time_scale=N on the kernel command line: the tests' own time limits
# are multiplied by N (ORCH_TEST_TIME_SCALE), for emulated CPUs.
for word in $(cat /proc/cmdline); do
    case "$word" in orch.time_scale=*) export ORCH_TEST_TIME_SCALE="${word#*=}" ;; esac
done
echo "orch-vm: tests' time scale ${ORCH_TEST_TIME_SCALE:-1}"
limit=$(cat "$ORCH/test-timeout")
args=()
if [ -s "$ORCH/test-args" ]; then
    mapfile -t args < "$ORCH/test-args"
fi
failed=0
while read -r name; do
    [ -n "$name" ] || continue
    echo "orch-vm: test $name started"
    work=$(mktemp -d /tmp/orch-test-XXXXXX)
    start=$(date +%s)
    (cd "$work" && exec timeout -k 15 "$limit" "$ORCH/tests/$name" "${args[@]}") 2>&1 |
        tee "$RESULTS/$name.log"
    code=${PIPESTATUS[0]}
    line="orch-vm: test $name status=$code seconds=$(($(date +%s) - start))"
    echo "$line"
    echo "$line" >> "$RESULTS/status"
    [ "$code" = 0 ] || failed=$((failed + 1))
done < "$ORCH/tests.list"
[ "$failed" = 0 ]
