#include "parallel/partition.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace trainer {

double layer_time_estimate(const LayerCost& layer) {
  const double elements = static_cast<double>(shape_numel(layer.output));
  return (layer.recomputed ? 4.0 : 3.0) * static_cast<double>(layer.flops_per_sample) +
         4.0 * elements;
}

std::vector<int64_t> balanced_partition(const std::vector<LayerCost>& layers, int stages) {
  const int n = static_cast<int>(layers.size());
  if (stages < 1 || stages > n)
    throw std::invalid_argument("balanced_partition: " + std::to_string(stages) + " stages for " +
                                std::to_string(n) + " layers");
  std::vector<double> prefix(n + 1, 0.0);
  for (int i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + layer_time_estimate(layers[i]);
  const double inf = std::numeric_limits<double>::infinity();
  // best[k][i]: the slowest stage when layers [0, i) form k stages; cut[k][i]: where the last
  // of them begins.
  std::vector<std::vector<double>> best(stages + 1, std::vector<double>(n + 1, inf));
  std::vector<std::vector<int>> cut(stages + 1, std::vector<int>(n + 1, 0));
  best[0][0] = 0.0;
  for (int k = 1; k <= stages; ++k)
    for (int i = k; i <= n; ++i)
      for (int j = k - 1; j < i; ++j) {
        const double slowest = std::max(best[k - 1][j], prefix[i] - prefix[j]);
        if (slowest < best[k][i]) {
          best[k][i] = slowest;
          cut[k][i] = j;
        }
      }
  std::vector<int64_t> starts(stages - 1);
  for (int k = stages, i = n; k > 1; --k) {
    i = cut[k][i];
    starts[k - 2] = i;
  }
  return starts;
}

std::vector<StageCost> stage_costs(const std::vector<LayerCost>& layers,
                                   const std::vector<int64_t>& starts) {
  std::vector<StageCost> out;
  for (size_t s = 0; s <= starts.size(); ++s) {
    StageCost c;
    c.first = s ? starts[s - 1] : 0;
    c.end = s < starts.size() ? starts[s] : static_cast<int64_t>(layers.size());
    auto here = [&](int64_t layer) { return layer >= c.first && layer < c.end; };
    for (size_t i = 0; i < layers.size(); ++i)  // either end of a tie here
      if (layers[i].tied_owner >= 0 && (here(layers[i].tied_owner) || here(i)))
        c.shared_params += layers[i].tied_params;
    for (int64_t i = c.first; i < c.end; ++i) {
      c.params += layers[i].params;
      const int64_t owner = layers[i].tied_owner;
      if (owner >= 0 && !here(owner)) c.params += layers[i].tied_params;
      c.flops_per_sample += layers[i].flops_per_sample;
      c.stash_bytes_per_sample += layers[i].stash_bytes_per_sample;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace trainer
