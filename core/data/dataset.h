// A labelled data set for classification: samples addressed by index.
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
  virtual int64_t num_classes() const = 0;
  // x(n, sample...) as f32 and y(n) as i32 for the samples at `indices`. x may be null: the
  // labels alone (a last pipeline stage needs no inputs).
  virtual void gather(const int64_t* indices, int64_t n, float* x, int32_t* y) const = 0;
};

enum class Split { Train, Test };

// The config's data.train / data.test section, by its `type` key (idx, synthetic).
std::unique_ptr<Dataset> make_dataset(const std::string& type, Args& args, Split split);
std::vector<std::string> dataset_types();

}  // namespace trainer
