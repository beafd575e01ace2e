// Files that are whole or absent: written to a temporary beside the target, flushed with every
// error checked, fsynced, renamed into place, and the directory synced. A full disk or a crash
// leaves the previous file (or none), never an empty or half-written one.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace trainer {

// Written piece by piece (a file larger than memory would hold twice), in place once committed.
class DurableFile {
 public:
  // Throws OutputError "cannot write <path>: <reason>".
  explicit DurableFile(const std::string& path);
  // Without commit() (an error on the way), the temporary is removed and `path` left as it was.
  ~DurableFile();
  DurableFile(const DurableFile&) = delete;
  DurableFile& operator=(const DurableFile&) = delete;

  void write(const void* data, size_t bytes);  // throws OutputError
  // Flushes, fsyncs and renames the file into place. Throws OutputError.
  void commit();

 private:
  [[noreturn]] void fail(int err);
  std::string path_, tmp_;
  FILE* f_ = nullptr;
};

// The whole of `text` as one durable file. Throws OutputError "cannot write <path>: <reason>".
void write_file_durably(const std::string& path, const std::string& text);

// Makes the renames inside `dir` durable (best effort: a directory that cannot be opened is
// left as it is).
void fsync_directory(const std::string& dir);

}  // namespace trainer
