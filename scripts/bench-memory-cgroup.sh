#!/usr/bin/env bash
# Runs `pagemill-bench materialize` twice with the same flags: without a
# memory limit, then inside a memory cgroup of PAGEMILL_CGROUP_LIMIT
# (default 512M; the cgroup counts page cache as well as heap), and
# reports both throughputs, their ratio, the cgroup's peak and its
# anonymous and file-backed memory. PostgreSQL (the reference) runs in a
# cgroup of its own without a limit. Linux, root, cgroup v1 or v2.
#
#   sudo scripts/bench-memory-cgroup.sh --size-mb 500 --scale 10 --live-seconds 0
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${PAGEMILL_CGROUP_LIMIT:-512M}
gomem=${PAGEMILL_GOMEMLIMIT:-384MiB}
out=${PAGEMILL_BENCH_OUT:-$(mktemp -d)}
[ "$(id -u)" = 0 ] || { echo "run as root (creates cgroups)" >&2; exit 1; }

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	v=2 root=/sys/fs/cgroup
	echo +memory > "$root/cgroup.subtree_control" 2>/dev/null || true
else
	v=1 root=/sys/fs/cgroup/memory
fi
cg=$root/pagemill-bench pg=$root/pagemill-bench-pg
mkdir -p "$cg" "$pg"
cleanup() { rmdir "$cg" "$pg" 2>/dev/null || true; }
trap cleanup EXIT
if [ $v = 2 ]; then echo "$limit" > "$cg/memory.max"; else echo "$limit" > "$cg/memory.limit_in_bytes"; fi
chown postgres "$pg/cgroup.procs"
[ $v = 1 ] && chown postgres "$pg/tasks"

go build -o "$out/pagemill-bench" ./cmd/pagemill-bench
export PAGEMILL_PG_CGROUP_PROCS=$pg/cgroup.procs
echo "unconstrained run ($out/unconstrained.json)" >&2
"$out/pagemill-bench" materialize --memory-limit "$gomem" --json "$@" > "$out/unconstrained.json"
echo "run in a $limit memory cgroup ($out/cgroup.json)" >&2
[ $v = 1 ] && echo 0 > "$cg/memory.max_usage_in_bytes"
(echo $BASHPID > "$cg/cgroup.procs" && exec "$out/pagemill-bench" materialize --memory-limit "$gomem" --json "$@") > "$out/cgroup.json"

if [ $v = 2 ]; then
	peak=$(cat "$cg/memory.peak" 2>/dev/null || echo "?")
	events=$(grep -E '^(oom|oom_kill) ' "$cg/memory.events" | tr '\n' ' ')
else
	peak=$(cat "$cg/memory.max_usage_in_bytes")
	events="failcnt $(cat "$cg/memory.failcnt")"
fi
python3 - "$out/unconstrained.json" "$out/cgroup.json" "$peak" "$limit" "$events" <<'PY'
import json, sys
u, c = (json.load(open(p))["figures"] for p in sys.argv[1:3])
mu, mc = u["materialize_mb_per_s"], c["materialize_mb_per_s"]
print(f"unconstrained: {mu:.1f} MB/s (ratio to PostgreSQL {u['ratio_pagemill_postgres_mb_per_s']:.2f}); "
      f"in a {sys.argv[4]} cgroup: {mc:.1f} MB/s (ratio {c['ratio_pagemill_postgres_mb_per_s']:.2f}); cgroup/unconstrained {mc/mu:.2f}")
print(f"in the cgroup: peak {int(sys.argv[3]) / 2**20:.0f} MiB (heap + page cache); sampled peaks of the process: "
      f"anonymous {c['anon_peak_mib']:.0f} MiB, file-backed {c['file_peak_mib']:.0f} MiB; {sys.argv[5]}")
PY
