#include "core/checkpoint/param_values.h"

#include <cmath>

#include "core/error.h"

namespace trainer {

void set_param_value(Param& p, const Tensor& host, const std::string& source) {
  const float* v = host.f32();
  for (int64_t i = 0; i < host.numel(); ++i)
    if (!std::isfinite(v[i]))
      throw DataError(source + ": " + p.name + " holds a non-finite value at element " +
                      std::to_string(i));
  p.value.copy_from(host);
}

}  // namespace trainer
