// model.init_from under every parallel layout: a weight file holds the whole model, and each
// rank (a pipeline stage, a tensor-parallel slice, both, interleaved chunks) takes exactly its
// part of it, bit for bit what one process loads cut the same way, from llm.c's format and from
// safetensors in transformers' names and in trainer's. Every rank's build is made here in one
// process (loading involves no communication), place by place.
#include <gtest/gtest.h>

#include <set>

#include "core/checkpoint/llmc_weights.h"
#include "core/checkpoint/safetensors_weights.h"
#include "launcher/config.h"
#include "launcher/run_setup.h"
#include "parallel/process_grid.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

struct Layout {
  const char* name;
  int pipeline, tensor;
  std::vector<std::string> extra;
};

TEST(InitFromLayoutTest, EveryRankLoadsItsPartOfTheWholeFile) {
  test::TempDir dir;
  test::write_tokens(dir.file("tokens.bin"), 600, 19);
  test::write_file(dir.file("cfg.yaml"), test::small_gpt_config(dir.file("tokens.bin")));
  const std::string out = "run.out_dir=" + dir.file("out");
  // The files' weights: another seed's, so that a rank that kept its own initial weights shows.
  RunSetup source = build_run(load_config(dir.file("cfg.yaml"), {out, "run.seed=77"}, 1));
  save_llmc_weights(dir.file("w.bin"), *source.model);
  save_safetensors_weights(dir.file("hf"), *source.model, WeightNames::HuggingFace, DType::F32);
  save_safetensors_weights(dir.file("names"), *source.model, WeightNames::Trainer, DType::F32);
  const auto want = test::parameters_by_name(*source.model);

  const std::vector<Layout> layouts = {
      {"pipeline 2", 2, 1, {}},
      {"tensor 2", 1, 2, {}},
      {"pipeline 2 x tensor 2, sequence parallel", 2, 2, {"parallel.sequence_parallel=true"}},
      {"interleaved, 2 stages x 2 chunks",
       2,
       1,
       {"parallel.schedule=interleaved", "parallel.virtual_stages=2"}},
  };
  for (const char* file : {"w.bin", "hf/model.safetensors", "names/model.safetensors"}) {
    const std::string init = "model.init_from=" + dir.file(file);
    RunSetup alone = build_run(load_config(dir.file("cfg.yaml"), {out, init}, 1));
    EXPECT_EQ(test::parameters_by_name(*alone.model), want) << file;
    for (const Layout& l : layouts) {
      SCOPED_TRACE(std::string(file) + ", " + l.name);
      std::vector<std::string> overrides = {out, init, "parallel.microbatches=2",
                                            "parallel.pipeline=" + std::to_string(l.pipeline),
                                            "parallel.tensor=" + std::to_string(l.tensor)};
      overrides.insert(overrides.end(), l.extra.begin(), l.extra.end());
      std::set<std::string> covered;
      for (int rank = 0; rank < l.pipeline * l.tensor; ++rank) {
        const GridPlace at = place_of(rank, l.pipeline, l.tensor);
        RunSetup r = build_run(load_config(dir.file("cfg.yaml"), overrides, l.pipeline * l.tensor),
                               at.stage, BuildFor::Training, 0, at.tensor_rank);
        EXPECT_EQ(test::parameters_by_name(*r.model), test::sliced_like(*r.model, *alone.model))
            << "rank " << rank;
        for (Param* p : r.model->params()) covered.insert(p->name);
      }
      EXPECT_EQ(covered.size(), want.size());  // every parameter has a place
    }
  }
}

}  // namespace
}  // namespace trainer
