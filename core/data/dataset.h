// A data set of samples addressed by index: images (f32) with one label each, or token sequences
// (i32) with one target per position (the next token).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/args.h"
#include "core/tensor.h"

namespace trainer {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Shape sample_shape() const = 0;
  // Classes of a label, or the vocabulary of a token target.
  virtual int64_t num_classes() const = 0;
  // What a sample's inputs are stored as: F32 (images) or I32 (tokens).
  virtual DType input_dtype() const { return DType::F32; }
  // The targets of one sample: {} for one label, {T} for one per position.
  virtual Shape target_shape() const { return {}; }
  // x(n, sample...) in input_dtype() and y(n, target...) as i32 for the samples at `indices`.
  // x may be null: the targets alone (a last pipeline stage needs no inputs).
  virtual void gather(const int64_t* indices, int64_t n, void* x, int32_t* y) const = 0;
};

enum class Split { Train, Test };

// The config's data.train / data.test section, by its `type` key (idx, synthetic).
std::unique_ptr<Dataset> make_dataset(const std::string& type, Args& args, Split split);
std::vector<std::string> dataset_types();

}  // namespace trainer
