// Input files are used only when they are regular files. A FIFO would block the reader forever,
// a device (/dev/zero) never ends, a directory or a symbolic-link loop fails deep inside a stream
// with a message that names nothing; each is refused up front, with the path.
#pragma once

#include <string>

namespace trainer {

// "" when `path` is (or links to) a regular file; else what is wrong, without the path:
// "file not found", "not a regular file (a directory, device or FIFO)", or the system's reason
// it cannot be reached ("Too many levels of symbolic links").
std::string regular_file_problem(const std::string& path);

// Throws DataError "<path>: <problem>" unless `path` is a regular file.
void require_regular_file(const std::string& path);

}  // namespace trainer
