#include "launcher/checkpointing.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>

#include "core/error.h"

namespace trainer {

// Which of a layout's slices a file holds: a pipeline stage, a tensor rank's slices of it.
struct Slice {
  int64_t pipeline, stage, tensor, tensor_rank;
};
static Slice slice_of(const RunSetup& run) {
  return {run.cfg.pipeline, run.stage, run.cfg.tensor, run.tensor_rank};
}

// One file per pipeline stage and tensor rank: model.bin and optimizer.bin, or with stages
// model-stage<s>.bin, with tensor ranks model[-stage<s>]-tensor<t>.bin (and the same for
// optimizer).
static std::string shard_file(const char* what, const Slice& s) {
  return what + (s.pipeline > 1 ? "-stage" + std::to_string(s.stage) : "") +
         (s.tensor > 1 ? "-tensor" + std::to_string(s.tensor_rank) : "") + ".bin";
}

// Under ZeRO, one optimizer file per stage, tensor rank and data rank:
// optimizer[-stage<s>][-tensor<t>]-shard<d>.bin, holding each kind of flat state over that
// rank's range (see the note on flat optimizer state).
static std::string zero_shard_file(const Slice& s, int64_t shard) {
  const std::string file = shard_file("optimizer", s);
  return file.substr(0, file.size() - 4) + "-shard" + std::to_string(shard) + ".bin";
}

static TensorGroup model_group(RunSetup& run) {
  TensorGroup model{shard_file("model", slice_of(run)), {}};
  for (Param* p : run.model->params()) model.tensors.emplace_back(p->name, &p->value);
  return model;
}

// The optimizer state of the whole stage, by parameter ("<param>.exp_avg"), as a run without
// ZeRO holds and writes it.
static TensorGroup optimizer_group(RunSetup& run) {
  return {shard_file("optimizer", slice_of(run)), run.optimizer->state()};
}

// A tensor this rank holds a slice of, under the name files store it by.
struct SlicedTensor {
  std::string name;
  Tensor target;  // this rank's slice (a view to load into)
  ParamSplit split;
};

// Writer w's slices of each of `mine`, given the splits and shapes they have there.
using ReadSlices = std::function<std::vector<Tensor>(int64_t w, const std::vector<Shape>& shapes)>;

// Each of `mine` put together whole from the slices of the `written` tensor ranks that wrote it
// (their places are known from the split), and this rank's slice cut from it into its target.
static void reslice(const std::vector<SlicedTensor>& mine, int64_t written,
                    const ReadSlices& read) {
  std::vector<Tensor> whole;
  whole.reserve(mine.size());
  for (const SlicedTensor& t : mine)
    whole.push_back(Tensor::empty(full_shape(t.target.shape(), t.split)));
  for (int64_t w = 0; w < written; ++w) {
    std::vector<ParamSplit> theirs;
    std::vector<Shape> shapes;
    for (size_t i = 0; i < mine.size(); ++i) {
      theirs.push_back(mine[i].split.as(static_cast<int>(written), static_cast<int>(w)));
      shapes.push_back(slice_shape(whole[i].shape(), theirs.back()));
    }
    const std::vector<Tensor> parts = read(w, shapes);
    for (size_t i = 0; i < mine.size(); ++i) put_slice(whole[i], parts[i], theirs[i]);
  }
  for (size_t i = 0; i < mine.size(); ++i) {
    Tensor target = mine[i].target;
    target.copy_from(take_slice(whole[i], mine[i].split));
  }
}

// Loads `mine` from this stage's `what` files ("model", "optimizer" by parameter) of a
// checkpoint written by `written` tensor ranks: under the same tensor size each rank reads its
// own file; under another, every written file, resliced.
static void load_sliced(const std::string& dir, const RunSetup& run, const char* what,
                        const std::vector<SlicedTensor>& mine, int64_t written) {
  auto read = [&](int64_t w, const std::vector<Shape>& shapes) {
    std::vector<Tensor> parts;
    parts.reserve(mine.size());
    TensorGroup g{shard_file(what, {run.cfg.pipeline, run.stage, written, w}), {}};
    for (size_t i = 0; i < mine.size(); ++i) {
      parts.push_back(written == run.cfg.tensor ? mine[i].target : Tensor::empty(shapes[i]));
      g.tensors.emplace_back(mine[i].name, &parts.back());
    }
    load_checkpoint_tensors(dir, {g});
    return parts;
  };
  if (written == run.cfg.tensor) return (void)read(run.tensor_rank, {});
  reslice(mine, written, read);
}

// Copies the elements of flat range [src_begin, src_begin + src.numel()) that lie in
// [dst_begin, dst_begin + dst.numel()) into dst.
static void copy_overlap(const Tensor& src, int64_t src_begin, Tensor& dst, int64_t dst_begin) {
  const FlatRange in =
      overlap({src_begin, src_begin + src.numel()}, {dst_begin, dst_begin + dst.numel()});
  if (!in.empty())
    dst.view(in.begin - dst_begin, {in.size()})
        .copy_from(src.view(in.begin - src_begin, {in.size()}));
}

// The range of the flat buffer the optimizer's state covers.
static FlatRange covered(const Optimizer& opt) {
  const int64_t n = opt.flat_state().empty() ? 0 : opt.flat_state()[0].second.numel();
  return {opt.flat_begin(), opt.flat_begin() + n};
}

// A group of the tensors in `holder` (one per kind of state, in the optimizer's order), named by
// kind.
static TensorGroup kinds_group(const std::string& file, const Optimizer& opt,
                               std::vector<Tensor>& holder) {
  TensorGroup g{file, {}};
  for (size_t k = 0; k < holder.size(); ++k)
    g.tensors.emplace_back(opt.flat_state()[k].first, &holder[k]);
  return g;
}

// Zeroed flat state tensors over `range`, one per kind the optimizer keeps, in `holder`.
static TensorGroup range_group(const std::string& file, const Optimizer& opt, FlatRange range,
                               std::vector<Tensor>& holder) {
  holder.clear();
  for (const auto& [kind, flat] : opt.flat_state())
    holder.push_back(
        Tensor::zeros({std::max<int64_t>(range.size(), 1)}, DType::F32, flat.device()));
  return kinds_group(file, opt, holder);
}

// This ZeRO rank's shard file: its state over its whole range (alignment gaps as zeros). The
// optimizer's buffers are written as they are when they cover exactly that range (the usual
// case); a copy is made only when the range starts or ends in an alignment gap.
static TensorGroup zero_shard_group(RunSetup& run, int data_rank, std::vector<Tensor>& holder) {
  const FlatRange range = run.zero.ranges.at(data_rank);
  const std::string file = zero_shard_file(slice_of(run), data_rank);
  const Optimizer& opt = *run.optimizer;
  const FlatRange have = covered(opt);
  if (!opt.flat_state().empty() && have.begin == range.begin && have.end == range.end) {
    holder.clear();
    for (const auto& [kind, flat] : opt.flat_state()) holder.push_back(flat);
    return kinds_group(file, opt, holder);
  }
  TensorGroup g = range_group(file, opt, range, holder);
  for (size_t k = 0; k < holder.size(); ++k)
    copy_overlap(opt.flat_state()[k].second, opt.flat_begin(), holder[k], range.begin);
  return g;
}

// Writer w's slices (`shapes`) of `state` from the ZeRO shards of a checkpoint written by
// `written` tensor ranks: writer w's flat buffer holds the same parameters in the same order as
// this rank's, each at its slice's size, so its offsets follow (Model::flat_offsets); its whole
// flat state is read from its shards.
static std::vector<Tensor> shard_slices(const std::string& dir, RunSetup& run,
                                        int64_t shards_written, int64_t written, int64_t w,
                                        const std::vector<Shape>& shapes) {
  const Optimizer& opt = *run.optimizer;
  const size_t kinds = opt.flat_state().size();  // shapes: parameter i's kind k at i x kinds + k
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < shapes.size(); i += kinds) sizes.push_back(shape_numel(shapes[i]));
  int64_t total = 0;
  const std::vector<int64_t> offsets = Model::flat_offsets(sizes, total);
  std::vector<Tensor> flat(kinds), holder;
  for (Tensor& f : flat) f = Tensor::zeros({std::max<int64_t>(total, 1)});
  const std::vector<FlatRange> ranges = shard_ranges(total, static_cast<int>(shards_written));
  for (int64_t d = 0; d < shards_written; ++d) {
    const Slice file{run.cfg.pipeline, run.stage, written, w};
    load_checkpoint_tensors(dir, {range_group(zero_shard_file(file, d), opt, ranges[d], holder)});
    for (size_t k = 0; k < kinds; ++k) copy_overlap(holder[k], ranges[d].begin, flat[k], 0);
  }
  std::vector<Tensor> parts;
  for (size_t i = 0; i < shapes.size(); ++i)
    parts.push_back(flat[i % kinds].view(offsets[i / kinds], shapes[i]));
  return parts;
}

