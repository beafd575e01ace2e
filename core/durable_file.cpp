#include "core/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace trainer {

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

DurableFile::DurableFile(const std::string& path) : path_(path), tmp_(path + ".tmp") {
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) throw OutputError("cannot write " + path_ + ": " + std::strerror(errno));
}

DurableFile::~DurableFile() {
  if (!f_) return;
  std::fclose(f_);
  std::remove(tmp_.c_str());
}

void DurableFile::fail(int err) {
  if (f_) std::fclose(f_);
  f_ = nullptr;
  std::remove(tmp_.c_str());
  throw OutputError("cannot write " + path_ + ": " + std::strerror(err));
}

void DurableFile::write(const void* data, size_t bytes) {
  if (bytes && std::fwrite(data, 1, bytes, f_) != bytes) fail(errno);
}

void DurableFile::commit() {
  if (std::fflush(f_) != 0 || ::fsync(fileno(f_)) != 0) fail(errno);
  FILE* f = f_;
  f_ = nullptr;  // closed here, whatever fclose says
  if (std::fclose(f) != 0) fail(errno);
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp_.c_str());
    throw OutputError("cannot rename " + tmp_ + " to " + path_ + ": " + std::strerror(err));
  }
  fsync_directory(std::filesystem::path(path_).parent_path().string());
}

void write_file_durably(const std::string& path, const std::string& text) {
  DurableFile f(path);
  f.write(text.data(), text.size());
  f.commit();
}

}  // namespace trainer
