#!/usr/bin/env bash
# Runs `pagemill-bench materialize` twice with the same flags: first
# unconstrained with today's default sizes (--memory-budget none: the Go
# heap limit ops.DefaultMemoryLimit, the default caches), then inside a
# memory cgroup of PAGEMILL_CGROUP_LIMIT (default 512M; the cgroup counts
# page cache as well as heap) with --memory-budget auto, so the run sizes
# its heap limit and caches from the cgroup's limit (ops.MemoryBudget).
# PAGEMILL_GOMEMLIMIT, when set, is passed to both runs as --memory-limit
# (an explicit heap limit wins over the budget's). Reports both
# throughputs, their ratio, the cgroup's peak, the sampled anonymous and
# file-backed peaks of the process and the cgroup's major faults; the
# cgroup's memory.stat is sampled every second into memstat.tsv. PostgreSQL
# (the reference) runs in a cgroup of its own without a limit. Linux,
# root, cgroup v1 or v2. PAGEMILL_UNCONSTRAINED_JSON names the report of
# an earlier unconstrained run to compare with instead of running it again.
#
#   sudo scripts/bench-memory-cgroup.sh --size-mb 500 --scale 10 --live-seconds 0
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${PAGEMILL_CGROUP_LIMIT:-512M}
gomem=()
[ -n "${PAGEMILL_GOMEMLIMIT:-}" ] && gomem=(--memory-limit "$PAGEMILL_GOMEMLIMIT")
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
if [ -n "${PAGEMILL_UNCONSTRAINED_JSON:-}" ]; then
	# A report of an earlier unconstrained run with the same flags (its
	# sizes do not depend on the budget's split): run only the cgroup's.
	echo "unconstrained run: $PAGEMILL_UNCONSTRAINED_JSON" >&2
	cp "$PAGEMILL_UNCONSTRAINED_JSON" "$out/unconstrained.json"
else
	echo "unconstrained run, default sizes ($out/unconstrained.json)" >&2
	"$out/pagemill-bench" materialize --memory-budget none "${gomem[@]}" --json "$@" > "$out/unconstrained.json"
fi
echo "run in a $limit memory cgroup, sizes from its limit ($out/cgroup.json)" >&2
[ $v = 1 ] && echo 0 > "$cg/memory.max_usage_in_bytes"
stat_of() { # the cgroup's memory.stat counters, in the order of the header
	awk -v keys="$1" 'BEGIN { n = split(keys, k, " ") } { v[$1] = $2 } END { for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? "\t" : ""), v[k[i]]; print "" }' "$cg/memory.stat"
}
if [ $v = 2 ]; then
	keys="anon file file_mapped file_dirty file_writeback pgmajfault workingset_refault_file"
else
	keys="rss cache mapped_file dirty writeback pgmajfault pgpgin"
fi
(echo $BASHPID > "$cg/cgroup.procs" && exec "$out/pagemill-bench" materialize --memory-budget auto "${gomem[@]}" --json "$@") > "$out/cgroup.json" &
pid=$!
(
	printf 'seconds\tmajflt\t%s\n' "$(tr ' ' '\t' <<< "$keys")"
	t0=$SECONDS
	while kill -0 $pid 2>/dev/null; do
		majflt=$(awk '{ print $12 }' /proc/$pid/stat 2>/dev/null || echo "")
		printf '%s\t%s\t%s\n' $((SECONDS - t0)) "$majflt" "$(stat_of "$keys")"
		sleep 1
	done
) > "$out/memstat.tsv" &
sampler=$!
wait $pid
wait $sampler || true
majfaults="$(stat_of pgmajfault) in the cgroup, $(tail -n 1 "$out/memstat.tsv" | cut -f 2) last sampled of the process"

if [ $v = 2 ]; then
	peak=$(cat "$cg/memory.peak" 2>/dev/null || echo "?")
	events=$(grep -E '^(oom|oom_kill) ' "$cg/memory.events" | tr '\n' ' ')
else
	peak=$(cat "$cg/memory.max_usage_in_bytes")
	events="failcnt $(cat "$cg/memory.failcnt")"
fi
events="$events; major faults $majfaults (memory.stat over time: $out/memstat.tsv)"
python3 - "$out/unconstrained.json" "$out/cgroup.json" "$peak" "$limit" "$events" <<'PY'
import json, sys
u, c = (json.load(open(p))["figures"] for p in sys.argv[1:3])
mu, mc = u["materialize_mb_per_s"], c["materialize_mb_per_s"]
print(f"unconstrained: {mu:.1f} MB/s (ratio to PostgreSQL {u['ratio_pagemill_postgres_mb_per_s']:.2f}); "
      f"in a {sys.argv[4]} cgroup: {mc:.1f} MB/s (ratio {c['ratio_pagemill_postgres_mb_per_s']:.2f}); cgroup/unconstrained {mc/mu:.2f}")
print(f"unconstrained: sampled peaks of the process: anonymous {u['anon_peak_mib']:.0f} MiB, file-backed {u['file_peak_mib']:.0f} MiB")
print(f"in the cgroup: peak {int(sys.argv[3]) / 2**20:.0f} MiB (heap + page cache); sampled peaks of the process: "
      f"anonymous {c['anon_peak_mib']:.0f} MiB, file-backed {c['file_peak_mib']:.0f} MiB; {sys.argv[5]}")
PY