// Fills this run's optimizer state (its range of the flat buffer, all of it without ZeRO) from
// a checkpoint written with `shards_written` ZeRO shards per stage (0: by parameter) by
// `tensor_written` tensor ranks, whatever this run's own numbers. Under the same tensor size the
// state is a flat buffer with the same offsets in both: the shards' ranges are copied. Otherwise
// (or by parameter) each parameter's state is read into the whole stage's flat buffers, resliced
// where the tensor size differs, and this rank's range kept.
static void load_optimizer_state(const std::string& dir, RunSetup& run, int64_t shards_written,
                                 int64_t tensor_written) {
  Optimizer& opt = *run.optimizer;
  const int64_t total = run.model->flat_values().numel();
  const bool whole_stage = !run.zero.on();  // the optimizer's flat state covers all of it
  std::vector<Tensor> holder;
  auto copy_in = [&](FlatRange from) {
    for (size_t k = 0; k < holder.size(); ++k) {
      Tensor mine = opt.flat_state()[k].second;
      copy_overlap(holder[k], from.begin, mine, opt.flat_begin());
    }
  };
  if (shards_written == 0 || tensor_written != run.cfg.tensor) {
    if (whole_stage) {
      holder.clear();
      for (const auto& [kind, flat] : opt.flat_state()) holder.push_back(flat);
    } else {
      range_group("", opt, {0, total}, holder);
    }
    std::vector<Param*> params = run.model->params();  // the order Optimizer::state() names them
    if (shards_written > 0)                            // the flat order, as shard_slices reads them
      std::sort(params.begin(), params.end(),
                [](const Param* a, const Param* b) { return a->offset < b->offset; });
    std::vector<SlicedTensor> state;  // each parameter's state in the whole stage's flat buffers
    for (Param* p : params)
      for (size_t k = 0; k < holder.size(); ++k)
        state.push_back({p->name + "." + opt.flat_state()[k].first,
                         holder[k].view(p->offset, p->compute.shape()), p->split});
    if (shards_written == 0)
      load_sliced(dir, run, "optimizer", state, tensor_written);
    else
      reslice(state, tensor_written, [&](int64_t w, const std::vector<Shape>& shapes) {
        return shard_slices(dir, run, shards_written, tensor_written, w, shapes);
      });
    if (!whole_stage) copy_in({0, total});
    return;
  }
  const FlatRange want = covered(opt);
  const std::vector<FlatRange> written = shard_ranges(total, static_cast<int>(shards_written));
  for (int64_t d = 0; d < shards_written; ++d) {
    const FlatRange from = written[d];
    if (overlap(from, want).empty()) continue;
    load_checkpoint_tensors(dir,
                            {range_group(zero_shard_file(slice_of(run), d), opt, from, holder)});
    copy_in(from);
  }
}

