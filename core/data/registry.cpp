#include <functional>
#include <map>

#include "core/data/idx_dataset.h"
#include "core/data/synthetic_dataset.h"
#include "core/data/token_dataset.h"
#include "core/error.h"

namespace trainer {

using DatasetFactory = std::function<std::unique_ptr<Dataset>(Args&, Split)>;

static const std::map<std::string, DatasetFactory>& registry() {
  static const std::map<std::string, DatasetFactory> r = {
      {"idx", &IdxDataset::create},
      {"synthetic", &SyntheticDataset::create},
      {"tokens", &TokenDataset::create},
  };
  return r;
}

std::unique_ptr<Dataset> make_dataset(const std::string& type, Args& args, Split split) {
  auto it = registry().find(type);
  if (it == registry().end()) throw InternalError("unknown data set type " + type);
  return it->second(args, split);
}

std::vector<std::string> dataset_types() {
  std::vector<std::string> out;
  for (const auto& [name, _] : registry()) out.push_back(name);
  return out;
}

}  // namespace trainer
