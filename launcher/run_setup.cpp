#include "launcher/run_setup.h"

#include "core/allocator.h"
#include "core/checkpoint/weight_file.h"
#include "core/cpu/parallel.h"
#include "core/error.h"
#include "core/layers/embedding.h"
#include "core/layers/registry.h"
#include "launcher/config_section.h"
#include "launcher/device.h"
#include "launcher/plan_report.h"

namespace trainer {

static std::unique_ptr<Dataset> load_dataset(const Config& cfg, const YAML::Node& node,
                                             const std::string& path, Split split) {
  ConfigSection s(*cfg.source, node, path);
  const std::string type = s.choice("type", std::nullopt, dataset_types());
  try {
    std::unique_ptr<Dataset> d = make_dataset(type, s, split);
    s.finish();
    if (d->size() == 0) s.fail("type", "the data set is empty");
    return d;
  } catch (const DataError& e) {
    throw ConfigError(s.where() + ": " + path + ": " + e.what());
  }
}

LayerCost layer_cost(Layer& layer) {
  int64_t params = 0;
  for (const Param* p : layer.params()) params += p->value.numel();
  LayerCost cost{layer.type(), layer.describe(),         layer.output_shape(),
                 params,       layer.flops_per_sample(), layer.stash_bytes_per_sample()};
  cost.tensor_units = layer.tensor_units();
  cost.activation_bytes_per_sample = cost.stash_bytes_per_sample;
  cost.streamed_bytes_per_sample = layer.streamed_bytes_per_sample();
  cost.fused_bytes_per_sample = layer.fused_bytes_per_sample();
  return cost;
}

int64_t total_parameters(const RunSetup& run) {
  int64_t n = 0;
  for (const LayerCost& l : run.layers) n += l.params;
  return n;
}

// Layer i of the config, for inputs of `input` shape (per sample).
static std::unique_ptr<Layer> make_layer(const Config& cfg, int64_t i, const Shape& input,
                                         const InitContext& ctx) {
  ConfigSection s(*cfg.source, cfg.layers[i], "model.layers[" + std::to_string(i) + "]");
  const std::string type = s.choice("type", std::nullopt, layer_types());
  s.integer("repeat", 1, 1);  // expanded by the config reader
  try {
    std::unique_ptr<Layer> layer = (*find_layer_factory(type))(s, input, ctx);
    s.finish();
    return layer;
  } catch (const MemoryError& e) {  // its parameters do not fit: name the layer
    throw ConfigError(s.where() + ": " + s.path() + " (" + type + "): " + e.what());
  }
}

void add_layers(Model& model, const Config& cfg, int64_t first, int64_t end,
                const std::function<void(Layer&)>& before_add, bool shapes_only,
                const TensorSplit& tensor) {
  for (int64_t i = first; i < end; ++i) {
    InitContext ctx = model.next_init();
    ctx.shapes_only = shapes_only;
    ctx.tensor = tensor;
    std::unique_ptr<Layer> layer = make_layer(cfg, i, model.output_shape(), ctx);
    if (before_add) before_add(*layer);
    model.add(std::move(layer));
  }
}

std::unique_ptr<Model> build_model(const Config& cfg, const Shape& input, int64_t first,
                                   int64_t end, const std::function<void(Layer&)>& before_add,
                                   bool shapes_only, const TensorSplit& tensor) {
  if (end < 0) end = static_cast<int64_t>(cfg.layers.size());
  auto model = std::make_unique<Model>(input, cfg.seed, first);
  add_layers(*model, cfg, first, end, before_add, shapes_only, tensor);
  return model;
}

// A parameter of layer `owner` that layer `user` also uses (the head tied to the embedding).
struct Tie {
  int64_t owner, user;
  std::string param;
};

// The costs of every layer, and the ties between layers (a stage may hold one end of a tie
// only). Each layer is built alone with shapes and no storage, and dropped.
static std::vector<LayerCost> model_costs(const Config& cfg, const Shape& input,
                                          std::vector<Tie>& ties) {
  struct Earlier {
    int64_t layer;
    std::string name;
    int64_t numel;
  };
  std::vector<Earlier> earlier;  // every earlier layer's parameters
  std::vector<LayerCost> out;
  Shape shape = input;
  for (int64_t i = 0; i < static_cast<int64_t>(cfg.layers.size()); ++i) {
    InitContext costs_only{cfg.seed, i};
    costs_only.shapes_only = true;
    const std::unique_ptr<Layer> alone = make_layer(cfg, i, shape, costs_only);
    Layer& layer = *alone;
    out.push_back(layer_cost(layer));
    if (const std::string tied = layer.tied_param(); !tied.empty()) {
      const Earlier* owner = nullptr;  // the latest, as Model::add picks it
      for (const Earlier& e : earlier)
        if (Layer::names_tied(e.name, tied)) owner = &e;
      if (owner) {
        ties.push_back({owner->layer, i, owner->name});
        out.back().tied_owner = owner->layer;
        out.back().tied_params = owner->numel;
      }
    }
    for (const Param* p : layer.params()) earlier.push_back({i, p->name, p->value.numel()});
    shape = out.back().output;
  }
  return out;
}

// train.recompute: which transformer blocks keep only their input for backward: all (-1), or the
// first N of the model (its activation memory and its time in the cost table follow, so the
// pipeline partition balances with recompute counted).
static void mark_recomputed(int64_t blocks, const Shape& input, std::vector<LayerCost>& layers) {
  if (blocks == 0) return;
  int64_t marked = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerCost& l = layers[i];
    if (l.type != "transformer_block") continue;
    if (blocks > 0 && marked == blocks) break;
    ++marked;
    l.recomputed = true;
    l.stash_bytes_per_sample = 4 * shape_numel(i ? layers[i - 1].output : input);
  }
}