// The parts of the config a checkpoint must agree with, each digested on its own so a refusal
// can say which part differs. Epochs, steps, logging and paths may change across a resume.
static nlohmann::json compatibility(const Config& c) {
  YAML::Node data;
  data["train"] = c.tree["data"]["train"];
  data["batch_size"] = c.tree["data"]["batch_size"];
  return {
      {"model", yaml_digest(c.tree["model"])},
      {"optimizer", yaml_digest(c.tree["optimizer"])},
      {"loss", c.loss},
      {"data", yaml_digest(data)},
      {"seed", c.seed},
      {"precision", c.compute},
      {"grad_accum", c.grad_accum},
  };
}

// The layout that wrote a checkpoint. Data-parallel replicas hold the same state, so another
// data-parallel size may resume it (only summation order changes), and another tensor size
// (its slices are put together and cut again); the pipeline split may not.
static nlohmann::json layout(const RunSetup& run) {
  nlohmann::json l = {{"data", run.cfg.data_parallel},
                      {"pipeline", run.cfg.pipeline},
                      {"tensor", run.cfg.tensor},
                      {"stage_starts", run.stage_starts}};
  // ZeRO: the optimizer state is in this many shard files per stage; any count resumes.
  if (run.zero.on()) l["zero_shards"] = run.zero.ranges.size();
  return l;
}

