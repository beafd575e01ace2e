#include <functional>
#include <map>

#include "core/error.h"
#include "core/optim/adam.h"
#include "core/optim/sgd.h"

namespace trainer {

using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(Args&, std::vector<Param*>)>;

static const std::map<std::string, OptimizerFactory>& registry() {
  static const std::map<std::string, OptimizerFactory> r = {
      {"sgd", &Sgd::create},
      {"adam", &Adam::create<false>},
      {"adamw", &Adam::create<true>},
  };
  return r;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& type, Args& args,
                                          std::vector<Param*> params) {
  auto it = registry().find(type);
  if (it == registry().end()) throw InternalError("unknown optimizer " + type);
  return it->second(args, std::move(params));
}

std::vector<std::string> optimizer_types() {
  std::vector<std::string> out;
  for (const auto& [name, _] : registry()) out.push_back(name);
  return out;
}

}  // namespace trainer