// Shapes and class counts must agree between the data, model.input and the model's output.
static void check_fits(const RunSetup& r) {
  const Config& c = r.cfg;
  const YAML::Node model_node = c.tree["model"];
  const Shape data_shape = r.train->sample_shape();
  if (c.input && *c.input != data_shape)
    throw ConfigError(c.where(model_node["input"]) + ": model.input: expected " +
                      shape_str(data_shape) + " (the shape of a data.train sample), got " +
                      shape_str(*c.input));
  if (r.test && r.test->sample_shape() != data_shape)
    throw ConfigError(c.where(c.test_data) + ": data.test: samples are " +
                      shape_str(r.test->sample_shape()) + ", data.train's are " +
                      shape_str(data_shape));
  const int64_t classes = std::max(r.train->num_classes(), r.test ? r.test->num_classes() : 0);
  // A row of `classes` logits per target: one per sample, or one per position of a sequence.
  Shape expected = r.train->target_shape();
  expected.push_back(classes);
  const Shape out = r.layers.back().output;
  if (out != expected) {
    const size_t last = c.layers.size() - 1;
    const bool tokens = r.train->input_dtype() == DType::I32;
    throw ConfigError(c.where(c.layers[last]) + ": model.layers[" + std::to_string(last) +
                      "]: the model outputs " + shape_str(out) + " per sample; the data has " +
                      std::to_string(classes) +
                      (tokens ? " tokens in its vocabulary" : " classes") +
                      ", so the last layer must output " + shape_str(expected));
  }
  if (c.batch_size > r.train->size())
    throw ConfigError(c.where(c.tree["data"]["batch_size"]) + ": data.batch_size: " +
                      std::to_string(c.batch_size) + " is larger than the training set (" +
                      std::to_string(r.train->size()) + " samples)");
}

// The head computes a logit for every row of the padded vocabulary, -inf past the real one
// (LmHead): the squared error against a one-hot target would be infinite there.
static void check_loss_of_padded_head(const Config& c) {
  if (c.loss != "mse") return;
  int64_t rows = 0;  // the latest embedding's, which a head ties itself to
  for (const YAML::Node& layer : c.layers) {
    const std::string type = layer["type"].as<std::string>("");
    const int64_t vocab = layer["vocab_size"].as<int64_t>(0);
    if (type == "embedding") rows = layer["padded_vocab_size"].as<int64_t>(vocab);
    if (type == "lm_head" && rows > vocab)
      throw ConfigError(c.where(c.tree["loss"]) +
                        ": loss: mse compares every logit with a one-hot target, and the head's "
                        "vocabulary padding (padded_vocab_size " +
                        std::to_string(rows) + " > vocab_size " + std::to_string(vocab) +
                        ") has logits of -inf; use cross_entropy");
  }
}

