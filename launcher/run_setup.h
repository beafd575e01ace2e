// Everything a run needs, built from a Config and checked before the first step: the data sets,
// the model (every layer's shape checked against the one before), the optimizer, the step count.
#pragma once

#include <memory>

#include "core/data/dataset.h"
#include "core/model.h"
#include "core/optim/loss_scaler.h"
#include "core/optim/optimizer.h"
#include "engine/train_step.h"
#include "launcher/config.h"
#include "parallel/partition.h"
#include "parallel/tensor_collectives.h"

namespace trainer {

struct RunSetup {
  Config cfg;
  std::unique_ptr<Dataset> train, test;  // test may be null
  std::vector<LayerCost> layers;         // the whole model's
  std::vector<int64_t> stage_starts;     // first layer of pipeline pieces 1..P V-1 (see Config)
  int stage = 0;                         // this rank's pipeline stage
  // parallel.tensor > 1: the collectives this rank's split layers call (bound to the grid's
  // tensor communicator when training starts), and its rank in that group.
  std::shared_ptr<GroupCollectives> tensor_group;
  int tensor_rank = 0;
  std::unique_ptr<Model> model;  // this stage's layers only
  std::unique_ptr<Optimizer> optimizer;
  std::vector<SharedParam> shared;  // parameters this stage shares with another stage
  // ZeRO (parallel.zero 1 or 2, data ranks > 1): the data ranks' split of this stage's flat
  // buffers, and the pieces of the parameters in this rank's range, which the optimizer updates.
  ZeroShards zero;
  std::vector<Param> shard_params;
  LossScaler scaler;  // precision.loss_scale; its state is checkpointed
  // train.cuda_graph: what records and replays the step (the GPU's stream capture; tests may put
  // a stand-in here). Null: every step runs eagerly.
  std::unique_ptr<GraphRecorder> graph_recorder;
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
};

// What a run is built for. Training: everything. Plan (--dry-run): the layers' costs and only
// the first layer, so it may be made for a model larger than this machine; no memory check.
// Weights (exporting, sampling): the model's weights alone, without gradients or optimizer state
// (an optimizer that updates nothing, its keys checked).
enum class BuildFor { Training, Plan, Weights };

// Builds pipeline stage `stage` (of cfg.pipeline): only its layers are kept. Throws ConfigError
// naming the key (a data file that cannot be read is reported at its key).
// `data_rank`: this rank's place on the data axis (its ZeRO shard); `tensor_rank` on the tensor
// axis (its slices of split layers).
RunSetup build_run(Config cfg, int stage = 0, BuildFor purpose = BuildFor::Training,
                   int data_rank = 0, int tensor_rank = 0);

// Layers [first, end) of the model (all of it by default); `input` is layer `first`'s input
// shape (per sample). Layers keep their global index: initial weights do not depend on the split.
// `before_add`, when given, sees each layer before the model takes it. `shapes_only`: the
// layers' weights have shapes and no storage (InitContext::shapes_only), for a plan.
// `tensor`: the slices of split layers this rank holds (the whole layers by default).
std::unique_ptr<Model> build_model(const Config& cfg, const Shape& input, int64_t first = 0,
                                   int64_t end = -1,
                                   const std::function<void(Layer&)>& before_add = nullptr,
                                   bool shapes_only = false, const TensorSplit& tensor = {});

// Appends layers [first, end) to `model` (its next chunk's, or its only one), as build_model.
void add_layers(Model& model, const Config& cfg, int64_t first, int64_t end,
                const std::function<void(Layer&)>& before_add = nullptr, bool shapes_only = false,
                const TensorSplit& tensor = {});

// precision.compute ("fp32", "fp16", "bf16") as a tensor dtype.
DType compute_dtype(const std::string& precision);

// The whole model's parameter count (every stage's).
int64_t total_parameters(const RunSetup& run);

// The whole model's costs with every transformer block recomputed (train.recompute: blocks), or
// with none, whatever the config asks.
std::vector<LayerCost> recomputed_costs(const RunSetup& run, bool recompute = true);

// What the plan knows of a built layer.
LayerCost layer_cost(Layer& layer);

}  // namespace trainer
