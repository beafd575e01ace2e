#include "core/file_access.h"

#include <filesystem>

#include "core/error.h"

namespace trainer {

std::string regular_file_problem(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) return "cannot reach it: " + ec.message();
  if (!std::filesystem::exists(status)) return "file not found";
  if (!std::filesystem::is_regular_file(status))
    return "not a regular file (a directory, device or FIFO)";
  return "";
}

void require_regular_file(const std::string& path) {
  const std::string problem = regular_file_problem(path);
  if (!problem.empty()) throw DataError(path + ": " + problem);
}

}  // namespace trainer
