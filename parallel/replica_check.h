// The data-parallel replicas must hold the same weights: a digest of every parameter is
// compared across the data group, at the start and every parallel.replica_check_steps.
#pragma once

#include <cstdint>
#include <stdexcept>

#include "core/model.h"
#include "parallel/communicator.h"

namespace trainer {

// The replicas disagree: the run cannot go on, since its numbers would be silently wrong.
class ReplicaMismatch : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// CRC-32 over the bytes of every parameter, in order.
uint32_t parameter_digest(Model& model);

// Throws ReplicaMismatch on every rank of `data` when any two digests differ, naming the ranks
// and the step.
void check_replicas(Communicator& data, Model& model, int64_t step);

}  // namespace trainer
