// The fused attention kernels that core/cuda/flash_attention.cu launches, and what their launches
// share (grid, shared-memory layouts, scale): the device half of that file. Device code: include
// it from a .cu file, or after the tests' host emulation (tests/emulation/cuda_emulation.h), which
// also defines dynamic_shared().
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#ifdef __CUDACC__
#include <mma.h>
#endif

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/cuda/element.cuh"
#include "core/cuda/reduce.cuh"

namespace trainer::cuda::flash {

namespace wmma = nvcuda::wmma;

#ifdef __CUDACC__
// The block's dynamic shared memory.
__device__ inline unsigned char* dynamic_shared() {
  extern __shared__ __align__(128) unsigned char smem[];
  return smem;
}
#endif

// A block: 4 warps, 64 query rows (or keys), each warp 16 of them; key (or query) tiles of 64.
constexpr int kTile = 64;
constexpr int kWarps = 4;
constexpr int kFlashThreads = kWarps * kWarp;
constexpr int kFrag = 16;  // wmma's m = n = k
// Row padding in shared memory against bank conflicts; it keeps every fragment's start 32-byte
// aligned, as wmma's loads and stores need (16 rows of a padded row are a multiple of 32 bytes).
constexpr int kPad16 = 8;
constexpr int kPad32 = 4;

// In a warp's 16 rows of a 64-wide tile, lane l works on row l / 2, half l % 2 of its columns.
constexpr int kHalf = kTile / 2;

template <class E>
struct Mma;
template <>
struct Mma<F16Elem> {
  using T = __half;
};
template <>
struct Mma<Bf16Elem> {
  using T = __nv_bfloat16;
};

using Acc = wmma::fragment<wmma::accumulator, kFrag, kFrag, kFrag, float>;

// acc += A(16 x K) B(K x 16), A row-major at a (ld lda), B at b: row-major (element (k, n) at
// b[k * ldb + n]: a V tile) or col-major (b[n * ldb + k]: the transpose of a row-major K tile).
template <class E, class BLayout>
__device__ void mma_k(Acc& acc, const uint16_t* a, int lda, const uint16_t* b, int ldb, int K) {
  using W = typename Mma<E>::T;
  constexpr bool b_rows = std::is_same_v<BLayout, wmma::row_major>;
  wmma::fragment<wmma::matrix_a, kFrag, kFrag, kFrag, W, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, kFrag, kFrag, kFrag, W, BLayout> fb;
  for (int k = 0; k < K; k += kFrag) {
    wmma::load_matrix_sync(fa, reinterpret_cast<const W*>(a + k), lda);
    wmma::load_matrix_sync(fb, reinterpret_cast<const W*>(b_rows ? b + k * ldb : b + k), ldb);
    wmma::mma_sync(acc, fa, fb, acc);
  }
}

// The 16 columns from j of B as mma_k reads it.
template <class BLayout>
__device__ const uint16_t* columns(const uint16_t* b, int ldb, int j) {
  return std::is_same_v<BLayout, wmma::row_major> ? b + j : b + j * ldb;
}

// out(16 x 64) = A(16 x K) B(K x 64), in float (ld ldo).
template <class E, class BLayout>
__device__ void warp_product(const uint16_t* a, int lda, const uint16_t* b, int ldb, int K,
                             float* out, int ldo) {
  for (int j = 0; j < kTile; j += kFrag) {
    Acc acc;
    wmma::fill_fragment(acc, 0.0f);
    mma_k<E, BLayout>(acc, a, lda, columns<BLayout>(b, ldb, j), ldb, K);
    wmma::store_matrix_sync(out + j, acc, ldo, wmma::mem_row_major);
  }
}

// acc[j / 16] += A(16 x 64) B(64 x kD) over the kD / 16 column blocks of B (row-major).
template <class E, int kD>
__device__ void accumulate(Acc (&acc)[kD / kFrag], const uint16_t* a, int lda, const uint16_t* b,
                           int ldb) {
  for (int j = 0; j < kD; j += kFrag)
    mma_k<E, wmma::row_major>(acc[j / kFrag], a, lda, b + j, ldb, kTile);
}

// Rows [r0, r0 + 64) of the (T, ld) matrix whose first column is src, kD columns, into dst (ld
// kD + kPad16); rows from T on as zeros. 16 bytes a thread at a time, the block's threads together.
template <int kD>
__device__ void load_tile(uint16_t* dst, const uint16_t* src, int64_t ld, int64_t r0, int64_t T) {
  constexpr int kChunks = kD / 8;
  for (int i = threadIdx.x; i < kTile * kChunks; i += kFlashThreads) {
    const int r = i / kChunks, c = i % kChunks;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r0 + r < T) v = *reinterpret_cast<const uint4*>(src + (r0 + r) * ld + c * 8);
    *reinterpret_cast<uint4*>(dst + r * (kD + kPad16) + c * 8) = v;
  }
}

