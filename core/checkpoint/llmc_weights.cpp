#include "core/checkpoint/llmc_weights.h"

#include <array>
#include <cstring>

#include "core/checkpoint/gpt2_layout.h"
#include "core/data/llmc_file.h"
#include "core/durable_file.h"
#include "core/error.h"

namespace trainer {
namespace {

struct LlmcLayout {
  std::array<int32_t, 256> header{};  // llm.c's header for this model
  std::vector<Param*> tensors;        // in the file's order
};

LlmcLayout layout_of(Model& model) {
  const Gpt2Layout g = gpt2_layout(model, "model.init_from: llm.c's GPT-2 format");
  LlmcLayout f;
  const Gpt2Sizes& s = g.sizes;
  f.header[0] = kLlmcParamsMagic;
  f.header[1] = 3;
  const int64_t fields[] = {s.max_positions, s.vocab,    s.layers,
                            s.heads,         s.channels, s.padded_vocab};
  for (int i = 0; i < 6; ++i)
    f.header[static_cast<size_t>(i) + 2] = static_cast<int32_t>(fields[i]);
  f.tensors = {g.wte, g.wpe};
  // Each of a block's tensors for all L blocks in a row.
  for (int k = 0; k < kGpt2BlockTensors; ++k)
    for (const std::vector<Param*>& block : g.blocks)
      f.tensors.push_back(block.at(static_cast<size_t>(k)));
  f.tensors.push_back(g.final_norm_weight);
  f.tensors.push_back(g.final_norm_bias);
  return f;
}

}  // namespace

Gpt2Sizes read_llmc_sizes(const std::string& path) {
  const std::array<int32_t, 256> h = read_llmc_header(path, kLlmcParamsMagic, {3});
  Gpt2Sizes s;
  s.max_positions = h[2];
  s.vocab = h[3];
  s.layers = h[4];
  s.heads = h[5];
  s.channels = h[6];
  s.padded_vocab = h[7];
  return s;
}

void load_llmc_weights(const std::string& path, WeightTarget& target) {
  const LlmcLayout g = layout_of(target.whole());
  const LlmcFile f = read_llmc_file(path, kLlmcParamsMagic, {3});
  static const char* const kFields[] = {
      "max sequence length", "vocabulary", "layers", "heads", "channels", "padded vocabulary"};
  for (int i = 2; i < 8; ++i)
    if (f.header[i] != g.header[i])
      throw ConfigError("model.init_from: " + path + ": " + kFields[i - 2] + " " +
                        std::to_string(f.header[i]) + " in the file, " +
                        std::to_string(g.header[i]) + " in the config's model");
  size_t bytes = 0;
  for (const Param* p : g.tensors) bytes += p->value.bytes();
  if (f.payload.size() != bytes)
    throw DataError(path + ": " + std::to_string(f.payload.size()) + " bytes of weights, the " +
                    "header's sizes need " + std::to_string(bytes));
  const char* src = f.payload.data();
  for (Param* p : g.tensors) {
    if (target.holds(*p)) {
      Tensor host = Tensor::empty(p->value.shape());
      std::memcpy(host.f32(), src, host.bytes());
      target.set(*p, host, path);
    }
    src += p->value.bytes();
  }
  target.finish();
}

void save_llmc_weights(const std::string& path, Model& model) {
  const LlmcLayout g = layout_of(model);
  DurableFile out(path);
  out.write(g.header.data(), sizeof g.header);
  for (const Param* p : g.tensors) {  // one tensor at a time on the host
    const Tensor host = p->value.to(Device::cpu());
    out.write(host.raw(), host.bytes());
  }
  out.commit();
}

}  // namespace trainer
