// Run under mpirun -np 2, 4 and 8 (see tests/CMakeLists.txt): tensor parallelism (Megatron's
// layout) on the small GPT, whose 19-entry vocabulary padded to 24 splits unevenly into logits
// (12 and 7 columns).
//
// - Under tensor 2 (np 2), tensor 2 x data 2 and tensor 2 x pipeline 2 (np 4), and tensor 2 x
//   pipeline 2 x data 2 (np 8), each without and with sequence parallelism, each rank's slices
//   end where one process's weights are, cut the same way, and every step's loss and gradient
//   norm (clipping counts each parameter once) match one process's. Tolerances as in
//   GptLayoutTest, whose note on the Adam eps applies. Parameters the group holds whole stay
//   equal bit for bit on its ranks; sequence parallelism holds fewer activation bytes.
// - The vocabulary-parallel cross-entropy gives the whole-vocabulary loss and its gradient's
//   columns, without gathering logits.
// - A checkpoint written under tensor 2 resumes in one process and continues with the losses of
//   a run that never stopped.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/vocab_parallel_loss.h"
#include "launcher/checkpointing.h"
#include "launcher/config.h"
#include "launcher/run_setup.h"
#include "launcher/training.h"
#include "parallel/mpi_communicator.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

// Trains under `overrides` on every rank of the world, in `pipeline` stages of `tensor` ranks.
struct Trained {
  RunSetup run;
  ProcessGrid grid;
  nlohmann::json summary;
};
Trained train_layout(const std::string& dir, int pipeline, int tensor,
                     std::vector<std::string> overrides) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int size = world->size();
  overrides.push_back("parallel.pipeline=" + std::to_string(pipeline));
  overrides.push_back("parallel.tensor=" + std::to_string(tensor));
  overrides.push_back("parallel.microbatches=" + std::to_string(pipeline > 1 ? 2 : 1));
  const GridPlace place = place_of(world->rank(), pipeline, tensor);
  Trained t{build_run(load_config(dir + "/cfg.yaml", overrides, size), place.stage,
                      BuildFor::Training, place.data_rank, place.tensor_rank),
            {},
            {}};
  t.grid = ProcessGrid::split(std::move(world), pipeline, false, 300, tensor);
  FILE* sink = std::fopen("/dev/null", "w");
  t.summary = train(t.run, 0, sink, std::chrono::steady_clock::now(), &t.grid);
  std::fclose(sink);
  return t;
}

// One process, the whole batch.
RunSetup train_alone(const std::string& dir, std::vector<std::string> overrides,
                     int64_t resume_step = 0, const std::string& checkpoint = "") {
  RunSetup whole = build_run(load_config(dir + "/cfg.yaml", overrides, 1));
  if (!checkpoint.empty())
    resume_step = restore_run_checkpoint(whole, {checkpoint, verify_run_checkpoint(checkpoint)});
  FILE* sink = std::fopen("/dev/null", "w");
  train(whole, resume_step, sink);
  std::fclose(sink);
  return whole;
}

// Each step's (loss, gradient norm) from a run's metrics file.
std::vector<std::pair<double, double>> step_metrics(const std::string& out_dir) {
  std::vector<std::pair<double, double>> out;
  std::ifstream in(out_dir + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json m = nlohmann::json::parse(line);
    if (m.contains("loss")) out.emplace_back(m["loss"].get<double>(), m["grad_norm"].get<double>());
  }
  return out;
}

void expect_same_steps(const std::vector<std::pair<double, double>>& got,
                       const std::vector<std::pair<double, double>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i + 1));
    EXPECT_NEAR(got[i].first, want[i].first, 1e-5);
    EXPECT_NEAR(got[i].second, want[i].second, 1e-5 + 1e-4 * want[i].second);
  }
}

// The layouts of tensor 2 this world size runs: (pipeline stages, name).
std::vector<std::pair<int, std::string>> layouts(int size) {
  if (size == 2) return {{1, "tensor2"}};
  if (size == 4) return {{1, "tensor2-data2"}, {2, "tensor2-pipeline2"}};
  if (size == 8) return {{2, "tensor2-pipeline2-data2"}};
  return {};
}