// dst[0, kN) = src[i] x mul rounded to E once, 16 bytes a store.
template <class E, int kN>
__device__ void store_row(const float* src, float mul, uint16_t* dst) {
  for (int i = 0; i < kN; i += 8) {
    uint16_t v[8];
    for (int j = 0; j < 8; ++j) v[j] = E::put(src[i + j] * mul);
    uint4 packed;
    memcpy(&packed, v, sizeof packed);
    *reinterpret_cast<uint4*>(dst + i) = packed;
  }
}

// The warp's 16 x kD float accumulators, through its float scratch (ld kD + kPad32), to rows
// [row0, row0 + 16) of dst (ld ld, those before T), times mul; lane-pair layout as everywhere.
template <class E, int kD>
__device__ void store_rows(const Acc (&acc)[kD / kFrag], float* scratch, float mul, uint16_t* dst,
                           int64_t ld, int64_t row0, int64_t T) {
  constexpr int ldo = kD + kPad32;
  const int lane = threadIdx.x % kWarp, r = lane / 2, half = lane % 2;
  __syncwarp();
  for (int j = 0; j < kD; j += kFrag)
    wmma::store_matrix_sync(scratch + j, acc[j / kFrag], ldo, wmma::mem_row_major);
  __syncwarp();
  if (row0 + r < T)
    store_row<E, kD / 2>(scratch + r * ldo + half * (kD / 2), mul,
                         dst + (row0 + r) * ld + half * (kD / 2));
  __syncwarp();
}

// Row lengths and per-warp sizes, in elements, of the kernels' shared memory.
template <int kD>
struct Shapes {
  static constexpr int ld16 = kD + kPad16;    // a Q, K, V or dO tile's rows
  static constexpr int lds = kTile + kPad32;  // a warp's float 16 x 64 scores
  static constexpr int ldp = kTile + kPad16;  // a warp's 16-bit 16 x 64 P or dS
  static constexpr int ldo = kD + kPad32;     // a warp's float 16 x kD rows
  static constexpr size_t tile16 = size_t{kTile} * ld16;
  static constexpr size_t warp_s = size_t{kFrag} * lds;
  static constexpr size_t warp_p = size_t{kFrag} * ldp;
  static constexpr size_t warp_o = size_t{kFrag} * ldo;
  // A warp's scores and dP (backward), whose room the epilogue's kD columns then reuse.
  static_assert(2 * lds >= ldo, "the epilogue's rows fit in the scores' room");
};

// Bytes of `count` elements of T, rounded up so that the next region starts 128-byte aligned.
template <class T>
constexpr size_t region(size_t count) {
  return (count * sizeof(T) + 127) / 128 * 128;
}

// Forward's shared memory: the Q, K and V tiles; each warp's float scores, 16-bit P and float O.
// `bytes` is what the launch asks for; a kernel's view takes its warp's part.
template <int kD>
struct ForwardShared {
  using S = Shapes<kD>;
  static constexpr size_t scores = region<uint16_t>(3 * S::tile16);
  static constexpr size_t probs = scores + region<float>(kWarps * S::warp_s);
  static constexpr size_t out = probs + region<uint16_t>(kWarps * S::warp_p);
  static constexpr size_t bytes = out + region<float>(kWarps * S::warp_o);

