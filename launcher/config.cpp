#include "launcher/config.h"

#include <zlib.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/checkpoint/weight_file.h"
#include "core/data/dataset.h"
#include "core/error.h"
#include "core/file_access.h"
#include "core/layers/registry.h"
#include "core/optim/optimizer.h"
#include "launcher/config_section.h"
#include "launcher/device.h"
#include "launcher/yaml_guard.h"
#include "parallel/environment.h"
#include "parallel/schedule.h"

namespace trainer {

static YAML::Node parse_file(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw ConfigError(path + ": cannot read the config file: " + ec.message());
  if (!std::filesystem::exists(status)) throw ConfigError(path + ": config file not found");
  if (!std::filesystem::is_regular_file(status))
    throw ConfigError(path + ": the config must be a regular file, not a directory or device");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open the config file");
  std::ostringstream text;
  text << in.rdbuf();  // an empty file sets failbit here: reported as empty below
  check_yaml_aliases(text.str(), path);
  try {
    YAML::Node root = YAML::Load(text.str());
    if (!root || root.IsNull()) throw ConfigError(path + ": the config file is empty");
    return root;
  } catch (const YAML::Exception& e) {
    throw ConfigError(path + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
}

// A file a key names must be a regular file: named with its key before anything runs.
static void require_file(ConfigSection& s, const std::string& key, const std::string& path) {
  const std::string problem = regular_file_problem(path);
  if (!problem.empty()) s.fail(key, problem + ": " + path);
}

static void read_run(ConfigSection& root, Config& c) {
  ConfigSection s = root.section("run", false);
  c.name = s.text("name", std::string("run"));
  // The name becomes a directory (runs/<name>): letters, digits, '.', '_', '-' only.
  const bool plain = !c.name.empty() && c.name.size() <= 128 && c.name[0] != '.' &&
                     c.name.find_first_not_of(
                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789._-") == std::string::npos;
  if (!plain)
    s.fail("name",
           "expected letters, digits, '.', '_' and '-' (at most 128, not starting with "
           "'.'), got '" +
               c.name + "'");
  c.seed = static_cast<uint64_t>(s.integer("seed", 42, 0, INT64_MAX));
  c.out_dir = s.text("out_dir", "runs/" + c.name);
  c.threads = s.integer("threads", 0, 0);
  s.finish();
}

static void read_data_section(ConfigSection& data, const std::string& key, bool required,
                              YAML::Node& out) {
  if (!required && (!data.has(key) || data.raw(key).IsNull())) return;  // e.g. no test set
  ConfigSection s = data.section(key, required);
  s.choice("type", std::nullopt, dataset_types());
  out = data.raw(key);
  // Paths are checked here so a missing file is named with its key before anything runs.
  for (const char* file_key : {"images", "labels", "path"})
    if (s.has(file_key)) require_file(s, file_key, s.text(file_key, std::nullopt));
}

static void read_data(ConfigSection& root, Config& c) {
  ConfigSection s = root.section("data", true);
  read_data_section(s, "train", true, c.train_data);
  read_data_section(s, "test", false, c.test_data);
  c.batch_size = s.integer("batch_size", 128, 1);
  // false: the training set in file order every epoch (llm.c's loader without shuffling).
  c.shuffle = s.boolean("shuffle", true);
  s.finish();
}

// model.init_from: the GPT-2 file's sizes (llm.c's header, or the shapes and config.json of a
// transformers-named safetensors file) give those its entries leave out (vocabulary, padded
// vocabulary, channels, positions, heads, and the blocks' repeat), so a fine-tuning config names
// only the layers' types. Sizes the config does give must match the file (checked when the
// weights load). A file in trainer's names gives none: its config is the one it was trained with.
static void sizes_from_init_file(const Config& c, YAML::Node layers) {
  std::optional<Gpt2Sizes> stated;
  try {
    stated = weight_file_sizes(c.init_from);
  } catch (const DataError& e) {
    throw ConfigError(c.where(c.tree["model"]["init_from"]) + ": model.init_from: " + e.what());
  }
  if (!stated) return;
  const Gpt2Sizes& s = *stated;
  auto fill = [](YAML::Node entry, const char* key, int64_t value) {
    if (!entry[key] && value > 0) entry[key] = value;
  };
  for (YAML::Node entry : layers) {
    const std::string type = entry["type"] ? entry["type"].as<std::string>("") : "";
    if (type == "embedding") {
      fill(entry, "vocab_size", s.vocab);
      fill(entry, "padded_vocab_size", s.padded_vocab);
      fill(entry, "channels", s.channels);
      fill(entry, "max_positions", s.max_positions);
    } else if (type == "transformer_block") {
      fill(entry, "heads", s.heads);
      fill(entry, "repeat", s.layers);
    } else if (type == "lm_head") {
      fill(entry, "vocab_size", s.vocab);
    }
  }
}

static void read_model(ConfigSection& root, Config& c) {
  ConfigSection s = root.section("model", true);
  if (s.has("input"))
    c.input = s.integers("input", std::nullopt);
  else
    s.raw("input");
  if (c.input)
    for (int64_t d : *c.input)
      if (d < 1) s.fail("input", "every dimension must be at least 1, got " + shape_str(*c.input));
  // Weights to start from instead of the initialisation: a GPT-2 in llm.c's format, or
  // safetensors in transformers' GPT-2 names or trainer's own.
  // Read only when given, so configs without it keep their digest (and their checkpoints).
  if (s.has("init_from")) c.init_from = s.text("init_from", std::nullopt);
  if (!c.init_from.empty()) {
    // A directory as transformers writes one (from_pretrained's argument) stands for its
    // model.safetensors, or for the index of the files a larger model is sharded over.
    const std::filesystem::path dir(c.init_from);
    std::error_code ec;  // a path that cannot be examined is reported by require_file below
    if (std::filesystem::is_directory(dir, ec)) {
      const bool sharded = std::filesystem::exists(dir / "model.safetensors.index.json", ec) &&
                           !std::filesystem::exists(dir / "model.safetensors", ec);
      c.init_from =
          (dir / (sharded ? "model.safetensors.index.json" : "model.safetensors")).string();
    }
    require_file(s, "init_from", c.init_from);
  }
  const YAML::Node written = s.sequence("layers");
  if (!c.init_from.empty()) sizes_from_init_file(c, written);
  // An entry with `repeat: N` stands for N identical entries (a 12-layer GPT-2 is one
  // transformer_block entry); model.layers[i] in messages and pipeline cuts counts them expanded.
  c.layers = YAML::Node(YAML::NodeType::Sequence);
  // Each layer is read from its own node: a later use of one entry (an alias *L, or a repeat)
  // is a copy, so the defaults a layer writes back (in_features from its input) stay its own.
  std::vector<YAML::Node> used;
  auto own = [&](const YAML::Node& node) {
    for (const YAML::Node& u : used)
      if (u.is(node)) return YAML::Clone(node);
    used.push_back(node);
    return node;
  };
  for (size_t i = 0; i < written.size(); ++i) {
    const std::string path = "model.layers[" + std::to_string(c.layers.size()) + "]";
    ConfigSection layer(*c.source, written[i], path);
    layer.choice("type", std::nullopt, layer_types());
    const int64_t repeat = layer.integer("repeat", 1, 1);
    if (repeat > 100000) layer.fail("repeat", "at most 100000, got " + std::to_string(repeat));
    for (int64_t r = 0; r < repeat; ++r) c.layers.push_back(own(written[i]));
  }
  s.finish();
}

static void read_optimizer(ConfigSection& root, Config& c) {
  ConfigSection s = root.section("optimizer", false);
  c.optimizer = s.choice("type", std::string("adam"), optimizer_types());
  c.lr.base_lr = s.positive("lr", 1e-3);
  ConfigSection sched = s.section("schedule", false);
  const std::string kind =
      sched.choice("type", std::string("constant"), {"constant", "step", "cosine"});
  c.lr.kind = kind == "step"     ? LrSchedule::Kind::Step
              : kind == "cosine" ? LrSchedule::Kind::Cosine
                                 : LrSchedule::Kind::Constant;
  c.lr.warmup_steps = sched.integer("warmup_steps", 0, 0);
  c.lr.step_size = sched.integer("step_size", 1000, 1);
  c.lr.gamma = sched.positive("gamma", 0.1);
  c.lr.min_lr = sched.number("min_lr", 0.0, 0.0, 1e30);
  if (c.lr.min_lr > c.lr.base_lr) sched.fail("min_lr", "must not exceed optimizer.lr");
  sched.finish();
  // The optimizer's own keys are checked now by building it over no parameters.
  make_optimizer(c.optimizer, s, {});
  c.optimizer_node = root.raw("optimizer");
  s.finish();
}

static void read_train(ConfigSection& root, Config& c) {
  ConfigSection s = root.section("train", false);
  c.epochs = s.integer("epochs", 10, 1);
  c.max_steps = s.integer("max_steps", 0, 0);
  c.grad_accum = s.integer("grad_accum", 1, 1);
  c.clip_grad_norm = s.number("clip_grad_norm", 0.0, 0.0, 1e30);
  c.eval_every_epochs = s.integer("eval_every_epochs", 1, 0);
  c.on_nonfinite = s.choice("on_nonfinite", std::string("stop"), {"stop", "skip"});
  // Activation recompute: none, every transformer block, or the first N of the model.
  const YAML::Node recompute = s.raw("recompute");
  if (recompute && recompute.IsScalar() &&
      recompute.Scalar().find_first_not_of("0123456789") == std::string::npos)
    c.recompute_blocks = s.integer("recompute", 0, 0);
  else
    c.recompute_blocks =
        s.choice("recompute", std::string("none"), {"none", "blocks"}) == "blocks" ? -1 : 0;
  c.cuda_graph = s.boolean("cuda_graph", false);
  s.finish();
}

// A replayed graph repeats the captured step's work exactly: it needs a GPU, one process (no
// collectives inside the step), and no randomness drawn anew each step.
static void check_cuda_graph(const Config& c, int world) {
  if (!c.cuda_graph) return;
  const std::string at =
      c.source->where(c.tree["train"]["cuda_graph"], "train.cuda_graph") + ": train.cuda_graph: ";
  if (world > 1)
    throw ConfigError(at + "replays one process's step, and this job has " + std::to_string(world) +
                      " ranks; set it false");
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const YAML::Node layer = c.layers[i];
    const YAML::Node p = layer["p"];
    if (layer["type"].as<std::string>() == "dropout" && !(p && p.as<double>() == 0.0))
      throw ConfigError(c.where(layer) + ": model.layers[" + std::to_string(i) +
                        "] (dropout) draws a new mask each step, which a replayed graph would "
                        "repeat; remove it or set train.cuda_graph: false");
  }
  if (c.layer_times)
    throw ConfigError(at +
                      "a replayed step runs no layer's code, so log.layer_times would time "
                      "nothing; set one of them false");
  if (c.device != "cuda")
    throw ConfigError(at + "replays GPU work, and this run trains on the CPU; set it false");
}

static void read_parallel(ConfigSection& root, Config& c) {
  ConfigSection s = root.section("parallel", false);
  const YAML::Node data = s.raw("data");
  if (!data || data.IsNull() || (data.IsScalar() && data.Scalar() == "auto")) {
    s.raw("data") = "auto";
    c.data_parallel = 0;  // resolved by check_layout once the world is known
  } else {
    c.data_parallel = s.integer("data", std::nullopt, 1);
  }
  c.pipeline = s.integer("pipeline", 1, 1);
  c.tensor = s.integer("tensor", 1, 1);
  c.sequence_parallel = s.boolean("sequence_parallel", false);
  c.microbatches = s.integer("microbatches", 1, 1);
  c.schedule = s.choice("schedule", std::string("1f1b"), {"1f1b", "gpipe", "interleaved", "zb-h1"});
  c.virtual_stages = s.integer("virtual_stages", 1, 1, 64);
  c.lookahead = s.boolean("lookahead", true);
  const YAML::Node partition = s.raw("partition");
  if (!partition || partition.IsNull() || (partition.IsScalar() && partition.Scalar() == "auto"))
    s.raw("partition") = "auto";
  else
    c.partition = s.integers("partition", std::nullopt);
  c.bucket_mb = s.positive("bucket_mb", 25.0);
  // ZeRO: 1 shards the optimizer state over the data-parallel ranks, 2 the gradients too.
  c.zero = s.integer("zero", 0, 0, 2);
  c.timeout_s = s.positive("timeout_s", 300.0);
  // How data-parallel gradients travel: nccl (GPU, one per rank) or mpi; resolved with the device.
  c.communicator = s.choice("communicator", std::string("auto"), {"auto", "mpi", "nccl"});
  // Every so many steps the data-parallel replicas compare a digest of their weights; 0 = only
  // at the start.
  c.replica_check_steps = s.integer("replica_check_steps", 100, 0);
  s.finish();
}

static void read_precision(ConfigSection& root, Config& c) {
  ConfigSection s = root.section("precision", false);
  c.compute = s.choice("compute", std::string("fp32"), {"fp32", "fp16", "bf16"});
  // auto: dynamic for fp16, whose range needs it; none for fp32 and bf16 (float's range).
  const YAML::Node scale = s.raw("loss_scale");
  std::string kind = "auto";
  using Kind = LossScalerConfig::Kind;
  LossScalerConfig& sc = c.loss_scaler;
  if (!scale || scale.IsNull())
    s.raw("loss_scale") = kind;
  else if (scale.IsScalar() &&
           (scale.Scalar() == "auto" || scale.Scalar() == "dynamic" || scale.Scalar() == "none"))
    kind = scale.Scalar();
  else if (scale.IsScalar() && std::strtod(scale.Scalar().c_str(), nullptr) > 0.0)
    kind = "static";
  else
    s.fail("loss_scale", "expected auto, dynamic, none or a number > 0, got '" +
                             (scale.IsScalar() ? scale.Scalar() : std::string("a structure")) +
                             "'");
  if (kind == "auto") kind = c.compute == "fp16" ? "dynamic" : "none";
  sc.kind = kind == "dynamic" ? Kind::Dynamic : kind == "none" ? Kind::None : Kind::Static;
  sc.init_scale = sc.kind == Kind::Static ? s.positive("loss_scale", std::nullopt)
                                          : s.positive("init_scale", 65536.0);
  sc.growth_interval = s.integer("growth_interval", 2000, 1);
  sc.min_scale = s.positive("min_scale", 1.0);
  if (sc.kind == Kind::Dynamic && sc.init_scale < sc.min_scale)
    s.fail("init_scale", "expected at least min_scale (" + std::to_string(sc.min_scale) + ")");
  s.finish();
}

static void read_checkpoint(ConfigSection& root, Config& c) {
  ConfigSection s = root.section("checkpoint", false);
  c.checkpoint_every = s.integer("every_steps", 0, 0);
  c.checkpoint_keep = s.integer("keep", 3, 1);
  c.checkpoint_dir = s.text("dir", c.out_dir + "/checkpoints");
  c.checkpoint_on_signal = s.boolean("on_signal", true);
  s.finish();
}

static void read_log(ConfigSection& root, Config& c) {
  ConfigSection s = root.section("log", false);
  c.log_every = s.integer("every_steps", 50, 1);
  c.trace = s.boolean("trace", false);
  c.tensorboard = s.boolean("tensorboard", false);
  c.trace_steps = s.integer("trace_steps", 200, 1);
  c.layer_times = s.boolean("layer_times", false);
  // A language model's rank 0 prints a sample after each evaluation (0 tokens: none).
  c.sample_tokens = s.integer("sample_tokens", 0, 0);
  c.sample_prompt = s.text("sample_prompt", std::string("\n"));
  c.sample_tokenizer = s.text("tokenizer", std::string());
  if (!c.sample_tokenizer.empty()) require_file(s, "tokenizer", c.sample_tokenizer);
  s.finish();
}

// What each schedule needs of the layout (parallel/schedule.h), said with the key to change.
static void check_schedule(const Config& c) {
  const YAML::Node p = c.tree["parallel"];
  const std::string stages = std::to_string(c.pipeline), chunks = std::to_string(c.virtual_stages);
  switch (schedule_need(schedule_kind(c.schedule), c.virtual_stages, c.pipeline, c.microbatches,
                        static_cast<int64_t>(c.layers.size()), c.zero)) {
    case ScheduleNeed::Fits:
      return;
    case ScheduleNeed::InterleavedForChunks:
      throw ConfigError(c.where(p["virtual_stages"]) + ": parallel.virtual_stages: " + chunks +
                        " chunks per stage need parallel.schedule: interleaved");
    case ScheduleNeed::StagesAndChunks:
      throw ConfigError(c.where(p["schedule"]) +
                        ": parallel.schedule: interleaved needs parallel.pipeline >= 2 and "
                        "parallel.virtual_stages >= 2 (chunks per stage), has " +
                        stages + " and " + chunks);
    case ScheduleNeed::MicrobatchesInStageGroups:
      throw ConfigError(c.where(p["microbatches"]) +
                        ": parallel.microbatches: " + std::to_string(c.microbatches) +
                        " micro-batches; the interleaved schedule takes them in groups of the " +
                        stages + " stages: use a multiple of " + stages);
    case ScheduleNeed::LayerPerChunk:
      throw ConfigError(c.where(p["virtual_stages"]) + ": parallel.virtual_stages: " + stages +
                        " stages x " + chunks + " chunks for a model of " +
                        std::to_string(c.layers.size()) +
                        " layers; each chunk needs at least one layer");
    case ScheduleNeed::NoStageTwoZero:
      throw ConfigError(c.where(p["zero"]) +
                        ": parallel.zero: 2 reduces each micro-batch's gradients as its backward "
                        "ends, which the " +
                        c.schedule +
                        " schedule interleaves with other micro-batches'; use zero: 1 or "
                        "schedule: 1f1b");
  }
}

// The layout must fit the ranks the job was started with, checked before any communication.
static void check_layout(Config& c, int64_t world) {
  const YAML::Node p = c.tree["parallel"];
  if (c.sequence_parallel && c.tensor == 1)
    throw ConfigError(c.where(p["sequence_parallel"]) +
                      ": parallel.sequence_parallel: splits the activations of a tensor group; "
                      "it needs parallel.tensor > 1");
  const int64_t split = c.pipeline * c.tensor;  // the ranks of one data-parallel replica
  if (world == 0) world = std::max<int64_t>(c.data_parallel, 1) * split;
  if (world % split != 0)
    throw ConfigError(c.where(p[c.tensor > 1 ? "tensor" : "pipeline"]) + ": parallel." +
                      (c.tensor > 1 ? "tensor x pipeline: " + std::to_string(c.tensor) + " x "
                                    : std::string("pipeline: ")) +
                      std::to_string(c.pipeline) + (c.tensor > 1 ? " ranks" : " stages") +
                      " do not divide the job's " + std::to_string(world) + " rank(s)");
  const int64_t layers = static_cast<int64_t>(c.layers.size());
  if (c.pipeline > layers)
    throw ConfigError(c.where(p["pipeline"]) + ": parallel.pipeline: " +
                      std::to_string(c.pipeline) + " stages for a model of " +
                      std::to_string(layers) + " layers; each stage needs at least one layer");
  if (c.pipeline > 1 && c.microbatches < c.pipeline)
    throw ConfigError(c.where(p["microbatches"]) +
                      ": parallel.microbatches: " + std::to_string(c.microbatches) +
                      " micro-batches for " + std::to_string(c.pipeline) +
                      " stages: every stage would idle most of the step; use at least " +
                      std::to_string(c.pipeline) + " (4 x the stages keeps the bubble near 20%)");
  check_schedule(c);
  const int64_t pieces = c.pipeline_pieces();
  if (!c.partition.empty()) {
    std::string problem;
    if (static_cast<int64_t>(c.partition.size()) != pieces - 1)
      problem = "expected " + std::to_string(pieces - 1) + " layer indices (where " +
                (pieces > c.pipeline ? "pieces" : "stages") + " 1.." + std::to_string(pieces - 1) +
                " begin)";
    for (size_t i = 0; problem.empty() && i < c.partition.size(); ++i)
      if (c.partition[i] <= (i ? c.partition[i - 1] : 0) || c.partition[i] >= layers)
        problem = "expected increasing layer indices between 1 and " + std::to_string(layers - 1) +
                  ", each stage with at least one layer";
    if (!problem.empty())
      throw ConfigError(c.where(p["partition"]) + ": parallel.partition: " + problem + ", or auto");
  }
  if (c.data_parallel > 0 && c.data_parallel * split != world)
    throw ConfigError(c.where(p["data"]) + ": parallel.data: " + std::to_string(c.data_parallel) +
                      " data-parallel x " + std::to_string(c.pipeline) + " pipeline" +
                      (c.tensor > 1 ? " x " + std::to_string(c.tensor) + " tensor" : "") +
                      " ranks need " + std::to_string(c.data_parallel * split) +
                      " ranks, the job has " + std::to_string(world) + "; use auto");
  if (c.data_parallel == 0) c.data_parallel = world / split;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides, int world) {
  Config c;
  c.source = std::make_shared<ConfigSource>(path);
  c.tree = parse_file(path);
  if (!c.tree.IsMap())
    throw ConfigError(path + ": expected a mapping of sections (run, data, model, ...) at the top");
  check_duplicate_keys(*c.source, c.tree, "");
  for (const std::string& o : overrides) c.source->apply_override(c.tree, o);

  ConfigSection root(*c.source, c.tree, "");
  read_run(root, c);
  const std::string device = root.choice("device", std::string("auto"), {"auto", "cpu", "cuda"});
  read_data(root, c);
  read_model(root, c);
  c.loss = root.choice("loss", std::string("cross_entropy"), {"cross_entropy", "mse"});
  read_optimizer(root, c);
  read_train(root, c);
  read_parallel(root, c);
  const Environment env = discover_environment();
  const DeviceChoice chosen =
      choose_device(device, c.communicator, visible_gpus(), env.local_world, env.local_rank,
                    c.where(c.tree["device"]), c.where(c.tree["parallel"]["communicator"]));
  c.device = chosen.device;
  c.gpu = chosen.gpu;
  c.communicator = chosen.communicator;
  c.device_note = chosen.note;
  read_precision(root, c);
  read_checkpoint(root, c);
  read_log(root, c);
  root.finish();

  check_layout(c, world);
  check_cuda_graph(c, world);
  const int64_t splits = c.data_parallel * c.grad_accum * c.microbatches;
  if (c.batch_size % splits != 0)
    throw ConfigError(c.where(c.tree["data"]["batch_size"]) +
                      ": data.batch_size: " + std::to_string(c.batch_size) +
                      " is not divisible by data-parallel ranks x train.grad_accum x "
                      "parallel.microbatches = " +
                      std::to_string(c.data_parallel) + " x " + std::to_string(c.grad_accum) +
                      " x " + std::to_string(c.microbatches));
  return c;
}

std::string yaml_digest(const YAML::Node& node) {
  YAML::Emitter out;
  out << node;
  const uLong crc =
      crc32(0L, reinterpret_cast<const Bytef*>(out.c_str()), static_cast<uInt>(out.size()));
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08lx", static_cast<unsigned long>(crc));
  return buf;
}

}  // namespace trainer
