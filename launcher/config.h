// The run's configuration: the YAML file plus --set overrides, every key typed and checked.
//
// Keys are the README's ("The config"). Layer, optimizer and data set sections are kept
// as YAML and read by their factories when the run is built (run_setup.h), through the same
// checked reader, so their errors name file:line and key too.
#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/optim/loss_scaler.h"
#include "core/optim/lr_schedule.h"
#include "core/tensor.h"
#include "launcher/config_source.h"

namespace trainer {

struct Config {
  std::shared_ptr<ConfigSource> source;
  YAML::Node tree;  // the resolved config: the file, overrides applied, defaults filled in

  // run
  std::string name;
  uint64_t seed = 42;
  std::string out_dir;
  int64_t threads = 0;  // BLAS threads per rank; 0 = the library's default
  // device: what the run trains on ("cpu" or "cuda"), resolved from the `device` key
  std::string device;
  int gpu = -1;             // cuda: this rank's GPU
  std::string device_note;  // said at start (ranks sharing a GPU)
  // data
  YAML::Node train_data, test_data;  // test_data is not a map when there is no test set
  int64_t batch_size = 128;          // global: over data-parallel ranks and accumulation steps
  bool shuffle = true;               // data.shuffle: a new training order every epoch
  // model
  std::optional<Shape> input;
  YAML::Node layers;      // model.layers, each `repeat:` expanded
  std::string init_from;  // model.init_from: llm.c GPT-2 weights to start from ("" = none)
  std::string loss;
  // optimizer (its own keys are read by the optimizer's factory)
  std::string optimizer;
  YAML::Node optimizer_node;
  LrSchedule lr;  // total_steps is set once the data set size is known
  // train
  int64_t epochs = 10, max_steps = 0, grad_accum = 1, eval_every_epochs = 1;
  double clip_grad_norm = 0.0;
  std::string on_nonfinite = "stop";  // a non-finite loss: stop the run, or skip the step
  // train.recompute: transformer blocks whose activations are made again in backward instead of
  // kept: 0 none (`none`), -1 all (`blocks`), N the first N of the model.
  int64_t recompute_blocks = 0;
  // train.cuda_graph: each step's forward and backward replayed as a CUDA graph (engine/
  // step_graph.h); one process on a GPU, no dropout.
  bool cuda_graph = false;
  // parallel
  int64_t data_parallel = 1;  // resolved: `auto` is every rank not taken by the pipeline
  int64_t replica_check_steps = 100;
  int64_t pipeline = 1, microbatches = 1;
  // parallel.tensor: ranks each layer's weights are split over (Megatron's layout), adjacent
  // ranks of one node.
  int64_t tensor = 1;
  // parallel.sequence_parallel: the tensor group also splits the activations between its
  // layers' split regions (layer norms, the residual stream) by rows.
  bool sequence_parallel = false;
  std::string schedule;        // parallel.schedule: gpipe, 1f1b, interleaved or zb-h1
  int64_t virtual_stages = 1;  // parallel.virtual_stages: chunks per stage (interleaved)
  bool lookahead = true;       // parallel.lookahead: receives posted ahead (off: for comparison)
  // The pieces the layers are cut into: one per stage, or V per stage under interleaving
  // (piece k on stage k mod P).
  int64_t pipeline_pieces() const { return pipeline * virtual_stages; }
  // parallel.partition: the first layer of pieces 1..pieces-1; empty = balanced automatically.
  std::vector<int64_t> partition;
  double bucket_mb = 25, timeout_s = 300;
  int64_t zero = 0;          // parallel.zero: 0, or 1 (optimizer state sharded over the data ranks)
  std::string communicator;  // data-parallel gradients: "mpi" or "nccl" once resolved
  // precision
  std::string compute;  // fp32, fp16 or bf16
  LossScalerConfig loss_scaler;
  // checkpoint
  int64_t checkpoint_every = 0, checkpoint_keep = 3;
  std::string checkpoint_dir;
  bool checkpoint_on_signal = true;  // SIGINT/SIGTERM: checkpoint at the next step, then exit
  // log
  int64_t log_every = 50;
  int64_t sample_tokens = 0;     // log.sample_tokens: printed after each evaluation (0: none)
  std::string sample_prompt;     // log.sample_prompt
  std::string sample_tokenizer;  // log.tokenizer: llm.c's tokenizer file ("" = bytes)
  bool trace = false;
  bool tensorboard = false;   // log.tensorboard: event files in <out_dir>/tb (rank 0)
  int64_t trace_steps = 200;  // a timeline holds the first so many steps of the run
  bool layer_times = false;   // log.layer_times: time per layer pass in summary.json

  // file:line (or --set) of a node of this config, for errors found after loading.
  std::string where(const YAML::Node& n) const { return source->where(n); }
};

// Reads, overrides and validates for a job of `world` ranks; 0 = as many as the layout asks for
// (parallel.data, or 1 when auto, x parallel.pipeline: a plan made outside mpirun). Throws
// ConfigError ("file:line: key: what was expected").
Config load_config(const std::string& path, const std::vector<std::string>& overrides,
                   int world = 1);

// Stable digest (CRC-32 of the emitted YAML) of a part of the resolved config.
std::string yaml_digest(const YAML::Node& node);

}  // namespace trainer