  uint16_t *Qs, *Ks, *Vs, *Pw;
  float *Sw, *Ow;
  __device__ ForwardShared(unsigned char* base, int warp)
      : Qs(reinterpret_cast<uint16_t*>(base)),
        Ks(Qs + S::tile16),
        Vs(Ks + S::tile16),
        Pw(reinterpret_cast<uint16_t*>(base + probs) + warp * S::warp_p),
        Sw(reinterpret_cast<float*>(base + scores) + warp * S::warp_s),
        Ow(reinterpret_cast<float*>(base + out) + warp * S::warp_o) {}
};

// Backward's, both kernels': the Q, dO, K and V tiles; each warp's float scores and dP (which the
// epilogue reuses), its 16-bit P and dS; the query tile's (m, 1 / l, Δ) rows (dK, dV only).
template <int kD>
struct BackwardShared {
  using S = Shapes<kD>;
  static constexpr size_t scores = region<uint16_t>(4 * S::tile16);
  static constexpr size_t probs = scores + region<float>(kWarps * 2 * S::warp_s);
  static constexpr size_t stats = probs + region<uint16_t>(kWarps * 2 * S::warp_p);
  static constexpr size_t bytes = stats + region<float>(3 * kTile);

  uint16_t *Qs, *dOs, *Ks, *Vs, *Pw, *dSw;
  float *Sw, *dPw, *qstat;
  __device__ BackwardShared(unsigned char* base, int warp)
      : Qs(reinterpret_cast<uint16_t*>(base)),
        dOs(Qs + S::tile16),
        Ks(dOs + S::tile16),
        Vs(Ks + S::tile16),
        Pw(reinterpret_cast<uint16_t*>(base + probs) + warp * 2 * S::warp_p),
        dSw(Pw + S::warp_p),
        Sw(reinterpret_cast<float*>(base + scores) + warp * 2 * S::warp_s),
        dPw(Sw + S::warp_s),
        qstat(reinterpret_cast<float*>(base + stats)) {}
};

