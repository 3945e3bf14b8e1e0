#!/usr/bin/env bash
# Install and start a single-node Slurm on this machine (Debian/Ubuntu, as root), for testing
# `scripts/sweep.sh --slurm --submit` for real. No systemd needed: the daemons are started by
# hand in the background. Idempotent: skips what is already installed, configured or running.
#
#   sudo scripts/slurm-local.sh      # then: sinfo; sbatch --wrap hostname
#
# Logs: /var/log/slurm/{slurmctld,slurmd}.log. Without slurmdbd there is no sacct; finished
# jobs show in `scontrol show job ID` for MinJobAge seconds and in /var/log/slurm/jobcomp.log.
# Stop: kill "$(cat /run/slurmd.pid)" "$(cat /run/slurmctld.pid)" "$(cat /run/munge/munged.pid)"
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "slurm-local.sh: run as root" >&2; exit 1; }

# 1. Packages (munge is the authentication daemon Slurm needs; its postinst makes the key).
if ! command -v slurmctld > /dev/null || ! command -v slurmd > /dev/null \
   || ! command -v munged > /dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge
fi
[ -s /etc/munge/munge.key ] || { mungekey --create; chown munge:munge /etc/munge/munge.key; }

# 2. Config: one node (this host, reached at 127.0.0.1 so that its name need not resolve), one
#    partition, everything as root, no cgroups, no accounting database. An existing slurm.conf
#    not written by this script is left alone.
conf=/etc/slurm/slurm.conf
marker="# written by scripts/slurm-local.sh"
if [ ! -f "$conf" ] || grep -qxF "$marker" "$conf"; then
  host="$(hostname)"
  # "NodeName=h CPUs=.. Boards=.. SocketsPerBoard=.. CoresPerSocket=.. ThreadsPerCore=..";
  # RealMemory is left out (a node that reports less than its configured memory is drained).
  node="$(slurmd -C | head -n1 | sed 's/ RealMemory=.*//')"
  mkdir -p /etc/slurm
  cat > "$conf" <<EOF
$marker
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
fi
mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm \
         /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge

# 3. Daemons, each started only if its pid file does not name a live process.
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2> /dev/null; }
running /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged
running /run/slurmctld.pid || /usr/sbin/slurmctld
running /run/slurmd.pid || /usr/sbin/slurmd

# 4. Wait (up to 30 s) for the node to be up.
for _ in $(seq 30); do
  if sinfo -h -o '%t' 2> /dev/null | grep -qE '^(idle|mix|alloc)'; then
    sinfo
    exit 0
  fi
  sleep 1
done
echo "slurm-local.sh: the node did not come up; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1
