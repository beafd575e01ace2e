// The IDX reader on arbitrary bytes, raw or gzipped (the reader decides by the gzip magic):
// headers, dimensions, declared sizes, streams that end early, late or never. Any exception
// but DataError is a finding, as is memory beyond what the input's data holds.
#include "core/data/idx.h"
#include "core/error.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = trainer::fuzz::write_input("input.idx", data, size);
  for (int ndim : {1, 3}) {
    try {
      const trainer::IdxArray a = trainer::read_idx(path, ndim, /*allow_float=*/true);
      if (a.type == trainer::IdxType::Float) a.floats();
    } catch (const trainer::DataError&) {
    }
  }
  return 0;
}
