#include "launcher/rank_agreement.h"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace trainer {

// "key.path = value" for every scalar of the tree, in the tree's order.
static void describe_tree(const YAML::Node& node, const std::string& path,
                          std::vector<std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node)
      describe_tree(kv.second, path.empty() ? kv.first.Scalar() : path + "." + kv.first.Scalar(),
                    out);
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i)
      describe_tree(node[i], path + "[" + std::to_string(i) + "]", out);
  } else {
    out.push_back(path + " = " + (node.IsScalar() ? node.Scalar() : std::string("null")));
  }
}

// "file <path> = <bytes> bytes, header crc32 <crc>" for a data file a key names.
static std::string describe_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "file " + path + " = unreadable";
  const auto size = static_cast<long long>(in.tellg());
  in.seekg(0);
  std::vector<char> head(static_cast<size_t>(std::min<long long>(size, 4096)));
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  const uLong crc =
      crc32(0L, reinterpret_cast<const Bytef*>(head.data()), static_cast<uInt>(head.size()));
  return "file " + path + " = " + std::to_string(size) + " bytes, header crc32 " +
         std::to_string(crc);
}

static std::vector<std::string> describe(const Config& cfg) {
  std::vector<std::string> lines;
  describe_tree(cfg.tree, "", lines);
  for (const YAML::Node& data : {cfg.train_data, cfg.test_data})
    if (data.IsMap())
      for (const char* key : {"images", "labels", "path"})
        if (data[key] && data[key].IsScalar()) lines.push_back(describe_file(data[key].Scalar()));
  if (!cfg.init_from.empty()) lines.push_back(describe_file(cfg.init_from));
  return lines;
}

static std::vector<std::string> split_lines(const char* text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

void check_ranks_agree(Communicator& world, const Config& cfg) {
  if (world.size() == 1) return;
  std::string mine;
  for (const std::string& line : describe(cfg)) mine += line + "\n";
  // Two gathers: every description's length, then each padded to the longest.
  int64_t length = static_cast<int64_t>(mine.size()) + 1;
  std::vector<int64_t> lengths(static_cast<size_t>(world.size()));
  world.all_gather(&length, sizeof length, lengths.data());
  const int64_t width = *std::max_element(lengths.begin(), lengths.end());
  std::vector<char> send(static_cast<size_t>(width), '\0'),
      all(static_cast<size_t>(width * world.size()));
  std::copy(mine.begin(), mine.end(), send.begin());
  world.all_gather(send.data(), width, all.data());
  const std::vector<std::string> first = split_lines(all.data());
  for (int r = 1; r < world.size(); ++r) {
    const std::vector<std::string> other = split_lines(&all[static_cast<size_t>(r * width)]);
    if (other == first) continue;
    size_t i = 0;
    while (i < first.size() && i < other.size() && first[i] == other[i]) ++i;
    const std::string a = i < first.size() ? first[i] : "(nothing)";
    const std::string b = i < other.size() ? other[i] : "(nothing)";
    throw ConfigError("ranks 0 and " + std::to_string(r) +
                      " were started with different configs or data: rank 0 has " + a + ", rank " +
                      std::to_string(r) + " has " + b +
                      "; every rank must run the same config on the same files");
  }
}

}  // namespace trainer