// Token data: the embedding that reads the tokens must have a row for every token the data can
// hold (checked where the embedding is built: this rank's stage, when it is the first).
static void check_vocabulary(const RunSetup& r) {
  if (r.train->input_dtype() != DType::I32 || r.model->size() == 0) return;
  const auto* embedding = dynamic_cast<const Embedding*>(&r.model->layer(0));
  if (!embedding || embedding->index() != 0) return;
  const int64_t vocab = std::max(r.train->num_classes(), r.test ? r.test->num_classes() : 0);
  if (embedding->vocab() < vocab) {
    const Config& c = r.cfg;
    throw ConfigError(c.where(c.layers[0]) + ": model.layers[0].vocab_size: " +
                      std::to_string(embedding->vocab()) + " is smaller than the data's " +
                      "vocabulary (data vocab_size " + std::to_string(vocab) + ")");
  }
}

// OpenBLAS maps a 128 MiB buffer per thread on first use, and spins forever when that fails.
constexpr double kBlasBufferBytes = 128.0 * (1 << 20);

// A run whose parameters, gradients, optimizer state and activations do not fit this rank's
// device is refused before they are allocated (the cost model's memory figure for the layout).
// On the CPU the BLAS buffers and the process's address-space limit (ulimit -v) count too.
static void check_memory(const RunSetup& r) {
  const Config& c = r.cfg;
  double needed = static_cast<double>(
      predict(r.layers, configured_layout(r), cluster_preset("cpu"), optimizer_state_bytes(c))
          .memory_bytes);
  double have = static_cast<double>(device_memory_bytes(c.device, c.gpu));
  std::string limit = "the " + c.device + " device has ";
  if (c.device == "cpu") {
    needed += kBlasBufferBytes * (cpu::threads() + 1);
    const double left = static_cast<double>(address_space_left());
    if (left < have) {
      have = left;
      limit = "under its ulimit -v this process may map only ";
    }
  }
  if (needed > have)
    throw ConfigError(c.where(c.tree["model"]) + ": model: the run needs " + human_bytes(needed) +
                      " per device for weights, gradients, optimizer state, activations "
                      "(data.batch_size " +
                      std::to_string(c.batch_size) + ") and BLAS buffers; " + limit +
                      human_bytes(have));
}

// The stage holding a layer: its piece's (pieces go round the stages, V times under interleaving).
static int stage_of(const RunSetup& r, int64_t layer) {
  int piece = 0;
  for (int64_t start : r.stage_starts) piece += start <= layer;
  return piece % static_cast<int>(r.cfg.pipeline);
}

// This rank's slices of split layers (parallel.tensor).
static TensorSplit tensor_split(const RunSetup& r) {
  return {r.tensor_rank, static_cast<int>(r.cfg.tensor), r.tensor_group.get(),
          r.cfg.sequence_parallel};
}

// A layer tied to a parameter of another stage's layer gets a copy of that parameter as the
// owner initialises it (the owner is built here alone for it, and dropped): this rank's slice.
static void give_tied_copies(const RunSetup& r, const Shape& input, const std::vector<Tie>& ties,
                             Layer& user) {
  for (const Tie& t : ties) {
    if (t.user != user.index() || stage_of(r, t.owner) == r.stage) continue;
    InitContext ctx{r.cfg.seed, t.owner};
    ctx.tensor = tensor_split(r);
    std::unique_ptr<Layer> owner =
        make_layer(r.cfg, t.owner, t.owner ? r.layers[t.owner - 1].output : input, ctx);
    for (const Param* p : owner->params())
      if (p->name == t.param)
        user.tie_to_copy(
            {p->name, p->value, Tensor::zeros(p->value.shape()), p->value, -1, p->split});
  }
}

