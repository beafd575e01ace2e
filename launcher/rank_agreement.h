// Every rank of a job must run the same config on the same data: ranks started with different
// files (`mpirun -np 1 trainer a.yaml : -np 1 trainer b.yaml`, or a data file that differs
// between nodes) would otherwise train silently apart or in lockstep on the wrong thing.
#pragma once

#include "launcher/config.h"
#include "parallel/communicator.h"

namespace trainer {

// Collective. Each rank describes its resolved config (every key and value) and its data files
// (size and CRC-32 of the first 4 KiB of each); the descriptions are all-gathered and compared.
// Throws ConfigError on every rank alike, naming the first rank that differs from rank 0 and
// the first key (or file) that differs.
void check_ranks_agree(Communicator& world, const Config& cfg);

}  // namespace trainer