// Each rank's part of a save, exchanged as fixed-size text: its files' records or its error.
static std::vector<nlohmann::json> gather_reports(Communicator& world, const nlohmann::json& mine) {
  constexpr size_t kBytes = 4096;
  std::string text = mine.dump();
  if (text.size() >= kBytes) text = nlohmann::json{{"error", text.substr(0, 512)}}.dump();
  std::vector<char> send(kBytes, '\0'), all(kBytes * static_cast<size_t>(world.size()));
  std::copy(text.begin(), text.end(), send.begin());
  world.all_gather(send.data(), kBytes, all.data());
  std::vector<nlohmann::json> out;
  for (int r = 0; r < world.size(); ++r) out.push_back(nlohmann::json::parse(&all[r * kBytes]));
  return out;
}

std::string save_run_checkpoint(RunSetup& run, int64_t step, ProcessGrid& grid) {
  run.model->wait_for_weights();  // a ZeRO gather of the last update
  const Config& c = run.cfg;
  nlohmann::json meta = {
      {"format", 1},
      {"run", c.name},
      {"optimizer_steps", run.optimizer->steps_taken()},
      // The loss scaler's state: a resumed fp16 run continues with the scale it had.
      {"loss_scale", {{"scale", run.scaler.scale()}, {"clean_steps", run.scaler.clean_steps()}}},
      {"compatibility", compatibility(c)},
      {"layout", layout(run)},
      // Every random stream is a pure function of (seed, step, sample), so this is all the state.
      {"rng", {{"seed", c.seed}, {"generator", "counter-based splitmix64"}}},
      {"data_position",
       {{"epoch", step / run.steps_per_epoch},
        {"batch_in_epoch", step % run.steps_per_epoch},
        {"batch_size", c.batch_size}}},
  };
  Communicator& world = *grid.world;
  const bool committer = world.rank() == 0;
  nlohmann::json report = nlohmann::json::object();
  std::string staging;
  try {
    if (committer) staging = stage_checkpoint(c.checkpoint_dir, step);
  } catch (const CheckpointError& e) {
    report = {{"error", e.what()}};
  }
  // The staging directory exists (or its failure is known) before any shard is written.
  const bool staged = !gather_reports(world, report)[0].contains("error");
  // The first replica writes the weights (and the optimizer state); under ZeRO every data rank
  // writes its shard of the optimizer state.
  std::vector<Tensor> holder;
  std::vector<TensorGroup> groups;
  if (staged && grid.data_rank == 0) groups.push_back(model_group(run));
  if (staged && run.zero.on())
    groups.push_back(zero_shard_group(run, grid.data_rank, holder));
  else if (staged && grid.data_rank == 0)
    groups.push_back(optimizer_group(run));
  if (!groups.empty()) {
    try {
      staging = staging_dir(c.checkpoint_dir, step);
      report = {{"files", write_checkpoint_files(staging, groups)}};
    } catch (const std::exception& e) {
      report = {{"error", e.what()}};
    }
  }
  // Then rank 0 commits, and every rank learns the outcome: a save fails on all ranks or none.
  auto fail_everywhere = [&](const std::vector<nlohmann::json>& reports) {
    for (const nlohmann::json& r : reports)
      if (r.contains("error")) {
        if (committer && staged) abandon_checkpoint(staging);
        throw CheckpointNotWritten("checkpoint of step " + std::to_string(step) +
                                   " not written: " + r["error"].get<std::string>() +
                                   "; the previous checkpoint is kept");
      }
  };
  const std::vector<nlohmann::json> shards = gather_reports(world, report);
  fail_everywhere(shards);
  report = nlohmann::json::object();
  if (committer) {
    for (const nlohmann::json& r : shards)
      if (r.contains("files")) meta["files"].update(r["files"]);
    try {
      report = {{"path", commit_checkpoint(c.checkpoint_dir, step, staging, meta,
                                           static_cast<int>(c.checkpoint_keep))}};
    } catch (const CheckpointError& e) {
      report = {{"error", e.what()}};
    }
  }
  const std::vector<nlohmann::json> outcome = gather_reports(world, report);
  fail_everywhere(outcome);
  return outcome[0]["path"].get<std::string>();
}

