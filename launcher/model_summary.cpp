#include "launcher/model_summary.h"

#include <cstdio>
#include <sstream>

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
  std::snprintf(buf, sizeof buf, "%4s  %-10s %-26s %-16s %12s %16s\n", a.c_str(), b.c_str(),
                c.c_str(), d.c_str(), e.c_str(), f.c_str());
  return buf;
}

std::string model_summary(const RunSetup& run) {
  const Model& m = *run.model;
  const Config& c = run.cfg;
  std::ostringstream o;
  o << "model: " << m.size() << " layers, input " << shape_str(m.input_shape()) << "\n";
  o << row("#", "layer", "details", "output", "parameters", "FLOPs/sample");
  int64_t flops = 0, stash = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    const Layer& l = m.layer(i);
    int64_t params = 0;
    for (const Param* p : const_cast<Layer&>(l).params()) params += p->value.numel();
    flops += l.flops_per_sample();
    stash += l.stash_bytes_per_sample();
    o << row(std::to_string(i), l.type(), l.describe(), shape_str(l.output_shape()),
             with_commas(params), with_commas(l.flops_per_sample()));
  }
  o << row("", "total", "", "", with_commas(m.parameter_count()), with_commas(flops));
  o << "training FLOPs per sample (forward + backward, about 3x forward): "
    << with_commas(3 * flops) << "\n";
  o << "activation memory per sample (kept for backward): " << with_commas(stash) << " bytes\n";
  o << "data: " << with_commas(run.train->size()) << " training samples"
    << (run.test ? ", " + with_commas(run.test->size()) + " test samples"
                 : std::string(", no test set"))
    << "; global batch " << c.batch_size << ", " << run.steps_per_epoch << " steps per epoch\n";
  o << "plan: " << run.total_steps << " steps, optimizer " << c.optimizer << " lr " << c.lr.base_lr
    << ", " << c.compute << " on " << c.device << ", " << c.data_parallel * c.pipeline
    << " rank(s): data " << c.data_parallel << " x pipeline " << c.pipeline << "\n";
  return o.str();
}

}  // namespace trainer
