#include "launcher/mfu.h"

#include <cstdio>

#include "core/cpu/sgemm_rate.h"
#include "launcher/device.h"

namespace trainer {

double gpu_dense_peak(const std::string& name, DType dtype) {
  // Dense (no sparsity) peaks from NVIDIA's data sheets: {16-bit tensor core, FP32}.
  struct Peak {
    const char* part;
    double half, fp32;
  };
  static const Peak kPeaks[] = {
      {"H100 PCIe", 756e12, 51.2e12},
      {"H100", 989.4e12, 66.9e12},  // SXM
      {"H200", 989.4e12, 66.9e12},
      {"A100", 312e12, 19.5e12},
  };
  for (const Peak& p : kPeaks)
    if (name.find(p.part) != std::string::npos) return dtype == DType::F32 ? p.fp32 : p.half;
  return 0.0;
}

MfuBasis mfu_basis(const RunSetup& run, int devices, int cpu_threads) {
  MfuBasis b;
  double forward = 0;
  for (const LayerCost& l : run.layers) forward += static_cast<double>(l.flops_per_sample);
  b.flops_per_token = 3.0 * forward / static_cast<double>(shape_numel(run.train->target_shape()));
  char buf[200];
  if (run.model->device().kind == DeviceKind::CUDA) {
    const std::string name = gpu_name(run.cfg.gpu);
    const DType dtype = run.model->compute_dtype();
    const double peak = gpu_dense_peak(name, dtype);
    b.peak_flops = peak * devices;
    std::snprintf(buf, sizeof buf, "%d x %s's dense %s peak, %.1f TFLOP/s", devices, name.c_str(),
                  dtype == DType::F32 ? "FP32" : "16-bit tensor-core", peak / 1e12);
    b.peak_source = peak > 0 ? buf : "no MFU: no dense peak known for " + name;
    return b;
  }
  // 512 x 512 products: long enough for OpenBLAS to reach its rate, a few milliseconds in all.
  const double rate = cpu::measure_sgemm_flops(cpu_threads, 512, 5, 2);
  b.peak_flops = rate * devices;
  std::snprintf(buf, sizeof buf,
                "%d rank%s x %d-thread SGEMM, %.1f GFLOP/s per rank (measured at start)", devices,
                devices == 1 ? "" : "s", cpu_threads, rate / 1e9);
  b.peak_source = buf;
  return b;
}

}  // namespace trainer
