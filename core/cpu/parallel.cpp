#include "core/cpu/parallel.h"

#include <cblas.h>

namespace trainer::cpu {

void set_threads(int threads) {
  openblas_set_num_threads(1);
  if (threads > 0) omp_set_num_threads(threads);
}

int threads() { return omp_get_max_threads(); }

}  // namespace trainer::cpu
