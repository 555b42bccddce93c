#!/usr/bin/env bash
# A one-node Slurm on this machine, for the tests (DESIGN.md section 8):
# munged (as user munge), slurmctld and slurmd on localhost, with a
# slurm.conf in a state directory. It installs nothing: Debian's slurm-wlm
# and munge must be there (make test installs them). Needs root (slurmd).
#
#   scripts/slurm-local.sh start DIR   write DIR/slurm.conf, start the daemons, wait for the node
#   scripts/slurm-local.sh env DIR     print the export line for SLURM_CONF
#   scripts/slurm-local.sh stop DIR    cancel its jobs, stop the daemons it started
#   scripts/slurm-local.sh run CMD…    start in a temporary DIR, run CMD with SLURM_CONF
#                                      set, stop afterwards whatever happens; CMD's status
set -euo pipefail

die() { echo "slurm-local: $*" >&2; exit 1; }

start() {
	local dir=$1 host cpus port
	[ "$(id -u)" = 0 ] || die "needs root (slurmd runs jobs as their users)"
	for c in munged slurmctld slurmd sinfo; do
		command -v "$c" >/dev/null || die "$c not found: install Debian's slurm-wlm and munge (make test does)"
	done
	mkdir -p "$dir"/state "$dir"/spool
	dir=$(cd "$dir" && pwd)
	host=$(hostname -s)
	cpus=$(nproc)
	# Ports of this cluster's own, so that two of them (or a system Slurm) can coexist.
	port=$((20000 + RANDOM % 20000))
	cat >"$dir/slurm.conf" <<EOF
ClusterName=taetlocal
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
	export SLURM_CONF=$dir/slurm.conf
	if ! pgrep -u munge -x munged >/dev/null; then
		if [ ! -s /etc/munge/munge.key ]; then
			mkdir -p /etc/munge
			dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
		fi
		chown munge:munge /etc/munge/munge.key
		chmod 400 /etc/munge/munge.key
		mkdir -p /run/munge /var/log/munge /var/lib/munge
		chown munge:munge /run/munge /var/log/munge /var/lib/munge
		runuser -u munge -- munged
		touch "$dir/munged.ours"
	fi
	slurmctld -c
	slurmd
	for _ in $(seq 60); do
		if [ "$(sinfo -h -o %T 2>/dev/null)" = idle ]; then
			echo "slurm-local: node $host ($cpus CPUs) up; SLURM_CONF=$SLURM_CONF" >&2
			return 0
		fi
		sleep 0.5
	done
	tail -5 "$dir"/slurmctld.log "$dir"/slurmd.log >&2 || true
	die "the node did not come up in 30 s (logs above, in $dir)"
}

stop() {
	local dir=$1 pid
	export SLURM_CONF=$dir/slurm.conf
	[ -f "$SLURM_CONF" ] && scancel --full --signal=KILL --partition=local 2>/dev/null || true
	for d in slurmd slurmctld; do
		if [ -f "$dir/$d.pid" ]; then
			pid=$(cat "$dir/$d.pid")
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
		fi
	done
	# munged is shared: another cluster of this script (its slurmctld still
	# running) keeps it, and stopping it would break that cluster's tests.
	if [ -f "$dir/munged.ours" ] && [ -f /run/munge/munged.pid ] && ! pgrep -x slurmctld >/dev/null; then
		kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
		rm -f "$dir/munged.ours"
	fi
}

case "${1:-}" in
start) start "${2:?start DIR}" ;;
stop) stop "${2:?stop DIR}" ;;
env) echo "export SLURM_CONF=$(cd "${2:?env DIR}" && pwd)/slurm.conf" ;;
run)
	shift
	[ $# -gt 0 ] || die "run CMD…"
	dir=$(mktemp -d /tmp/slurm-local.XXXXXX)
	trap 'stop "$dir"; rm -rf "$dir"' EXIT
	trap 'exit 130' INT TERM
	start "$dir"
	export SLURM_CONF=$dir/slurm.conf
	status=0
	"$@" || status=$?
	exit "$status"
	;;
*) die "usage: $0 start DIR | env DIR | stop DIR | run CMD…" ;;
esac
