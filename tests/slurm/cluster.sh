#!/usr/bin/env bash
# A one-node SLURM cluster on localhost for the tests (tests/test_slurm_cluster.py), as root and without systemd:
# munged, slurmctld and slurmd with their configuration, state, logs and pid files all under DIR.
#   cluster.sh install        install Debian's slurm-wlm and munge with apt-get when missing (root only)
#   cluster.sh start DIR      write DIR/slurm.conf, start the daemons, wait (bounded) until the node is idle
#   cluster.sh stop DIR       cancel every job, stop the daemons started by `start DIR`
# Clients find the cluster through SLURM_CONF=DIR/slurm.conf. Accounting is off (no slurmdbd): jdvae follows its
# tasks with squeue and the result files submitit writes, never with sacct.
set -euo pipefail
cmd=${1:?install, start DIR or stop DIR}

if [ "$cmd" = install ]; then
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && exit 0
  [ "$(id -u)" = 0 ] || { echo "slurm-wlm and munge are missing and this is not root: cannot install them"; exit 1; }
  command -v apt-get >/dev/null || { echo "slurm-wlm and munge are missing and there is no apt-get"; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  exit 0
fi

dir=$(realpath -m "${2:?cluster folder}")
if [ "$cmd" = stop ]; then
  export SLURM_CONF=$dir/slurm.conf
  if [ -f "$SLURM_CONF" ] && [ -f "$dir/slurmctld.pid" ]; then
    scancel --quiet --user "$(id -un)" 2>/dev/null || true
    for _ in $(seq 60); do [ -z "$(squeue -h -u "$(id -un)" 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for daemon in slurmd slurmctld munged; do
    if [ -f "$dir/$daemon.pid" ]; then
      pid=$(cat "$dir/$daemon.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/$daemon.pid"
    fi
  done
  exit 0
fi

[ "$cmd" = start ] || { echo "unknown command $cmd"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "the test cluster's daemons run as root; this is not root"; exit 1; }
for program in munged slurmctld slurmd sbatch; do
  command -v $program >/dev/null || { echo "$program is missing: run \`make slurm\` (as root)"; exit 1; }
done
node=$(hostname -s)
cpus=${CLUSTER_CPUS:-8}  # more than the machine has (config_overrides): tasks that mostly wait still run side by side
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"
cat > "$dir/slurm.conf" <<CONF
ClusterName=jdvae-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=${CLUSTER_PORT:-6817}
SlurmdPort=$(( ${CLUSTER_PORT:-6817} + 1 ))
AuthType=auth/munge
# cred_expire: a requeued task may start again after 10 s (default 120)
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=600
SchedulerParameters=sched_interval=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
munged --force --socket "$dir/munge/munge.socket" --pid-file "$dir/munged.pid" \
  --log-file "$dir/munged.log" --seed-file "$dir/munge/seed" 2>>"$dir/munged.log"
export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF" -i 2>>"$dir/slurmctld.log"
slurmd -f "$SLURM_CONF" -N "$node" 2>>"$dir/slurmd.log"
for _ in $(seq 60); do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
  case $state in idle*|mixed*|allocated*) echo "SLURM_CONF=$SLURM_CONF"; exit 0;; esac
  sleep 0.5
done
echo "the test cluster did not come up within 30 s (node state '${state:-none}'); see $dir/*.log"
exit 1
