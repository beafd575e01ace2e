#include "parallel/replica_check.h"

#include <zlib.h>

#include <string>
#include <vector>

namespace trainer {

uint32_t parameter_digest(Model& model) {
  model.wait_for_weights();
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const Param* p : model.params()) {
    // With its master values released (ZeRO in mixed precision), a rank holds its compute
    // copies whole: those are what the replicas must agree on.
    const Tensor host = (model.values_released() ? p->compute : p->value).to(Device::cpu());
    crc = crc32_z(crc, static_cast<const Bytef*>(host.raw()), host.bytes());
  }
  return static_cast<uint32_t>(crc);
}

void check_replicas(Communicator& data, Model& model, int64_t step) {
  if (data.size() == 1) return;
  const uint32_t mine = parameter_digest(model);
  std::vector<uint32_t> all(static_cast<size_t>(data.size()));
  data.all_gather(&mine, sizeof mine, all.data());
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      throw ReplicaMismatch("replica check at step " + std::to_string(step) +
                            ": data-parallel ranks 0 and " + std::to_string(r) +
                            " hold different weights; stopping, since the results would be wrong");
}

}  // namespace trainer