// Forward: block (query tile, head, sequence). Each warp's 16 rows walk the key tiles up to their
// diagonal: S = scale Q Kᵀ in float, masked; the row's maximum m and sum l updated; O (float, in
// shared memory) rescaled by exp(m_old - m_new) and P V added, P rounded to 16 bits. At the end
// y = O / l and stats = (m, 1 / l): the stats the unfused softmax writes.
template <class E, int kD>
__global__ void __launch_bounds__(kFlashThreads)
    forward_kernel(int64_t T, int64_t H, float scale, const uint16_t* qkv, uint16_t* y,
                   float2* stats) {
  using S = Shapes<kD>;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, r = lane / 2, half = lane % 2;
  const ForwardShared<kD> sh(dynamic_shared(), warp);
  uint16_t *Qs = sh.Qs, *Ks = sh.Ks, *Vs = sh.Vs, *Pw = sh.Pw;
  float *Sw = sh.Sw, *Ow = sh.Ow;

  const int64_t n = blockIdx.z, h = blockIdx.y, q0 = int64_t{blockIdx.x} * kTile;
  const int64_t C = H * kD, C3 = 3 * C;
  const uint16_t* base = qkv + n * T * C3 + h * kD;  // q; k at + C, v at + 2C
  const int64_t w0 = q0 + warp * kFrag, t = w0 + r;
  load_tile<kD>(Qs, base, C3, q0, T);
  for (int i = lane; i < kFrag * S::ldo; i += kWarp) Ow[i] = 0.0f;

  float m = -INFINITY, l = 0.0f;
  const int64_t last = (q0 + kTile < T ? q0 + kTile : T) - 1;
  for (int64_t k0 = 0; k0 <= last; k0 += kTile) {
    __syncthreads();  // every warp is done with the last tile's K and V
    load_tile<kD>(Ks, base + C, C3, k0, T);
    load_tile<kD>(Vs, base + 2 * C, C3, k0, T);
    __syncthreads();
    if (w0 >= T || k0 > w0 + kFrag - 1) continue;  // no row of the warp sees this tile
    warp_product<E, wmma::col_major>(Qs + warp * kFrag * S::ld16, S::ld16, Ks, S::ld16, kD, Sw,
                                     S::lds);
    __syncwarp();
    // The first tile holds position 0, which every row sees: m is finite from then on.
    float* srow = Sw + r * S::lds + half * kHalf;
    float mx = -INFINITY;
    for (int c = 0; c < kHalf; ++c) {
      const float v = k0 + half * kHalf + c <= t ? srow[c] * scale : -INFINITY;
      srow[c] = v;
      mx = fmaxf(mx, v);
    }
    const float m_new = fmaxf(m, fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1)));
    const float alpha = expf(m - m_new);
    uint16_t* prow = Pw + r * S::ldp + half * kHalf;
    float sum = 0.0f;
    for (int c = 0; c < kHalf; ++c) {
      const float p = expf(srow[c] - m_new);
      prow[c] = E::put(p);
      sum += p;
    }
    l = l * alpha + sum + __shfl_xor_sync(0xffffffffu, sum, 1);
    m = m_new;
    float* orow = Ow + r * S::ldo + half * (kD / 2);
    for (int d = 0; d < kD / 2; ++d) orow[d] *= alpha;
    __syncwarp();
    for (int j = 0; j < kD; j += kFrag) {
      Acc acc;
      wmma::load_matrix_sync(acc, Ow + j, S::ldo, wmma::mem_row_major);
      mma_k<E, wmma::row_major>(acc, Pw, S::ldp, Vs + j, S::ld16, kTile);
      wmma::store_matrix_sync(Ow + j, acc, S::ldo, wmma::mem_row_major);
    }
    __syncwarp();
  }
  if (t < T) {
    const float inv = 1.0f / l;
    store_row<E, kD / 2>(Ow + r * S::ldo + half * (kD / 2), inv,
                         y + (n * T + t) * C + h * kD + half * (kD / 2));
    if (half == 0) stats[(n * H + h) * T + t] = make_float2(m, inv);
  }
}

// Δ of each row (n, h, t), as stats are laid out: dy · y over the head's D columns, in float.
template <class E>
__global__ void row_dot_kernel(int64_t rows, int64_t T, int64_t H, int64_t D, const uint16_t* dy,
                               const uint16_t* y, float* delta) {
  const int64_t r = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= rows) return;
  const int64_t n = r / (H * T), h = r / T % H, t = r % T;
  const int64_t at = (n * T + t) * H * D + h * D;
  const float dot = warp_dot<E>(dy + at, y + at, D);
  if (lane == 0) delta[r] = dot;
}

// The warp's 16 x 64 tile of dS (and of P, when p_out) from its scores s and dP (float, ld lds):
// P = exp(scale s - m) / l from forward's stats where the query sees the key, else 0, and
// dS = P (dP - Δ). Element (r, c) is (query, key), or (key, query) in a transposed tile:
// `visible(r, c)` says whether the query sees the key, `stat(r, c)` gives its (m, 1 / l, Δ).
template <class E, class Visible, class Stat>
__device__ void softmax_grad_tile(const float* s, const float* dp, int lds, float scale,
                                  Visible visible, Stat stat, uint16_t* p_out, uint16_t* ds_out,
                                  int ldp) {
  const int lane = threadIdx.x % kWarp, r = lane / 2, half = lane % 2;
  for (int c = half * kHalf; c < (half + 1) * kHalf; ++c) {
    const float3 st = stat(r, c);  // (m, 1 / l, Δ) of the element's query
    const float p = visible(r, c) ? expf(s[r * lds + c] * scale - st.x) * st.y : 0.0f;
    if (p_out) p_out[r * ldp + c] = E::put(p);
    ds_out[r * ldp + c] = E::put(p * (dp[r * lds + c] - st.z));
  }
}

