#include "launcher/model_summary.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "parallel/schedule.h"

namespace trainer {

std::string with_commas(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 ? "-" : "") + out;
}

static std::string row(const std::string& a, const std::string& b, const std::string& c,
                       const std::string& d, const std::string& e, const std::string& f) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%4s  %-17s %-30s %-14s %12s %16s\n", a.c_str(), b.c_str(),
                c.c_str(), d.c_str(), e.c_str(), f.c_str());
  return buf;
}

// The pipeline plan: each stage's layers, parameters, FLOPs and activation memory.
static std::string pipeline_plan(const RunSetup& run) {
  const Config& c = run.cfg;
  const std::vector<StageCost> pieces = stage_costs(run.layers, run.stage_starts);
  const int64_t rows = c.batch_size / c.data_parallel / c.grad_accum / c.microbatches;
  const ScheduleKind kind = schedule_kind(c.schedule);
  const int P = static_cast<int>(c.pipeline), M = static_cast<int>(c.microbatches),
            V = static_cast<int>(c.virtual_stages);
  std::ostringstream o;
  o << "pipeline: " << c.pipeline << " stages"
    << (V > 1 ? " of " + std::to_string(V) + " chunks" : std::string()) << " ("
    << (c.partition.empty() ? "balanced by estimated time" : "parallel.partition") << "), "
    << c.microbatches << " micro-batches of " << rows << " samples, schedule " << c.schedule
    << "\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%5s  %-8s %12s %16s %14s %18s\n", "stage", "layers", "parameters",
                "FLOPs/sample", "time share", "activations peak");
  o << buf;
  double total = 0.0;
  for (const LayerCost& l : run.layers) total += layer_time_estimate(l);
  for (int s = 0; s < P; ++s) {
    // The stage's pieces (every P-th under interleaving), summed.
    std::string layers;
    int64_t params = 0, flops = 0, stash = 0;
    double time = 0.0;
    for (size_t k = static_cast<size_t>(s); k < pieces.size(); k += static_cast<size_t>(P)) {
      const StageCost& st = pieces[k];
      for (int64_t i = st.first; i < st.end; ++i) time += layer_time_estimate(run.layers[i]);
      layers +=
          (layers.empty() ? "" : ",") + std::to_string(st.first) + "-" + std::to_string(st.end - 1);
      params += st.params;
      flops += st.flops_per_sample;
      stash += st.stash_bytes_per_sample;
    }
    // Micro-batches a stage holds at once, as its schedule promises.
    const double in_flight = peak_microbatches_held(kind, s, P, M, V);
    std::snprintf(
        buf, sizeof buf, "%5d  %-8s %12s %16s %13.1f%% %18s\n", s, layers.c_str(),
        with_commas(params).c_str(), with_commas(flops).c_str(), 100.0 * time / total,
        (with_commas(static_cast<int64_t>(in_flight * static_cast<double>(rows * stash))) + " B")
            .c_str());
    o << buf;
  }
  std::snprintf(buf, sizeof buf, "expected bubble %s: %.1f%% of each step (equal stages%s)\n",
                kind == ScheduleKind::Interleaved    ? "(P-1)/(VM+P-1)"
                : kind == ScheduleKind::ZeroBubbleH1 ? "(P-1)/(3M+P-1)"
                                                     : "(P-1)/(M+P-1)",
                100.0 * ideal_bubble(P, M, kind, V),
                kind == ScheduleKind::ZeroBubbleH1 ? "; F, B and W of equal cost" : "");
  o << buf;
  return o.str();
}

std::string model_summary(const RunSetup& run) {
  const Config& c = run.cfg;
  std::ostringstream o;
  o << "model: " << run.layers.size() << " layers, input "
    << shape_str(c.input ? *c.input : run.train->sample_shape()) << "\n";
  o << row("#", "layer", "details", "output", "parameters", "FLOPs/sample");
  int64_t flops = 0, stash = 0;
  for (size_t i = 0; i < run.layers.size(); ++i) {
    const LayerCost& l = run.layers[i];
    flops += l.flops_per_sample;
    stash += l.stash_bytes_per_sample;
    o << row(std::to_string(i), l.type, l.details, shape_str(l.output), with_commas(l.params),
             with_commas(l.flops_per_sample));
  }
  o << row("", "total", "", "", with_commas(total_parameters(run)), with_commas(flops));
  o << "training FLOPs per sample (forward + backward, about 3x forward): "
    << with_commas(3 * flops) << "\n";
  if (run.train->input_dtype() == DType::I32) {  // a language model: per token, as its papers
    const int64_t T = run.train->sample_shape().at(0);
    o << "training FLOPs per token: " << with_commas(3 * flops / T)
      << " (6 x parameters: " << with_commas(6 * total_parameters(run)) << ")\n";
  }
  o << "activation memory per sample (kept for backward): " << with_commas(stash) << " bytes\n";
  o << "data: " << with_commas(run.train->size()) << " training samples"
    << (run.test ? ", " + with_commas(run.test->size()) + " test samples"
                 : std::string(", no test set"))
    << "; global batch " << c.batch_size << ", " << run.steps_per_epoch << " steps per epoch\n";
  o << "plan: " << run.total_steps << " steps, optimizer " << c.optimizer << " lr " << c.lr.base_lr
    << ", " << c.compute << " on " << c.device << ", " << c.data_parallel * c.pipeline * c.tensor
    << " rank(s): data " << c.data_parallel << " x pipeline " << c.pipeline
    << (c.tensor > 1 ? " x tensor " + std::to_string(c.tensor) : std::string()) << "\n";
  if (c.pipeline > 1) o << pipeline_plan(run);
  return o.str();
}

}  // namespace trainer
