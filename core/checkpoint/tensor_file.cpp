#include "core/checkpoint/tensor_file.h"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace trainer {

static constexpr char kMagic[8] = {'T', 'R', 'N', 'T', 'E', 'N', 'S', '1'};

using File = std::unique_ptr<FILE, int (*)(FILE*)>;

static File open_file(const std::string& path, const char* mode) {
  FILE* f = std::fopen(path.c_str(), mode);
  if (!f) throw CheckpointError("cannot open " + path + ": " + std::strerror(errno));
  return File(f, std::fclose);
}

namespace {
// Writes through stdio and keeps a running CRC-32 of what it wrote.
class Writer {
 public:
  explicit Writer(const std::string& path) : path_(path), f_(open_file(path, "wb")) {}
  void put(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f_.get()) != n) fail();
    crc_ = crc32_z(crc_, static_cast<const Bytef*>(p), n);
  }
  template <class T>
  void put(T v) {
    put(&v, sizeof v);
  }
  uint32_t finish() {
    if (std::fflush(f_.get()) != 0 || fsync(fileno(f_.get())) != 0) fail();
    FILE* f = f_.release();
    if (std::fclose(f) != 0) fail();
    return static_cast<uint32_t>(crc_);
  }

 private:
  [[noreturn]] void fail() {
    throw CheckpointError("cannot write " + path_ + ": " + std::strerror(errno));
  }
  std::string path_;
  File f_;
  uLong crc_ = crc32(0L, Z_NULL, 0);
};

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path), f_(open_file(path, "rb")) {}
  void get(void* p, size_t n) {
    if (n && std::fread(p, 1, n, f_.get()) != n) throw CheckpointError(path_ + ": truncated");
  }
  template <class T>
  T get() {
    T v;
    get(&v, sizeof v);
    return v;
  }

 private:
  std::string path_;
  File f_;
};
}  // namespace

// Weights and optimizer state are kept in f32 (16-bit copies are made from them, never saved).
static bool all_finite(const Tensor& host) {
  const float* v = host.f32();
  for (int64_t i = 0; i < host.numel(); ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

uint32_t write_tensor_file(const std::string& path, const NamedTensors& tensors) {
  Writer w(path);
  w.put(kMagic, sizeof kMagic);
  w.put<uint64_t>(tensors.size());
  for (const auto& [name, t] : tensors) {
    w.put<uint32_t>(static_cast<uint32_t>(name.size()));
    w.put(name.data(), name.size());
    w.put<uint32_t>(static_cast<uint32_t>(t->dtype()));
    w.put<uint32_t>(static_cast<uint32_t>(t->ndim()));
    for (int64_t d : t->shape()) w.put<int64_t>(d);
    const Tensor host = t->to(Device::cpu());  // a GPU tensor is written from a host copy
    // A checkpoint is what a run resumes from: one holding NaN or infinity is never written.
    if (host.dtype() == DType::F32 && !all_finite(host))
      throw CheckpointError(path + ": " + name + " holds non-finite values");
    w.put(host.raw(), host.bytes());
  }
  return w.finish();
}

namespace {
// One tensor's record before its data: name, dtype, shape.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
};

// Opens `path`, checks its magic and returns its tensor count; the reader is left at the first
// entry.
uint64_t open_entries(Reader& r, const std::string& path) {
  char magic[sizeof kMagic];
  r.get(magic, sizeof magic);
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0)
    throw CheckpointError(path + ": not a tensor file");
  return r.get<uint64_t>();
}

Entry next_entry(Reader& r, const std::string& path) {
  // The lengths come from the file: bounded before anything is allocated from them.
  const uint32_t name_bytes = r.get<uint32_t>();
  if (name_bytes > 4096)
    throw CheckpointError(path + ": corrupt (a tensor name of " + std::to_string(name_bytes) +
                          " bytes)");
  Entry e;
  e.name.resize(name_bytes);
  r.get(e.name.data(), e.name.size());
  const uint32_t dtype = r.get<uint32_t>();
  if (dtype > static_cast<uint32_t>(DType::I32))
    throw CheckpointError(path + ": corrupt (dtype " + std::to_string(dtype) + ")");
  e.dtype = static_cast<DType>(dtype);
  const uint32_t ndim = r.get<uint32_t>();
  if (ndim > 8)
    throw CheckpointError(path + ": corrupt (a tensor of " + std::to_string(ndim) + " dimensions)");
  e.shape.resize(ndim);
  for (int64_t& d : e.shape) {
    d = r.get<int64_t>();
    if (d < 0 || d > (int64_t{1} << 40))
      throw CheckpointError(path + ": corrupt (dimension " + std::to_string(d) + ")");
  }
  return e;
}
}  // namespace

void read_tensor_file(const std::string& path, const NamedTensors& tensors) {
  Reader r(path);
  const uint64_t count = open_entries(r, path);
  if (count != tensors.size())
    throw CheckpointError(path + ": holds " + std::to_string(count) + " tensors, the model has " +
                          std::to_string(tensors.size()));
  for (const auto& [name, t] : tensors) {
    const Entry e = next_entry(r, path);
    if (e.name != name || e.dtype != t->dtype() || e.shape != t->shape())
      throw CheckpointError(path + ": holds " + e.name + " " + shape_str(e.shape) +
                            ", the run expects " + name + " " + shape_str(t->shape()));
    if (t->device().is_cpu()) {
      r.get(t->raw(), t->bytes());
    } else {
      Tensor host = Tensor::empty(t->shape(), t->dtype());
      r.get(host.raw(), host.bytes());
      t->copy_from(host);
    }
  }
}

std::vector<std::pair<std::string, Tensor>> read_all_tensors(const std::string& path) {
  Reader r(path);
  const uint64_t count = open_entries(r, path);
  std::vector<std::pair<std::string, Tensor>> out;
  for (uint64_t i = 0; i < count; ++i) {
    Entry e = next_entry(r, path);
    Tensor t = Tensor::empty(e.shape, e.dtype);
    r.get(t.raw(), t.bytes());
    out.emplace_back(std::move(e.name), std::move(t));
  }
  return out;
}

std::pair<uint32_t, uint64_t> file_crc32(const std::string& path) {
  File f = open_file(path, "rb");
  uLong crc = crc32(0L, Z_NULL, 0);
  uint64_t size = 0;
  unsigned char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
    crc = crc32_z(crc, buf, n);
    size += n;
  }
  return {static_cast<uint32_t>(crc), size};
}

}  // namespace trainer
