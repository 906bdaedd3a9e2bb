#include "sim/options.h"

namespace dkv::sim {

void Stats::add(const Stats& o) {
  seeds += o.seeds;
  steps += o.steps;
  ticks += o.ticks;
  messages += o.messages;
  leaders += o.leaders;
  committed += o.committed;
  writes_acked += o.writes_acked;
  reads_served += o.reads_served;
  crashes += o.crashes;
  torn_writes += o.torn_writes;
  partitions += o.partitions;
  dropped += o.dropped;
  duplicated += o.duplicated;
  conf_changes += o.conf_changes;
  transfers += o.transfers;
  snapshots_installed += o.snapshots_installed;
  pipelined += o.pipelined;
  compactions += o.compactions;
}

}  // namespace dkv::sim
