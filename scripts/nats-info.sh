#!/usr/bin/env bash
# Shows an operator what a single-node `pagemill run --nats-listen ADDR`
# keeps in its embedded NATS JetStream, with the real nats CLI:
#
#   scripts/nats-info.sh DATA_DIR nats://127.0.0.1:4222 [USER]
#
# It builds the nats CLI from its Go module the first time (into
# ${PAGEMILL_TOOLS:-$HOME/.cache/pagemill/bin}), reads the password
# `pagemill run` generated into DATA_DIR/nats-operator.password, and runs
# `nats stream ls`, `nats stream info` and `nats consumer ls` for every
# stream, and `nats kv ls`.
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 DATA_DIR NATS_URL [USER]" >&2
	exit 2
fi
dir=$1 url=$2 user=${3:-operator}
NATSCLI_VERSION=v0.5.0
tools=${PAGEMILL_TOOLS:-$HOME/.cache/pagemill/bin}
if [ ! -x "$tools/nats" ]; then
	echo "nats-info.sh: building the nats CLI $NATSCLI_VERSION into $tools" >&2
	mkdir -p "$tools"
	GOBIN=$tools go install "github.com/nats-io/natscli/nats@$NATSCLI_VERSION"
fi
pw=$(cat "$dir/nats-operator.password")
nats() { "$tools/nats" --server "$url" --user "$user" --password "$pw" "$@"; }
streams=$(nats stream ls --names)
echo "== nats stream ls"
nats stream ls
for s in $streams; do
	echo "== nats stream info $s"
	nats stream info "$s"
	echo "== nats consumer ls $s"
	nats consumer ls "$s"
done
echo "== nats kv ls"
nats kv ls