// What this program reads of meta.json beyond the step and files, in the types it reads; and
// the tensor files the writing layout must have listed (one pair per pipeline stage).
static std::vector<std::string> check_run_meta(const nlohmann::json& meta, const std::string& at) {
  auto bad = [&](const std::string& key, const std::string& expected) {
    throw CheckpointError(at + ": " + key + ": expected " + expected);
  };
  if (meta.value("format", nlohmann::json()) != 1) bad("format", "1");
  if (!meta.contains("optimizer_steps") || !meta["optimizer_steps"].is_number_unsigned())
    bad("optimizer_steps", "a non-negative integer");
  if (!meta.contains("compatibility") || !meta["compatibility"].is_object())
    bad("compatibility", "an object");
  if (meta.contains("loss_scale")) {
    const nlohmann::json& s = meta["loss_scale"];
    if (!s.is_object() || !s.contains("scale") || !s["scale"].is_number() ||
        !(s["scale"].get<double>() > 0.0) || !std::isfinite(s["scale"].get<double>()) ||
        !s.contains("clean_steps") || !s["clean_steps"].is_number_unsigned())
      bad("loss_scale", "{\"scale\": a number > 0, \"clean_steps\": a non-negative integer}");
  }
  const nlohmann::json layout = meta.value("layout", nlohmann::json());
  if (!layout.is_object() || !layout.contains("pipeline") ||
      !layout["pipeline"].is_number_unsigned() || layout["pipeline"].get<uint64_t>() < 1 ||
      layout["pipeline"].get<uint64_t>() > 4096 || !layout.contains("stage_starts") ||
      !layout["stage_starts"].is_array())
    bad("layout", "{\"pipeline\": stages, \"stage_starts\": [...]}");
  if (layout.contains("tensor") &&
      (!layout["tensor"].is_number_unsigned() || layout["tensor"].get<uint64_t>() < 1 ||
       layout["tensor"].get<uint64_t>() > 4096))
    bad("layout.tensor", "a number of tensor ranks from 1 to 4096");
  if (layout.contains("zero_shards") &&
      (!layout["zero_shards"].is_number_unsigned() || layout["zero_shards"].get<uint64_t>() < 1 ||
       layout["zero_shards"].get<uint64_t>() > 4096))
    bad("layout.zero_shards", "a number of shards from 1 to 4096");
  const auto stages = layout["pipeline"].get<int64_t>();
  const auto tensor = layout.value("tensor", int64_t{1});
  const auto shards = layout.value("zero_shards", int64_t{0});
  std::vector<std::string> files;
  for (int64_t s = 0; s < stages; ++s)
    for (int64_t t = 0; t < tensor; ++t) {
      const Slice slice{stages, s, tensor, t};
      files.push_back(shard_file("model", slice));
      if (shards == 0) files.push_back(shard_file("optimizer", slice));
      for (int64_t d = 0; d < shards; ++d) files.push_back(zero_shard_file(slice, d));
    }
  return files;
}

nlohmann::json verify_run_checkpoint(const std::string& dir) {
  return verify_checkpoint(dir, check_run_meta);
}

