#include "core/checkpoint/checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/durable_file.h"
#include "core/error.h"

namespace trainer {

namespace fs = std::filesystem;

static std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step_%08lld", static_cast<long long>(step));
  return buf;
}

// The shared writer's errors, as a checkpoint's (the run keeps its previous checkpoint).
static void write_text_durably(const fs::path& path, const std::string& text) {
  try {
    write_file_durably(path.string(), text);
  } catch (const OutputError& e) {
    throw CheckpointError(e.what());
  }
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
  for (const std::string& dir : step_directories(root.string())) {
    const std::string name = fs::path(dir).filename().string();
    if (name <= newest) names.push_back(name);
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
  fsync_directory(tmp.string());
  const fs::path final_dir = root / name;
  std::error_code ec;
  fs::remove_all(final_dir, ec);  // a stale copy of the same step, from a run resumed earlier
  rename_or_throw(tmp, final_dir);
  fsync_directory(root.string());
  write_text_durably(root / "latest", name + "\n");  // replaced by rename, the root synced
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

// A step directory's name: "step_" and digits only (never a path that leaves the root).
static bool step_name(const std::string& name) {
  return name.size() > 5 && name.rfind("step_", 0) == 0 &&
         name.find_first_not_of("0123456789", 5) == std::string::npos;
}

// A small regular file's text, or nullopt: a FIFO or device in its place would block or never
// end, and anything large is not what a checkpoint writes.
static std::optional<std::string> small_file_text(const fs::path& path, uintmax_t limit) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::is_regular_file(st)) return std::nullopt;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec || size > limit) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<size_t>(size), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) return std::nullopt;
  return text;
}

std::optional<std::string> latest_checkpoint(const std::string& root) {
  const std::optional<std::string> text = small_file_text(fs::path(root) / "latest", 4096);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string name;
  if (!(in >> name) || !step_name(name)) return std::nullopt;
  return (fs::path(root) / name).string();
}

std::vector<std::string> step_directories(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;  // a symbolic-link loop or a vanished entry is skipped, not fatal
    if (step_name(it->path().filename().string()) && it->is_directory(type_ec))
      out.push_back(it->path().string());
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

// The schema a checkpoint's meta.json must have for what this library reads of it: "step", a
// non-negative integer matching the directory's name, and "files", a non-empty object of plain
// file names, each {"crc32": uint32, "bytes": uint64}.
static void check_meta(const nlohmann::json& meta, const fs::path& dir, const std::string& at) {
  if (!meta.is_object()) throw CheckpointError(at + ": expected a JSON object");
  if (!meta.contains("step") || !meta["step"].is_number_unsigned())
    throw CheckpointError(at + ": step: expected a non-negative integer");
  const std::string name = dir.filename().string();
  if (step_name(name) && name != step_dir_name(meta["step"].get<int64_t>()))
    throw CheckpointError(at + ": step " + meta["step"].dump() + " does not match the directory " +
                          name);
  if (!meta.contains("files") || !meta["files"].is_object() || meta["files"].empty())
    throw CheckpointError(at +
                          ": files: expected an object naming every file with its crc32 and "
                          "bytes");
  for (const auto& [file, info] : meta["files"].items()) {
    const bool plain = !file.empty() && file[0] != '.' &&
                       file.find_first_not_of(
                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "0123456789._-") == std::string::npos;
    if (!plain)
      throw CheckpointError(at + ": files: '" + file + "' is not a file name in the directory");
    if (!info.is_object() || info.size() != 2 || !info.contains("crc32") ||
        !info.contains("bytes") || !info["crc32"].is_number_unsigned() ||
        info["crc32"].get<uint64_t>() > 0xffffffffu || !info["bytes"].is_number_unsigned())
      throw CheckpointError(at + ": files." + file +
                            ": expected {\"crc32\": uint32, \"bytes\": integer}");
  }
}

nlohmann::json verify_checkpoint(const std::string& dir_str, const MetaCheck& check) {
  const fs::path dir(dir_str), meta_path = dir / "meta.json";
  const std::string at = meta_path.string();
  std::error_code ec;
  if (!fs::is_regular_file(fs::status(meta_path, ec)))
    throw CheckpointError(at + ": missing (or not a regular file)");
  const std::optional<std::string> text = small_file_text(meta_path, 1 << 20);
  if (!text) throw CheckpointError(at + ": unreadable or larger than a checkpoint writes");
  nlohmann::json meta = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded()) throw CheckpointError(at + ": corrupt (not valid JSON)");
  check_meta(meta, dir, at);
  if (check)
    for (const std::string& file : check(meta, at))
      if (!meta["files"].contains(file))
        throw CheckpointError(at + ": files: " + file + " is missing; the run needs it");
  for (const auto& [file, info] : meta["files"].items()) {
    const fs::path path = dir / file;
    // The file itself, inside the directory: never a link out of it, a FIFO or a device.
    if (!fs::is_regular_file(fs::symlink_status(path, ec)))
      throw CheckpointError(path.string() + ": missing (or not a regular file)");
    const uint64_t recorded = info["bytes"].get<uint64_t>();
    const uintmax_t size = fs::file_size(path, ec);
    if (ec || size != recorded)
      throw CheckpointError(path.string() + ": truncated or altered: " + std::to_string(size) +
                            " bytes, written with " + std::to_string(recorded));
    if (file_crc32(path.string()).first != info["crc32"].get<uint32_t>())
      throw CheckpointError(path.string() + ": checksum mismatch: the file is corrupt");
  }
  return meta;
}

void load_checkpoint_tensors(const std::string& dir, const std::vector<TensorGroup>& groups) {
  for (const TensorGroup& g : groups)
    read_tensor_file((fs::path(dir) / g.file).string(), g.tensors);
}

}  // namespace trainer