// Backward's step for one tile pair: the warp's scores S = A Bᵀ and dP = dA dBᵀ again (its rows
// of A and dA: queries and dO, or keys and V; B and dB the block's tile of the other side), then
// dS and (if P) P through softmax_grad_tile.
template <class E, int kD, class Visible, class Stat>
__device__ void recompute_grad_tile(const uint16_t* a, const uint16_t* b, const uint16_t* da,
                                    const uint16_t* db, float* Sw, float* dPw, float scale,
                                    Visible visible, Stat stat, uint16_t* P, uint16_t* dS) {
  using S = Shapes<kD>;
  warp_product<E, wmma::col_major>(a, S::ld16, b, S::ld16, kD, Sw, S::lds);
  warp_product<E, wmma::col_major>(da, S::ld16, db, S::ld16, kD, dPw, S::lds);
  __syncwarp();
  softmax_grad_tile<E>(Sw, dPw, S::lds, scale, visible, stat, P, dS, S::ldp);
  __syncwarp();
}

struct RowVisible {  // a query tile's rows against a key tile's columns
  int64_t t0, k0, T;
  __device__ bool operator()(int r, int c) const { return k0 + c <= t0 + r && t0 + r < T; }
};
struct RowStat {  // the lane's own row's stats, the same for every column
  float3 st;
  __device__ float3 operator()(int, int) const { return st; }
};
struct ColumnVisible {  // a key tile's rows against a query tile's columns
  int64_t s0, q0, T;
  __device__ bool operator()(int r, int c) const { return s0 + r <= q0 + c && q0 + c < T; }
};
struct ColumnStat {  // the column's query's stats, from the block's shared copy
  const float *m, *inv, *delta;
  __device__ float3 operator()(int, int c) const { return make_float3(m[c], inv[c], delta[c]); }
};

// dQ: block (query tile, head, sequence); each warp's 16 rows walk the key tiles up to their
// diagonal: S and dP = dO Vᵀ again, dS, and dQ += dS K in registers; dQ x scale at the end.
template <class E, int kD>
__global__ void __launch_bounds__(kFlashThreads)
    dq_kernel(int64_t T, int64_t H, float scale, const uint16_t* qkv, const uint16_t* dy,
              const float2* stats, const float* delta, uint16_t* dqkv) {
  using S = Shapes<kD>;
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, r = lane / 2;
  const BackwardShared<kD> sh(dynamic_shared(), warp);
  uint16_t *Qs = sh.Qs, *dOs = sh.dOs, *Ks = sh.Ks, *Vs = sh.Vs, *dSw = sh.dSw;
  float *Sw = sh.Sw, *dPw = sh.dPw;

  const int64_t n = blockIdx.z, h = blockIdx.y, q0 = int64_t{blockIdx.x} * kTile;
  const int64_t C = H * kD, C3 = 3 * C;
  const uint16_t* base = qkv + n * T * C3 + h * kD;
  const int64_t w0 = q0 + warp * kFrag, t = w0 + r;
  load_tile<kD>(Qs, base, C3, q0, T);
  load_tile<kD>(dOs, dy + n * T * C + h * kD, C, q0, T);
  const int64_t row = (n * H + h) * T + t;
  const RowStat stat{t < T ? make_float3(stats[row].x, stats[row].y, delta[row])
                           : make_float3(0.0f, 0.0f, 0.0f)};
  Acc dq[kD / kFrag];
  for (auto& a : dq) wmma::fill_fragment(a, 0.0f);

  const int64_t last = (q0 + kTile < T ? q0 + kTile : T) - 1;
  for (int64_t k0 = 0; k0 <= last; k0 += kTile) {
    __syncthreads();
    load_tile<kD>(Ks, base + C, C3, k0, T);
    load_tile<kD>(Vs, base + 2 * C, C3, k0, T);
    __syncthreads();
    if (w0 >= T || k0 > w0 + kFrag - 1) continue;
    const int rows = warp * kFrag * S::ld16;  // the warp's queries
    recompute_grad_tile<E, kD>(Qs + rows, Ks, dOs + rows, Vs, Sw, dPw, scale, RowVisible{w0, k0, T},
                               stat, nullptr, dSw);
    accumulate<E, kD>(dq, dSw, S::ldp, Ks, S::ld16);
  }
  store_rows<E, kD>(dq, Sw, scale, dqkv + n * T * C3 + h * kD, C3, w0, T);
}