TEST(TensorParallelTest, EveryLayoutTrainsToTheWeightsAndLossesOfOneProcess) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int rank = world->rank(), size = world->size();
  const std::string dir = test::write_small_gpt(*world);
  world.reset();
  const std::vector<std::string> settings = {"train.max_steps=8", "optimizer.eps=1e-4"};
  const std::string whole_dir = dir + "/whole-" + std::to_string(rank);
  std::vector<std::string> alone = settings;
  alone.push_back("run.out_dir=" + whole_dir);
  RunSetup whole = train_alone(dir, alone);
  for (const auto& [pipeline, layout_name] : layouts(size)) {
    int64_t activations[2] = {};  // this rank's peak, without and with sequence parallelism
    for (bool sequence : {false, true}) {
      const std::string name = layout_name + (sequence ? "-sequence" : "");
      SCOPED_TRACE(name);
      std::vector<std::string> layout = settings;
      layout.push_back("run.out_dir=" + dir + "/" + name);
      layout.push_back(std::string("parallel.sequence_parallel=") + (sequence ? "true" : "false"));
      Trained t = train_layout(dir, pipeline, 2, layout);
      activations[sequence] = t.summary["peak_activation_bytes"][rank].get<int64_t>();
      EXPECT_EQ(t.grid.tensor_size, 2);
      EXPECT_EQ(t.grid.data_size, size / (2 * pipeline));
      // The split layers hold half of the whole model's values on each rank.
      bool some_split = false;
      for (Param* p : t.run.model->params()) some_split = some_split || p->split.split();
      EXPECT_TRUE(some_split);
      const auto want = test::sliced_like(*t.run.model, *whole.model);
      for (const auto& [param, values] : test::parameters_by_name(*t.run.model)) {
        SCOPED_TRACE(param);
        test::expect_close(values, want.at(param));
      }
      if (rank == 0) expect_same_steps(step_metrics(dir + "/" + name), step_metrics(whole_dir));
      // What the group holds whole (layer norms, the position table, row-parallel biases) is
      // equal bit for bit on every tensor rank.
      for (Param* p : t.run.model->params()) {
        if (p->split.split()) continue;
        SCOPED_TRACE(p->name);
        const Tensor mine = p->value.to(Device::cpu());
        std::vector<float> all(static_cast<size_t>(mine.numel() * t.grid.tensor_size));
        t.grid.tensor->all_gather(mine.raw(), static_cast<int64_t>(mine.bytes()), all.data());
        EXPECT_EQ(std::memcmp(all.data(), all.data() + mine.numel(), mine.bytes()), 0);
      }
    }
    EXPECT_LT(activations[1], activations[0]);
  }
}

// A tensor group of the world's ranks: each holds columns of the same (N, V) logits, V = 19
// split 12 | 7 as the small GPT's head splits it; the loss and each rank's gradient columns are
// the whole-vocabulary ones.
TEST(TensorParallelTest, VocabularyParallelCrossEntropyMatchesTheGatheredOne) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int rank = world->rank(), size = world->size();
  const int64_t N = 6, V = 19, rows_per_rank = 24 / size;
  const Tensor logits = test::random_tensor({N, V}, 3, -4.0f, 4.0f);
  const Tensor labels = test::random_tokens({N}, static_cast<int32_t>(V), 8);
  Tensor whole_d = Tensor::empty({N, V});
  const ops::LossSums want = test::loss_sums(ops::cross_entropy, logits, labels, 0.5f, whole_d);

  const int64_t begin = rows_per_rank * rank;
  const int64_t columns = std::clamp<int64_t>(V - begin, 0, rows_per_rank);
  Tensor mine = Tensor::empty({N, columns}), d = Tensor::empty({N, columns});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < columns; ++c)
      mine.f32()[n * columns + c] = logits.f32()[n * V + begin + c];
  GroupCollectives group;
  group.bind(*world);
  LossTotals totals(Device::cpu());
  vocab_parallel_cross_entropy(mine, labels, begin, group, 0.5f, d, totals);
  const ops::LossSums got = totals.read();
  EXPECT_NEAR(got.loss, want.loss, 1e-5 * std::abs(want.loss));
  EXPECT_EQ(got.correct, want.correct);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < columns; ++c)
      EXPECT_NEAR(d.f32()[n * columns + c], whole_d.f32()[n * V + begin + c], 1e-6);
}