// The layers tensor parallelism splits (or, for layer norms and dropout, replicates): any other
// would only repeat the same work on every rank of the group. A split layer's units (a block's
// heads, the embedding's rows) must divide evenly. Checked on the whole model's costs, before
// any layer is built split.
static void check_tensor_splits(const Config& c, const std::vector<LayerCost>& layers) {
  if (c.tensor == 1) return;
  const std::string ranks = " over parallel.tensor " + std::to_string(c.tensor) + " ranks";
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerCost& l = layers[i];
    const std::string at = "model.layers[" + std::to_string(i) + "]";
    if (l.type != "embedding" && l.type != "transformer_block" && l.type != "layer_norm" &&
        l.type != "lm_head" && l.type != "dropout")
      throw ConfigError(c.where(c.layers[i]) + ": " + at + ": a " + l.type +
                        " layer cannot be split" + ranks +
                        "; tensor parallelism splits embedding, transformer_block and lm_head "
                        "layers (use parallel.tensor: 1)");
    // A dropout mask is keyed by sample and position; sequence parallelism's rows are neither.
    if (c.sequence_parallel && l.type == "dropout")
      throw ConfigError(c.where(c.layers[i]) + ": " + at +
                        ": a dropout layer cannot run under parallel.sequence_parallel (its "
                        "rows are split between ranks); remove it or the option");
    if (c.sequence_parallel && l.type == "embedding" && l.output.at(0) % c.tensor != 0)
      throw ConfigError(c.where(c.tree["parallel"]["sequence_parallel"]) +
                        ": parallel.sequence_parallel: the sequence of " +
                        std::to_string(l.output.at(0)) + " positions does not split evenly" +
                        ranks);
    if (l.tensor_units % c.tensor == 0) continue;
    const bool block = l.type == "transformer_block";
    const char* key = block ? "heads" : "padded_vocab_size";
    const YAML::Node node = c.layers[i][key] ? c.layers[i][key] : c.layers[i];
    throw ConfigError(c.where(node) + ": " + at + "." + key + ": " +
                      std::to_string(l.tensor_units) + (block ? " heads" : " rows") +
                      " do not split evenly" + ranks +
                      (block ? "; use a tensor size that divides the heads"
                             : "; pad the vocabulary to a multiple of it"));
  }
}

// This stage's ends of ties that cross stages: the training step sums their gradients with the
// other end's. The owner's stage counts the parameter in the gradient norm.
static void find_shared_params(RunSetup& r, const std::vector<Tie>& ties) {
  for (const Tie& t : ties) {
    const int owner = stage_of(r, t.owner), user = stage_of(r, t.user);
    if (owner == user || (r.stage != owner && r.stage != user)) continue;
    for (Param* p : r.model->params())
      if (p->name == t.param)
        r.shared.push_back({p, r.stage == owner ? user : owner, r.stage == owner});
  }
}

std::vector<LayerCost> recomputed_costs(const RunSetup& run, bool recompute) {
  std::vector<LayerCost> layers = run.layers;
  for (LayerCost& l : layers) {
    l.recomputed = false;
    l.stash_bytes_per_sample = l.activation_bytes_per_sample;
  }
  if (recompute)
    mark_recomputed(-1, run.cfg.input ? *run.cfg.input : run.train->sample_shape(), layers);
  return layers;
}

DType compute_dtype(const std::string& precision) {
  return precision == "fp16" ? DType::F16 : precision == "bf16" ? DType::BF16 : DType::F32;
}

