#include "core/checkpoint/weight_target.h"

#include <cmath>

#include "core/error.h"
#include "core/layers/tensor_split.h"

namespace trainer {

WeightTarget::WeightTarget(Model& whole, Model& mine) : whole_(whole), mine_(mine) {
  for (Param* p : mine.params()) mine_by_name_[p->name] = p;
}

void WeightTarget::set(const Param& p, const Tensor& value, const std::string& source) {
  const auto it = mine_by_name_.find(p.name);
  if (it == mine_by_name_.end()) return;
  const float* v = value.f32();
  for (int64_t i = 0; i < value.numel(); ++i)
    if (!std::isfinite(v[i]))
      throw DataError(source + ": " + p.name + " holds a non-finite value at element " +
                      std::to_string(i));
  Param& mine = *it->second;
  mine.value.copy_from(take_slice(value, mine.split));  // the whole value when not split
}

}  // namespace trainer