// With 2 ranks the checkpoint holds each tensor rank's optimizer state by parameter; with 4
// (tensor 2 x data 2, ZeRO 1) in ZeRO shards of each tensor rank's flat layout, which the
// resume reads whole, puts together and cuts for one process.
// Exporting or sampling reads the weights of a checkpoint of any split: one process, built for
// the weights alone, takes every stage's parameters from a pipeline 2 (np 2) or pipeline 2 x
// tensor 2 (np 4) checkpoint, each equal bit for bit to what the ranks held; training on from it
// is refused, naming the split.
TEST(TensorParallelTest, OneProcessReadsTheWeightsOfACheckpointOfAnotherSplit) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int rank = world->rank(), size = world->size();
  if (size != 2 && size != 4) GTEST_SKIP() << "run with 2 or 4 ranks";
  const std::string dir = test::write_small_gpt(*world);
  world.reset();
  Trained t = train_layout(dir, 2, size / 2, {"train.max_steps=4", "run.out_dir=" + dir + "/pt"});
  t.grid.world->barrier();  // every rank's files are written
  const std::string checkpoint = dir + "/pt/checkpoints/step_00000004";
  const ResumePoint at{checkpoint, verify_run_checkpoint(checkpoint)};
  RunSetup alone = build_run(
      load_config(dir + "/cfg.yaml",
                  {"train.max_steps=4", "run.out_dir=" + dir + "/alone" + std::to_string(rank)}, 1),
      0, BuildFor::Weights);
  std::string refused;
  try {
    restore_run_checkpoint(alone, at);
  } catch (const CheckpointError& e) {
    refused = e.what();
  }
  EXPECT_NE(refused.find("the pipeline split (pipeline) must match"), std::string::npos);
  // Built for its weights: no gradients, no optimizer state (beyond a placeholder element).
  EXPECT_FALSE(alone.model->flat_grads().defined());
  int64_t state = 0;
  for (const auto& [kind, flat] : alone.optimizer->flat_state()) state += flat.numel();
  EXPECT_LE(state, 2);
  EXPECT_EQ(restore_run_checkpoint(alone, at, /*weights_only=*/true), 4);
  EXPECT_EQ(test::parameters_by_name(*t.run.model), test::sliced_like(*t.run.model, *alone.model));
  EXPECT_GT(t.run.optimizer->steps_taken(), 0);  // the weights moved from their initialisation
}

TEST(TensorParallelTest, ATensor2CheckpointResumesInOneProcessWithTheSameLosses) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int rank = world->rank(), size = world->size();
  if (size != 2 && size != 4) GTEST_SKIP() << "run with 2 or 4 ranks";
  const std::string dir = test::write_small_gpt(*world);
  world.reset();
  const std::vector<std::string> settings = {"train.max_steps=8", "optimizer.eps=1e-4"};
  std::vector<std::string> split = settings;
  split.push_back("run.out_dir=" + dir + "/split");
  split.push_back("checkpoint.every_steps=4");
  split.push_back(size == 4 ? "parallel.zero=1" : "parallel.zero=0");
  train_layout(dir, 1, 2, split);
  const std::string files = test::read_file(dir + "/split/checkpoints/step_00000004/meta.json");
  EXPECT_NE(files.find(size == 4 ? "optimizer-tensor1-shard1.bin" : "optimizer-tensor1.bin"),
            std::string::npos);
  std::vector<std::string> straight = settings, resumed = settings;
  straight.push_back("run.out_dir=" + dir + "/straight-" + std::to_string(rank));
  resumed.push_back("run.out_dir=" + dir + "/resumed-" + std::to_string(rank));
  RunSetup a = train_alone(dir, straight);
  RunSetup b = train_alone(dir, resumed, 0, dir + "/split/checkpoints/step_00000004");
  const auto want = step_metrics(dir + "/straight-" + std::to_string(rank));
  const auto got = step_metrics(dir + "/resumed-" + std::to_string(rank));
  ASSERT_EQ(want.size(), 8u);
  expect_same_steps(got, {want.begin() + 4, want.end()});
  const auto all = test::parameters_by_name(*a.model);
  for (const auto& [param, values] : test::parameters_by_name(*b.model)) {
    SCOPED_TRACE(param);
    test::expect_close(values, all.at(param));
  }
}

}  // namespace
}  // namespace trainer