// dK and dV: block (key tile, head, sequence); each warp's 16 keys walk the query tiles from
// their diagonal on: Sᵀ = K Qᵀ and dPᵀ = V dOᵀ again, Pᵀ and dSᵀ, dV += Pᵀ dO and dK += dSᵀ Q in
// registers; dK x scale at the end.
template <class E, int kD>
__global__ void __launch_bounds__(kFlashThreads)
    dkdv_kernel(int64_t T, int64_t H, float scale, const uint16_t* qkv, const uint16_t* dy,
                const float2* stats, const float* delta, uint16_t* dqkv) {
  using S = Shapes<kD>;
  const int warp = threadIdx.x / kWarp;
  const BackwardShared<kD> sh(dynamic_shared(), warp);
  uint16_t *Qs = sh.Qs, *dOs = sh.dOs, *Ks = sh.Ks, *Vs = sh.Vs, *Pw = sh.Pw, *dSw = sh.dSw;
  float *Sw = sh.Sw, *dPw = sh.dPw, *qstat = sh.qstat;

  const int64_t n = blockIdx.z, h = blockIdx.y, k0 = int64_t{blockIdx.x} * kTile;
  const int64_t C = H * kD, C3 = 3 * C;
  const uint16_t* base = qkv + n * T * C3 + h * kD;
  const int64_t s0 = k0 + warp * kFrag;  // the warp's first key
  load_tile<kD>(Ks, base + C, C3, k0, T);
  load_tile<kD>(Vs, base + 2 * C, C3, k0, T);
  Acc dk[kD / kFrag], dv[kD / kFrag];
  for (auto& a : dk) wmma::fill_fragment(a, 0.0f);
  for (auto& a : dv) wmma::fill_fragment(a, 0.0f);
  const ColumnStat stat{qstat, qstat + kTile, qstat + 2 * kTile};

  for (int64_t q0 = k0; q0 < T; q0 += kTile) {  // the tiles with a query at or after a key here
    __syncthreads();
    load_tile<kD>(Qs, base, C3, q0, T);
    load_tile<kD>(dOs, dy + n * T * C + h * kD, C, q0, T);
    if (threadIdx.x < kTile) {
      const int64_t q = q0 + threadIdx.x, row = (n * H + h) * T + q;
      qstat[threadIdx.x] = q < T ? stats[row].x : 0.0f;
      qstat[kTile + threadIdx.x] = q < T ? stats[row].y : 0.0f;
      qstat[2 * kTile + threadIdx.x] = q < T ? delta[row] : 0.0f;
    }
    __syncthreads();
    if (s0 >= T) continue;                    // the warp's keys are all padding
    const int rows = warp * kFrag * S::ld16;  // the warp's keys
    recompute_grad_tile<E, kD>(Ks + rows, Qs, Vs + rows, dOs, Sw, dPw, scale,
                               ColumnVisible{s0, q0, T}, stat, Pw, dSw);
    accumulate<E, kD>(dv, Pw, S::ldp, dOs, S::ld16);
    accumulate<E, kD>(dk, dSw, S::ldp, Qs, S::ld16);
  }
  uint16_t* dk_out = dqkv + n * T * C3 + C + h * kD;
  store_rows<E, kD>(dk, Sw, scale, dk_out, C3, s0, T);
  store_rows<E, kD>(dv, Sw, 1.0f, dk_out + C, C3, s0, T);
}

inline dim3 grid(int64_t N, int64_t T, int64_t H) {
  return dim3(static_cast<unsigned>((T + kTile - 1) / kTile), static_cast<unsigned>(H),
              static_cast<unsigned>(N));
}

inline float scale_of(int64_t D) { return 1.0f / std::sqrt(static_cast<float>(D)); }

}  // namespace trainer::cuda::flash
