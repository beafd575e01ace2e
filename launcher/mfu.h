// Model FLOPs utilisation of a language model's training: the model's FLOPs per token times the
// tokens per second, over the peak of all the job's devices. Model FLOPs are 3 x the forward's
// (backward twice the forward), from the layers' own costs: every GEMM, attention's over the
// full T x T square as PaLM counts them, elementwise layers by their elements; recompute's second
// forward is not counted (it is hardware FLOPs, not model FLOPs). The peak of a device is the
// vendor's dense figure for the compute precision on a GPU (FP32 without TF32 in fp32, as
// trainer multiplies), and on a CPU the SGEMM rate its threads get, measured when training
// starts (the rate trainer's kernels could reach, not a catalogue figure).
#pragma once

#include <string>

#include "launcher/run_setup.h"

namespace trainer {

struct MfuBasis {
  double flops_per_token = 0;  // model FLOPs of one training token
  double peak_flops = 0;       // all devices together; 0: unknown (no MFU reported)
  std::string peak_source;     // how the peak was found, said at start
  // 0 when the peak is unknown.
  double mfu(double tokens_per_s) const {
    return peak_flops > 0 ? flops_per_token * tokens_per_s / peak_flops : 0.0;
  }
};

// For `devices` ranks like this one (each a GPU, or a CPU rank of `cpu_threads` threads; the
// rate is measured here on a CPU, so every rank calls this at the same moment).
MfuBasis mfu_basis(const RunSetup& run, int devices, int cpu_threads);

// A GPU's dense peak FLOP/s in `dtype` from its name ("NVIDIA H100 80GB HBM3"), 0 for a GPU not
// in the table (A100, H100 SXM and PCIe, H200).
double gpu_dense_peak(const std::string& name, DType dtype);

}  // namespace trainer