RunSetup build_run(Config cfg, int stage, BuildFor purpose, int data_rank, int tensor_rank) {
  const bool plan_only = purpose == BuildFor::Plan;
  RunSetup r;
  r.cfg = std::move(cfg);
  r.stage = stage;
  r.tensor_rank = tensor_rank;
  Config& c = r.cfg;
  if (c.tensor > 1 && !plan_only) r.tensor_group = std::make_shared<GroupCollectives>();
  r.train = load_dataset(c, c.train_data, "data.train", Split::Train);
  if (c.test_data.IsMap()) r.test = load_dataset(c, c.test_data, "data.test", Split::Test);
  const Shape input = c.input ? *c.input : r.train->sample_shape();
  r.steps_per_epoch = r.train->size() / c.batch_size;
  r.total_steps = c.max_steps > 0 ? c.max_steps : c.epochs * r.steps_per_epoch;
  c.lr.total_steps = r.total_steps;
  // A plan does not hold the model, which may be far larger than this machine (its layers are
  // built one at a time for their costs; the first alone is kept for the vocabulary check),
  // unless it must check the model against llm.c weights it starts from.
  const bool light_plan = plan_only && c.init_from.empty();
  // The costs are the whole model's (the cost model splits them over the tensor ranks), from
  // each layer built alone without storage: a run that cannot fit is refused before any of its
  // parameters are allocated (and initialised, which is when the kernel would kill the process).
  std::vector<Tie> ties;
  r.layers = model_costs(c, input, ties);
  check_tensor_splits(c, r.layers);
  mark_recomputed(c.recompute_blocks, input, r.layers);
  r.stage_starts = !c.partition.empty()
                       ? c.partition
                       : balanced_partition(r.layers, static_cast<int>(c.pipeline_pieces()));
  if (purpose == BuildFor::Training) check_memory(r);
  if (c.pipeline == 1 && !light_plan)
    r.model = build_model(c, input, 0, -1, nullptr, false, tensor_split(r));
  if (light_plan) {
    r.model = build_model(c, input, 0, 1, nullptr, /*shapes_only=*/true, tensor_split(r));
    check_fits(r);
    check_loss_of_padded_head(c);
    check_vocabulary(r);
    ConfigSection opt(*c.source, c.optimizer_node, "optimizer");
    make_optimizer(c.optimizer, opt, {});  // its keys are checked
    return r;
  }
  std::vector<bool> recompute;
  if (c.pipeline > 1) {
    // This stage's pieces (one, or every P-th under interleaving), each a chunk of its model.
    const std::vector<StageCost> pieces = stage_costs(r.layers, r.stage_starts);
    for (size_t k = static_cast<size_t>(stage); k < pieces.size();
         k += static_cast<size_t>(c.pipeline)) {
      const int64_t first = pieces[k].first;
      // Under sequence parallelism a stage's input is its rows of the residual stream.
      const Shape chunk_input =
          first ? tensor_split(r).rows_shape(r.layers[first - 1].output) : input;
      if (!r.model)
        r.model = std::make_unique<Model>(chunk_input, c.seed, first);
      else
        r.model->start_chunk(chunk_input, first);
      add_layers(
          *r.model, c, first, pieces[k].end,
          [&](Layer& layer) { give_tied_copies(r, input, ties, layer); }, false, tensor_split(r));
      for (int64_t i = first; i < pieces[k].end; ++i)
        recompute.push_back(r.layers[static_cast<size_t>(i)].recomputed);
    }
    find_shared_params(r, ties);
  } else {
    for (const LayerCost& l : r.layers) recompute.push_back(l.recomputed);
  }
  r.model->set_recompute(std::move(recompute));
  check_fits(r);
  check_loss_of_padded_head(c);
  check_vocabulary(r);
  if (!c.init_from.empty()) {
    // The file holds the whole model: a stage or a tensor slice maps it through the whole
    // model's parameters (names and shapes, without storage) and takes its part.
    std::unique_ptr<Model> whole_shapes;
    if (c.pipeline > 1 || c.tensor > 1)
      whole_shapes = build_model(c, input, 0, -1, nullptr, /*shapes_only=*/true);
    WeightTarget target(whole_shapes ? *whole_shapes : *r.model, *r.model);
    const std::string where = c.where(c.tree["model"]["init_from"]) + ": ";
    try {
      load_weight_file(c.init_from, target);
    } catch (const DataError& e) {
      throw ConfigError(where + "model.init_from: " + e.what());
    } catch (const ConfigError& e) {
      throw ConfigError(where + e.what());
    }
  }
  if (purpose == BuildFor::Training && c.cuda_graph) r.graph_recorder = cuda_graph_recorder();
  // Before the optimizer, whose state is made beside the parameters.
  r.model->to(select_device(c.device, c.gpu));
  r.model->set_compute_dtype(compute_dtype(c.compute));
  r.scaler = LossScaler(c.loss_scaler);
  ConfigSection opt(*c.source, c.optimizer_node, "optimizer");
  if (purpose == BuildFor::Weights) {
    r.model->release_grads();
    r.optimizer = make_optimizer(c.optimizer, opt, {});
    return r;
  }
  std::vector<Param*> updated = r.model->params();
  if (c.zero > 0 && c.data_parallel > 1) {
    r.zero = make_zero_shards(*r.model, static_cast<int>(c.zero), static_cast<int>(c.data_parallel),
                              data_rank);
    r.shard_params = shard_params(*r.model, r.zero);
    updated.clear();
    for (Param& p : r.shard_params) updated.push_back(&p);
  }
  r.optimizer = make_optimizer(c.optimizer, opt, std::move(updated));
  return r;
}

}  // namespace trainer
