// Training with the library API, no YAML: build a model layer by layer (one of them a layer
// defined right here), load batches, run forward/backward, step the optimizer, evaluate.
//
// This is how a user extends the engine: a new layer is a class with forward and backward over
// a caller-owned Stash; registering it in core/layers/registry.cpp makes it usable from YAML.
#include <cmath>
#include <cstdio>

#include "core/data/loader.h"
#include "core/data/synthetic_dataset.h"
#include "core/layers/flatten.h"
#include "core/layers/linear.h"
#include "core/model.h"
#include "core/ops.h"
#include "core/optim/adam.h"

using namespace trainer;

// LeakyReLU: y = x for x > 0, slope * x otherwise. Saves its input for backward.
class LeakyReLU : public Layer {
 public:
  LeakyReLU(const Shape& shape, float slope, int64_t index)
      : Layer(shape, shape, index), slope_(slope) {}
  const char* type() const override { return "leaky_relu"; }
  Tensor forward(const Tensor& x, Stash& saved, const ForwardContext&) override {
    Tensor y = Tensor::empty(x.shape());
    for (int64_t i = 0; i < x.numel(); ++i)
      y.f32()[i] = x.f32()[i] > 0 ? x.f32()[i] : slope_ * x.f32()[i];
    saved.tensors = {x};
    return y;
  }
  Tensor backward(const Tensor& dy, Stash& saved) override {
    const Tensor& x = saved.tensors.at(0);
    Tensor dx = Tensor::empty(dy.shape());
    for (int64_t i = 0; i < dy.numel(); ++i)
      dx.f32()[i] = x.f32()[i] > 0 ? dy.f32()[i] : slope_ * dy.f32()[i];
    saved.tensors.clear();
    return dx;
  }

 private:
  float slope_;
};

int main() {
  const uint64_t seed = 7;
  SyntheticDataset train(4096, {1, 8, 8}, 5, 1.5f, seed, Split::Train);
  SyntheticDataset test(1024, {1, 8, 8}, 5, 1.5f, seed, Split::Test);

  Model model({1, 8, 8}, seed);
  model.add(std::make_unique<Flatten>(model.output_shape(), model.next_init().layer_index));
  model.add(std::make_unique<Linear>(64, 32, true, InitScheme::He, model.next_init()));
  model.add(std::make_unique<LeakyReLU>(model.output_shape(), 0.1f, model.next_init().layer_index));
  model.add(std::make_unique<Linear>(32, 5, true, InitScheme::Default, model.next_init()));
  Adam optimizer(model.params(), 0.9f, 0.999f, 1e-8f, 0.0f, /*decoupled=*/false);
  std::printf("model: %zu layers, %lld parameters\n", model.size(),
              static_cast<long long>(model.parameter_count()));

  const int64_t batch = 64;
  DataLoader loader(train, batch, /*shuffle=*/true, seed);
  ModelStash stash;  // activations of the micro-batch in flight, owned here, not by the layers
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    LossTotals loss(Device::cpu());  // the ops add their sums here (on a GPU: in its memory)
    for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
      Batch data = loader.load(epoch, b, 0, batch);
      model.zero_grad();
      const ForwardContext ctx{true, seed,
                               static_cast<uint64_t>(epoch * loader.batches_per_epoch() + b), 0};
      Tensor logits = model.forward(data.x, stash, ctx);  // (batch, 5)
      Tensor dlogits = Tensor::empty(logits.shape());
      ops::cross_entropy(logits, data.y, 1.0f / batch, dlogits, loss);
      model.backward(dlogits, stash);
      optimizer.step(1e-3f);
    }
    std::printf("epoch %lld: mean training loss %.4f\n", static_cast<long long>(epoch + 1),
                loss.read().loss / static_cast<double>(loader.batches_per_epoch() * batch));
  }

  DataLoader eval(test, 256, /*shuffle=*/false, seed);
  LossTotals sums(Device::cpu());
  Tensor no_grad;
  for (int64_t b = 0; b < eval.batches_per_epoch(); ++b) {
    Batch data = eval.load(0, b, 0, eval.batch_rows(b));
    ops::cross_entropy(model.forward(data.x, stash, {false, seed, 0, 0}), data.y, 1.0f, no_grad,
                       sums);
  }
  const double accuracy =
      static_cast<double>(sums.read().correct) / static_cast<double>(test.size());
  std::printf("test accuracy %.2f%%\n", 100.0 * accuracy);
  return accuracy >= 0.9 ? 0 : 1;
}