// The newest valid checkpoint under `root`: the one `latest` names when it passes every check,
// else the newest step directory that does (also when `latest` is missing, empty or not a file,
// as after a crash or an accident: the run must not start over beside valid checkpoints).
static std::optional<ResumePoint> newest_valid(const std::string& root, std::string* note) {
  const std::optional<std::string> latest = latest_checkpoint(root);
  std::vector<std::string> candidates = step_directories(root);
  if (latest) {
    candidates.erase(std::remove(candidates.begin(), candidates.end(), *latest), candidates.end());
    candidates.insert(candidates.begin(), *latest);
  }
  if (candidates.empty()) return std::nullopt;
  std::string first_error = latest ? "" : root + "/latest names no checkpoint";
  for (const std::string& dir : candidates) {
    try {
      nlohmann::json meta = verify_run_checkpoint(dir);
      if (note && !first_error.empty())
        *note = first_error + "; resuming from the newest valid checkpoint, " + dir;
      return ResumePoint{dir, std::move(meta)};
    } catch (const CheckpointError& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  throw CheckpointError(first_error + "; and no other checkpoint in " + root + " is valid");
}

std::optional<ResumePoint> resolve_resume(const Config& cfg, const std::string& resume,
                                          std::string* note) {
  namespace fs = std::filesystem;
  if (resume.empty()) return std::nullopt;
  if (resume == "auto") return newest_valid(cfg.checkpoint_dir, note);
  std::error_code ec;
  if (fs::exists(fs::path(resume) / "meta.json", ec))
    return ResumePoint{resume, verify_run_checkpoint(resume)};
  if (auto latest = latest_checkpoint(resume))
    return ResumePoint{*latest, verify_run_checkpoint(*latest)};
  throw CheckpointError("--resume " + resume +
                        ": not a checkpoint directory (no meta.json) "
                        "and no checkpoints root (no latest)");
}

// The weights of a checkpoint written under another pipeline split (export and sampling): every
// stage's model files are read and each parameter this rank holds is taken by name (a tied copy
// is in two stages' files, equal), its slices from the tensor ranks that wrote them put together
// and cut as this rank holds it.
static void load_weights_of_any_split(const std::string& dir, RunSetup& run,
                                      const nlohmann::json& written) {
  const auto pipeline = written.value("pipeline", int64_t{1});
  const auto tensor = written.value("tensor", int64_t{1});
  std::vector<SlicedTensor> mine;
  std::map<std::string, std::vector<Tensor>> found;  // by name: each writing tensor rank's slice
  for (Param* p : run.model->params()) {
    mine.push_back({p->name, p->value, p->split});
    found[p->name].resize(static_cast<size_t>(tensor));
  }
  for (int64_t s = 0; s < pipeline; ++s)
    for (int64_t w = 0; w < tensor; ++w)
      for (auto& [name, t] :
           read_all_tensors(dir + "/" + shard_file("model", {pipeline, s, tensor, w})))
        if (found.count(name) && !found[name][static_cast<size_t>(w)].defined())
          found[name][static_cast<size_t>(w)] = std::move(t);
  reslice(mine, tensor, [&](int64_t w, const std::vector<Shape>& shapes) {
    std::vector<Tensor> parts;
    for (size_t i = 0; i < mine.size(); ++i) {
      const Tensor& part = found.at(mine[i].name)[static_cast<size_t>(w)];
      if (!part.defined() || part.dtype() != DType::F32 || part.shape() != shapes[i])
        throw CheckpointError(dir + ": no " + shape_str(shapes[i]) + " weights named " +
                              mine[i].name + " in tensor rank " + std::to_string(w) +
                              "'s model files");
      parts.push_back(part);
    }
    return parts;
  });
  run.model->refresh_compute_weights();
}

int64_t restore_run_checkpoint(RunSetup& run, const ResumePoint& checkpoint, bool weights_only) {
  const std::string& dir = checkpoint.dir;
  const nlohmann::json& meta = checkpoint.meta;
  const nlohmann::json want = compatibility(run.cfg);
  const nlohmann::json have = meta.value("compatibility", nlohmann::json::object());
  for (const auto& [key, value] : want.items())
    // The weights mean what the model section says, whatever the settings of the training
    // that made them: an export or a sample needs that section alone to match.
    if ((!weights_only || key == "model") && have.value(key, nlohmann::json()) != value)
      throw CheckpointError(
          dir + ": written by a run with a different " + key +
          (key == "seed" || key == "loss" || key == "precision" || key == "grad_accum"
               ? " (" + have.value(key, nlohmann::json()).dump() + ", this run has " +
                     value.dump() + ")"
               : " section") +
          "; it cannot be resumed by this config");
  const nlohmann::json written = meta.value("layout", nlohmann::json::object());
  const nlohmann::json here = layout(run);
  const int64_t step = meta.at("step").get<int64_t>();
  for (const char* key : {"pipeline", "stage_starts"}) {
    if (written.value(key, nlohmann::json()) == here[key]) continue;
    if (weights_only) {
      load_weights_of_any_split(dir, run, written);
      return step;
    }
    throw CheckpointError(dir + ": written with layout " + written.dump() + ", this run has " +
                          here.dump() + "; the pipeline split (" + key +
                          ") must match to train on (--export-llmc, --export-safetensors and "
                          "--sample read the weights of any split)");
  }
  if (step > run.total_steps && !weights_only)
    throw CheckpointError(dir + ": written at step " + std::to_string(step) + ", past this run's " +
                          std::to_string(run.total_steps) +
                          " steps (train.max_steps or train.epochs); it cannot be resumed by this "
                          "config");
  const auto tensor_written = written.value("tensor", int64_t{1});
  const auto shards_written = written.value("zero_shards", int64_t{0});
  std::vector<SlicedTensor> weights;
  for (Param* p : run.model->params()) weights.push_back({p->name, p->value, p->split});
  load_sliced(dir, run, "model", weights, tensor_written);
  if (weights_only) return step;
  load_optimizer_state(dir, run, shards_written, tensor_written);
  run.optimizer->set_steps_taken(meta.at("optimizer_steps").get<int64_t>());
  if (meta.contains("loss_scale") && run.scaler.active())
    run.scaler.restore(meta["loss_scale"].at("scale").get<double>(),
                       meta["loss_scale"].at("clean_steps").get<int64_t>());
  return step;
}

}  // namespace trainer
