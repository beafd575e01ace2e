#include "launcher/plan_report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "launcher/model_summary.h"

namespace trainer {

Layout configured_layout(const RunSetup& run) {
  const Config& c = run.cfg;
  Layout l;
  l.data = static_cast<int>(c.data_parallel);
  l.pipeline = static_cast<int>(c.pipeline);
  l.tensor = static_cast<int>(c.tensor);
  l.sequence_parallel = c.sequence_parallel;
  l.microbatches = static_cast<int>(c.microbatches);
  l.grad_accum = static_cast<int>(c.grad_accum);
  l.global_batch = c.batch_size;
  l.schedule = schedule_kind(c.schedule);
  l.virtual_stages = static_cast<int>(c.virtual_stages);
  l.bucket_mb = c.bucket_mb;
  l.stage_starts = run.stage_starts;
  l.zero = static_cast<int>(c.zero);
  l.half_compute = c.compute != "fp32";
  l.recompute = c.recompute_blocks != 0;
  return l;
}

int64_t optimizer_state_bytes(const Config& cfg) {
  if (cfg.optimizer == "adam" || cfg.optimizer == "adamw") return 8;  // m and v
  return 4;  // SGD's momentum buffer (kept whether or not momentum is on)
}

static std::string ms(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g ms", seconds * 1e3);
  return buf;
}

static std::string mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

std::string prediction_text(const RunSetup& run, const Cluster& cluster) {
  const Prediction p =
      predict(run.layers, configured_layout(run), cluster, optimizer_state_bytes(run.cfg));
  std::ostringstream o;
  o << "predicted on " << cluster.name << " (" << cluster.description << "): step " << ms(p.step_s)
    << " = compute " << ms(p.compute_s) << " + pipeline bubble " << ms(p.bubble_s)
    << " + all-reduce " << ms(p.allreduce_s) << " + optimizer " << ms(p.optimizer_s)
    << " (transfers between stages " << ms(p.p2p_s)
    << (p.tensor_s > 0 ? ", tensor all-reduces " + ms(p.tensor_s) : std::string())
    << " inside compute and bubble); " << with_commas(static_cast<int64_t>(p.samples_per_s))
    << " samples/s; memory per rank " << mib(p.memory_bytes) << (p.fits ? "" : " (does not fit)")
    << " = weights " << mib(p.weight_bytes) << " + gradients " << mib(p.grad_bytes)
    << " + optimizer state " << mib(p.optimizer_bytes) << " + activations "
    << mib(p.activation_bytes) << "\n";
  return o.str();
}

// The layouts --search considers: no block recomputed, and every block recomputed.
static std::vector<std::pair<Layout, Prediction>> searched(const RunSetup& run,
                                                           const Cluster& cluster, int devices) {
  const std::vector<LayerCost> recomputed = recomputed_costs(run);
  const bool blocks = std::any_of(recomputed.begin(), recomputed.end(),
                                  [](const LayerCost& l) { return l.recomputed; });
  return search_layouts(recomputed_costs(run, false), devices, run.cfg.batch_size, cluster,
                        optimizer_state_bytes(run.cfg), run.cfg.compute != "fp32",
                        blocks ? &recomputed : nullptr);
}

// "1f1b", "zb-h1", "interleaved x2" (chunks per stage).
static std::string schedule_text(const Layout& l) {
  std::string out = schedule_name(l.schedule);
  if (l.virtual_stages > 1) out += " x" + std::to_string(l.virtual_stages);
  return out;
}

std::string search_text(const RunSetup& run, const Cluster& cluster, int devices, int rows) {
  const auto found = searched(run, cluster, devices);
  std::ostringstream o;
  o << "layouts of " << devices << " " << cluster.name << " devices for global batch "
    << run.cfg.batch_size << ", fastest first (cost model):\n";
  if (found.empty()) {
    o << "  none: the batch does not divide over " << devices << " ranks; raise data.batch_size\n";
    return o.str();
  }
  char buf[256];
  std::snprintf(buf, sizeof buf, "%6s %9s %7s %9s %6s %15s %5s %10s %12s %14s %12s %6s\n", "data",
                "pipeline", "tensor", "sequence", "micro", "schedule", "zero", "recompute", "step",
                "samples/s", "memory", "fits");
  o << buf;
  for (int i = 0; i < rows && i < static_cast<int>(found.size()); ++i) {
    const auto& [l, p] = found[static_cast<size_t>(i)];
    std::snprintf(buf, sizeof buf, "%6d %9d %7d %9s %6d %15s %5d %10s %12s %14s %12s %6s\n", l.data,
                  l.pipeline, l.tensor, l.sequence_parallel ? "split" : "-", l.microbatches,
                  l.pipeline == 1 ? "-" : schedule_text(l).c_str(), l.zero,
                  l.recompute ? "blocks" : "none", ms(p.step_s).c_str(),
                  with_commas(static_cast<int64_t>(p.samples_per_s)).c_str(),
                  mib(p.memory_bytes).c_str(), p.fits ? "yes" : "no");
    o << buf;
  }
  return o.str();
}

static nlohmann::json prediction_json(const Prediction& p) {
  return {{"step_s", p.step_s},
          {"compute_s", p.compute_s},
          {"bubble_s", p.bubble_s},
          {"p2p_s", p.p2p_s},
          {"allreduce_s", p.allreduce_s},
          {"tensor_s", p.tensor_s},
          {"optimizer_s", p.optimizer_s},
          {"samples_per_s", p.samples_per_s},
          {"memory_bytes", p.memory_bytes},
          {"weight_bytes", p.weight_bytes},
          {"grad_bytes", p.grad_bytes},
          {"optimizer_bytes", p.optimizer_bytes},
          {"activation_bytes", p.activation_bytes},
          {"fits", p.fits}};
}

nlohmann::json plan_json(const RunSetup& run, const Cluster& cluster, int devices) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerCost& l : run.layers)
    layers.push_back({{"type", l.type},
                      {"output", l.output},
                      {"params", l.params},
                      {"flops_per_sample", l.flops_per_sample},
                      {"stash_bytes_per_sample", l.stash_bytes_per_sample}});
  const Layout layout = configured_layout(run);
  const Prediction p = predict(run.layers, layout, cluster, optimizer_state_bytes(run.cfg));
  nlohmann::json out = {{"layers", layers},
                        {"stage_starts", run.stage_starts},
                        {"layout",
                         {{"data", layout.data},
                          {"pipeline", layout.pipeline},
                          {"tensor", layout.tensor},
                          {"sequence_parallel", layout.sequence_parallel},
                          {"microbatches", layout.microbatches},
                          {"grad_accum", layout.grad_accum},
                          {"global_batch", layout.global_batch},
                          {"zero", layout.zero},
                          {"schedule", run.cfg.schedule},
                          {"virtual_stages", layout.virtual_stages}}},
                        {"cluster", cluster.name},
                        {"prediction", prediction_json(p)}};
  if (devices > 0) {
    out["search"] = nlohmann::json::array();
    for (const auto& [l, found] : searched(run, cluster, devices))
      out["search"].push_back({{"data", l.data},
                               {"pipeline", l.pipeline},
                               {"tensor", l.tensor},
                               {"sequence_parallel", l.sequence_parallel},
                               {"microbatches", l.microbatches},
                               {"schedule", schedule_name(l.schedule)},
                               {"virtual_stages", l.virtual_stages},
                               {"zero", l.zero},
                               {"recompute", l.recompute},
                               {"prediction", prediction_json(found)}});
  }
  return out;
}

}  // namespace trainer
