#include "core/checkpoint/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace trainer {

namespace fs = std::filesystem;

static std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step_%08lld", static_cast<long long>(step));
  return buf;
}

// A rename is only durable once the directory holding it is synced.
static void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

static void write_text_durably(const fs::path& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw CheckpointError("cannot write " + path.string() + ": " + std::strerror(errno));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() &&
                  std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  const int err = errno;
  if (std::fclose(f) != 0 || !ok)
    throw CheckpointError("cannot write " + path.string() + ": " + std::strerror(ok ? errno : err));
}

static void rename_or_throw(const fs::path& from, const fs::path& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0)
    throw CheckpointError("cannot rename " + from.string() + " to " + to.string() + ": " +
                          std::strerror(errno));
}

// Removes all but the newest `keep` checkpoints up to `step`. Checkpoints of later steps belong
// to an earlier, longer run in the same directory: they are not this run's to delete.
static void prune(const fs::path& root, int keep, int64_t step) {
  const std::string newest = step_dir_name(step);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.rfind("step_", 0) == 0 && name <= newest) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (size_t i = 0; i + static_cast<size_t>(keep) < names.size(); ++i) {
    std::error_code ec;
    fs::remove_all(root / names[i],
                   ec);  // a checkpoint that cannot be removed is only wasted space
  }
}

std::string staging_dir(const std::string& root, int64_t step) {
  return (fs::path(root) / (".tmp-" + step_dir_name(step))).string();
}

std::string stage_checkpoint(const std::string& root_str, int64_t step) {
  const fs::path root(root_str);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw CheckpointError("cannot create " + root.string() + ": " + ec.message());
  // One name for every writer of this step; a leftover of a crashed save is replaced.
  const fs::path staging = staging_dir(root_str, step);
  fs::remove_all(staging, ec);
  if (!fs::create_directory(staging, ec))
    throw CheckpointError("cannot create " + staging.string() + ": " +
                          (ec ? ec.message() : "exists"));
  return staging.string();
}

nlohmann::json write_checkpoint_files(const std::string& staging,
                                      const std::vector<TensorGroup>& groups) {
  nlohmann::json files = nlohmann::json::object();
  for (const TensorGroup& g : groups) {
    const fs::path path = fs::path(staging) / g.file;
    const uint32_t crc = write_tensor_file(path.string(), g.tensors);
    files[g.file] = {{"crc32", crc}, {"bytes", fs::file_size(path)}};
  }
  return files;
}

std::string commit_checkpoint(const std::string& root_str, int64_t step, const std::string& staging,
                              nlohmann::json meta, int keep) {
  const fs::path root(root_str), tmp(staging);
  const std::string name = step_dir_name(step);
  meta["step"] = step;
  write_text_durably(tmp / "meta.json", meta.dump(2) + "\n");
  fsync_dir(tmp);
  const fs::path final_dir = root / name;
  std::error_code ec;
  fs::remove_all(final_dir, ec);  // a stale copy of the same step, from a run resumed earlier
  rename_or_throw(tmp, final_dir);
  fsync_dir(root);
  write_text_durably(root / "latest.tmp", name + "\n");
  rename_or_throw(root / "latest.tmp", root / "latest");
  fsync_dir(root);
  prune(root, keep, step);
  return final_dir.string();
}

void abandon_checkpoint(const std::string& staging) {
  std::error_code ec;
  fs::remove_all(staging, ec);
}

std::string write_checkpoint(const std::string& root, int64_t step,
                             const std::vector<TensorGroup>& groups, nlohmann::json meta,
                             int keep) {
  const std::string staging = stage_checkpoint(root, step);
  try {
    meta["files"] = write_checkpoint_files(staging, groups);
    return commit_checkpoint(root, step, staging, std::move(meta), keep);
  } catch (...) {
    abandon_checkpoint(staging);
    throw;
  }
}

std::optional<std::string> latest_checkpoint(const std::string& root) {
  std::ifstream in(fs::path(root) / "latest");
  std::string name;
  if (!(in >> name)) return std::nullopt;
  return (fs::path(root) / name).string();
}

nlohmann::json verify_checkpoint(const std::string& dir) {
  const fs::path meta_path = fs::path(dir) / "meta.json";
  std::ifstream in(meta_path);
  if (!in) throw CheckpointError(meta_path.string() + ": missing");
  nlohmann::json meta = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded() || !meta.contains("files") || !meta.contains("step"))
    throw CheckpointError(meta_path.string() + ": corrupt (not the JSON a checkpoint writes)");
  for (const auto& [file, info] : meta["files"].items()) {
    const std::string path = (fs::path(dir) / file).string();
    if (!fs::exists(path)) throw CheckpointError(path + ": missing");
    const auto [crc, size] = file_crc32(path);
    if (size != info["bytes"].get<uint64_t>())
      throw CheckpointError(path + ": truncated or altered: " + std::to_string(size) + " bytes, " +
                            "written with " + std::to_string(info["bytes"].get<uint64_t>()));
    if (crc != info["crc32"].get<uint32_t>())
      throw CheckpointError(path + ": checksum mismatch: the file is corrupt");
  }
  return meta;
}

void load_checkpoint_tensors(const std::string& dir, const std::vector<TensorGroup>& groups) {
  for (const TensorGroup& g : groups)
    read_tensor_file((fs::path(dir) / g.file).string(), g.tensors);
}

}  // namespace trainer
