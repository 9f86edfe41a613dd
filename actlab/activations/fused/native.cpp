// Single-pass CPU kernels of the fused trainable activations (see native.py).
//
// Plain C ABI over contiguous arrays, no torch headers (so it builds in about a second). The input
// is viewed as (N, C, S): N samples, C channels, S positions per channel. Parameters are (k, Q):
//   element granularity: Q = C * S, a parameter set per position of one sample;
//   channel granularity: Q = C (layer granularity is channel with C = 1).
// Element kernels walk blocks of positions; per block, the samples in groups of four, so that the
// block's parameters and gradient accumulators stay in cache and x and grad are read exactly
// once. Channel kernels give each thread whole channels and walk the samples in order. Threads
// never share an accumulator, so results do not depend on the thread count. Selects compile to
// blends, not branches, because the build turns off -ftrapping-math (a comparison may not be
// hoisted otherwise); no result changes by it. Base 0 is relu, 1 sigmoid (004 eq. 2/3, 7-9):
//   y = sum_i a_i (g(x - b_i) - o);  dy/dx = sum_i a_i g'(x - b_i);
//   dy/da_i = g(x - b_i) - o;        dy/db_i = -a_i g'(x - b_i).
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr int64_t BLOCK = 4096;  // positions per element block (its accumulators stay in L2)

// Positions per element block: BLOCK on one thread; on several, at most BLOCK and as many blocks
// as a multiple of the threads, so that each thread gets as many (004's second site, 3,872
// positions, was one block, and at 2 threads one thread waited out every call). Each position's
// sums run over the samples in the same order whatever the blocks, so results do not change.
inline int64_t block_span(int64_t q, int threads) {
  if (q <= 0 || threads <= 1) return BLOCK;
  const int64_t blocks = ((q + BLOCK - 1) / BLOCK + threads - 1) / threads * threads;
  const int64_t span = ((q + blocks - 1) / blocks + 15) / 16 * 16;  // whole vectors
  return span < BLOCK ? span : BLOCK;
}

// sigmoid(d) = 1 / (1 + exp(-d)) in float without libm calls, so that loops vectorise:
// t = exp(-|d|) in (0, 1] by Cody-Waite range reduction and a degree-6 polynomial (about 1 ulp;
// its argument is clamped at -87, where t underflows), s = 1 / (1 + t) for d >= 0 and t / (1 + t)
// below, and its slope s (1 - s) = t / (1 + t)^2 for either sign (no cancellation where s is
// near 1). Exponentiating -|d| needs no upper clamp: with two clamps and the exponential of -d,
// GCC's vector code for the element backward (two sigmoids per element, four samples in
// registers) ran out of registers and took 3.8x the forward's time (7.6 ms on 004 §4.2's first
// site, now 2.8 ms against a 2.1 ms forward). A NaN d gives NaN. Double: libm's exp, same formula.
inline void sigmoid_f(float d, float& s, float& slope) {
  float x = -std::fabs(d);
  x = x < -87.0f ? -87.0f : x;
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n
  const float t = p * __builtin_bit_cast(float, bits);
  const float q = 1.0f / (1.0f + t);
  s = d >= 0.0f ? q : t * q;
  slope = t * q * q;
}
inline void sigmoid_f(double d, double& s, double& slope) {
  const double t = std::exp(-std::fabs(d)), q = 1.0 / (1.0 + t);
  s = d >= 0.0 ? q : t * q;
  slope = t * q * q;
}

// g(d) and g'(d) of the base.
template <typename T, int BASE>
inline void base_fn(T d, T& value, T& slope) {
  if (BASE == 0) {
    value = d < T(0) ? T(0) : d;  // a NaN d stays NaN, as in torch.relu
    slope = d > T(0) ? T(1) : T(0);
  } else {
    sigmoid_f(d, value, slope);
  }
}

constexpr int ROWS = 4;  // samples per group in the element kernels

// The K = 1..4 terms' parameters of one position or channel, in named members (no arrays: per-lane
// arrays stop GCC vectorising the loops they are used in); unused terms are 0. Pass it by
// reference: passed by value, GCC left sigmoid's element forward unvectorised (17 ms against 1.9
// on 004 §4.2's first site).
template <typename T>
struct Terms {
  T a0, a1, a2, a3, b0, b1, b2, b3;
};

// Terms at index `at` of (k, stride)-shaped a and b.
template <typename T, int K>
inline Terms<T> load_terms(const T* a, const T* b, int64_t stride, int64_t at) {
  static_assert(K >= 1 && K <= 4, "K = 1..4");
  return {a[at],
          K > 1 ? a[stride + at] : T(0),
          K > 2 ? a[2 * stride + at] : T(0),
          K > 3 ? a[3 * stride + at] : T(0),
          b[at],
          K > 1 ? b[stride + at] : T(0),
          K > 2 ? b[2 * stride + at] : T(0),
          K > 3 ? b[3 * stride + at] : T(0)};
}

// out + sum_i a_i g(x - b_i) over the K terms.
template <typename T, int BASE, int K>
inline T forward_terms(T xv, const Terms<T>& t, T out) {
  T value, slope;
  base_fn<T, BASE>(xv - t.b0, value, slope);
  out += t.a0 * value;
  if constexpr (K > 1) base_fn<T, BASE>(xv - t.b1, value, slope), out += t.a1 * value;
  if constexpr (K > 2) base_fn<T, BASE>(xv - t.b2, value, slope), out += t.a2 * value;
  if constexpr (K > 3) base_fn<T, BASE>(xv - t.b3, value, slope), out += t.a3 * value;
  return out;
}

// R samples (rows q apart) of one element block's forward for K = 1..4 terms: each position's
// parameters loaded once for the group (one sample at a time, the relu base read 4 parameters per
// input from L2 and took 2x the channel kernel's time).
template <typename T, int BASE, int K, int R>
inline void forward_rows_k(const T* x, const T* a, const T* b, const T* shift, T* y, int64_t q,
                           int64_t len) {
#pragma omp simd
  for (int64_t p = 0; p < len; ++p) {
    const Terms<T> t = load_terms<T, K>(a, b, q, p);
    const T sh = shift[p];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) y[r * q + p] = forward_terms<T, BASE, K>(x[r * q + p], t, -sh);
  }
}

// The element kernels take the number of terms as a template argument K (k = 1..4 unroll the
// term loop into the position loop, so each position is loaded and stored once); K = 0 reads k.
template <typename T, int BASE, int K>
void ab_forward_element_k(const T* x, const T* a, const T* b, T* y, int64_t n, int64_t q,
                          int64_t k_, T offset, int threads) {
  const int64_t k = K > 0 ? K : k_;
  const int64_t span = block_span(q, threads), blocks = (q + span - 1) / span;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && n * q > 32768)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t p0 = blk * span, len = q - p0 < span ? q - p0 : span;
    T shift[BLOCK];  // o * sum_i a_i per position
    for (int64_t p = 0; p < len; ++p) shift[p] = 0;
    for (int64_t i = 0; i < k; ++i)
      for (int64_t p = 0; p < len; ++p) shift[p] += a[i * q + p0 + p];
    for (int64_t p = 0; p < len; ++p) shift[p] *= offset;
    const T* ab = a + p0;
    const T* bb = b + p0;
    int64_t s = 0;
    if constexpr (K > 0)
      for (; s + ROWS <= n; s += ROWS)
        forward_rows_k<T, BASE, K, ROWS>(x + s * q + p0, ab, bb, shift, y + s * q + p0, q, len);
    for (; s < n; ++s) {
      const T* xs = x + s * q + p0;
      T* ys = y + s * q + p0;
#pragma omp simd
      for (int64_t p = 0; p < len; ++p) {
        const T xv = xs[p];
        T out = -shift[p];
        for (int64_t i = 0; i < k; ++i) {
          T value, slope;
          base_fn<T, BASE>(xv - bb[i * q + p], value, slope);
          out += ab[i * q + p] * value;
        }
        ys[p] = out;
      }
    }
  }
}

constexpr int64_t CHUNK = 256;  // positions per partial sum in the channel backward

// One sample of one element block for any number of terms k (the k > 4 path): grad_x, and the
// block's accumulators (va, vb: sum of g * value and g * slope per term, BLOCK apart; gsum: sum of
// g) updated in place.
template <typename T, int BASE>
inline void backward_row_any(const T* grad, const T* x, const T* a, const T* b, T* grad_x, T* va,
                             T* vb, T* gsum, int64_t q, int64_t len, int64_t k) {
#pragma omp simd
  for (int64_t p = 0; p < len; ++p) {
    const T xv = x[p], gv = grad[p];
    T gx = 0;
    gsum[p] += gv;
    for (int64_t i = 0; i < k; ++i) {
      T value, slope;
      base_fn<T, BASE>(xv - b[i * q + p], value, slope);
      const T gslope = gv * slope;
      va[i * BLOCK + p] += gv * value;
      vb[i * BLOCK + p] += gslope;
      gx += a[i * q + p] * gslope;
    }
    grad_x[p] = gx;
  }
}

// One term of the element backward at one position: the register accumulators of one group.
template <typename T, int BASE>
inline void backward_term(T xv, T gv, T ai, T bi, T& sum_a, T& sum_b, T& gx) {
  T value, slope;
  base_fn<T, BASE>(xv - bi, value, slope);
  const T gslope = gv * slope;
  sum_a += gv * value;
  sum_b += gslope;
  gx += ai * gslope;
}

// x's gradient over the K terms, sum_i a_i g g'(x - b_i); each term's g value and g slope added to
// its sums (named registers, as the channel kernel's reduction clause needs them).
template <typename T, int BASE, int K>
inline T backward_terms(T xv, T gv, const Terms<T>& t, T& sa0, T& sa1, T& sa2, T& sa3, T& sb0,
                        T& sb1, T& sb2, T& sb3) {
  T gx = 0;
  backward_term<T, BASE>(xv, gv, t.a0, t.b0, sa0, sb0, gx);
  if constexpr (K > 1) backward_term<T, BASE>(xv, gv, t.a1, t.b1, sa1, sb1, gx);
  if constexpr (K > 2) backward_term<T, BASE>(xv, gv, t.a2, t.b2, sa2, sb2, gx);
  if constexpr (K > 3) backward_term<T, BASE>(xv, gv, t.a3, t.b3, sa3, sb3, gx);
  return gx;
}

// R samples (rows q apart) of one element block for K = 1..4 terms, the accumulators in named
// registers (no per-lane arrays: with those GCC does not vectorise sigmoid's exponential, whose
// element backward then took 6.3 ms on 004 §4.2's first site against 1.8 ms for its forward).
template <typename T, int BASE, int K, int R>
inline void backward_rows_k(const T* grad, const T* x, const T* a, const T* b, T* grad_x, T* va,
                            T* vb, T* gsum, int64_t q, int64_t len) {
#pragma omp simd
  for (int64_t p = 0; p < len; ++p) {
    T sa0 = 0, sa1 = 0, sa2 = 0, sa3 = 0, sb0 = 0, sb1 = 0, sb2 = 0, sb3 = 0, sg = 0;
    const Terms<T> t = load_terms<T, K>(a, b, q, p);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const T xv = x[r * q + p], gv = grad[r * q + p];
      sg += gv;
      const T gx = backward_terms<T, BASE, K>(xv, gv, t, sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3);
      grad_x[r * q + p] = gx;
    }
    gsum[p] += sg;
    va[p] += sa0;
    vb[p] += sb0;
    if constexpr (K > 1) va[BLOCK + p] += sa1, vb[BLOCK + p] += sb1;
    if constexpr (K > 2) va[2 * BLOCK + p] += sa2, vb[2 * BLOCK + p] += sb2;
    if constexpr (K > 3) va[3 * BLOCK + p] += sa3, vb[3 * BLOCK + p] += sb3;
  }
}

template <typename T, int BASE, int K>
void ab_backward_element_k(const T* grad, const T* x, const T* a, const T* b, T* grad_x,
                           T* grad_a, T* grad_b, int64_t n, int64_t q, int64_t k_, T offset,
                           int threads) {
  const int64_t k = K > 0 ? K : k_;
  const int64_t span = block_span(q, threads), blocks = (q + span - 1) / span;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && n * q > 32768)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t p0 = blk * span, len = q - p0 < span ? q - p0 : span;
    // accumulators over the batch: sum g * value and sum g * slope per term, and sum g
    std::vector<T> acc(static_cast<size_t>(2 * k + 1) * BLOCK, T(0));
    T* va = acc.data();
    T* vb = acc.data() + k * BLOCK;
    T* gsum = acc.data() + 2 * k * BLOCK;
    const T* ab = a + p0;
    const T* bb = b + p0;
    int64_t s = 0;
    if constexpr (K > 0) {
      for (; s + ROWS <= n; s += ROWS)
        backward_rows_k<T, BASE, K, ROWS>(grad + s * q + p0, x + s * q + p0, ab, bb,
                                          grad_x + s * q + p0, va, vb, gsum, q, len);
      for (; s < n; ++s)
        backward_rows_k<T, BASE, K, 1>(grad + s * q + p0, x + s * q + p0, ab, bb,
                                       grad_x + s * q + p0, va, vb, gsum, q, len);
    }
    for (; s < n; ++s)
      backward_row_any<T, BASE>(grad + s * q + p0, x + s * q + p0, ab, bb, grad_x + s * q + p0,
                                va, vb, gsum, q, len, k);
    for (int64_t i = 0; i < k; ++i)
      for (int64_t p = 0; p < len; ++p) {
        grad_a[i * q + p0 + p] = va[i * BLOCK + p] - offset * gsum[p];
        grad_b[i * q + p0 + p] = -a[i * q + p0 + p] * vb[i * BLOCK + p];
      }
  }
}

template <typename T, int BASE>
void ab_forward_element(const T* x, const T* a, const T* b, T* y, int64_t n, int64_t q,
                        int64_t k, T offset, int threads) {
  switch (k) {
    case 1: return ab_forward_element_k<T, BASE, 1>(x, a, b, y, n, q, k, offset, threads);
    case 2: return ab_forward_element_k<T, BASE, 2>(x, a, b, y, n, q, k, offset, threads);
    case 3: return ab_forward_element_k<T, BASE, 3>(x, a, b, y, n, q, k, offset, threads);
    case 4: return ab_forward_element_k<T, BASE, 4>(x, a, b, y, n, q, k, offset, threads);
    default: return ab_forward_element_k<T, BASE, 0>(x, a, b, y, n, q, k, offset, threads);
  }
}

template <typename T, int BASE>
void ab_backward_element(const T* grad, const T* x, const T* a, const T* b, T* grad_x,
                         T* grad_a, T* grad_b, int64_t n, int64_t q, int64_t k, T offset,
                         int threads) {
#define ACTLAB_K(K) \
  ab_backward_element_k<T, BASE, K>(grad, x, a, b, grad_x, grad_a, grad_b, n, q, k, offset, threads)
  switch (k) {
    case 1: return ACTLAB_K(1);
    case 2: return ACTLAB_K(2);
    case 3: return ACTLAB_K(3);
    case 4: return ACTLAB_K(4);
    default: return ACTLAB_K(0);
  }
#undef ACTLAB_K
}

template <typename T, int BASE>
void ab_forward_channel_any(const T* x, const T* a, const T* b, T* y, int64_t n, int64_t c,
                            int64_t sz, int64_t k, T offset, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && n * c * sz > 32768)
  for (int64_t ch = 0; ch < c; ++ch) {
    T shift = 0;
    for (int64_t i = 0; i < k; ++i) shift += a[i * c + ch];
    shift *= offset;
    for (int64_t s = 0; s < n; ++s) {
      const T* xs = x + (s * c + ch) * sz;
      T* ys = y + (s * c + ch) * sz;
#pragma omp simd
      for (int64_t p = 0; p < sz; ++p) ys[p] = -shift;
      for (int64_t i = 0; i < k; ++i) {
        const T ai = a[i * c + ch], bi = b[i * c + ch];
#pragma omp simd
        for (int64_t p = 0; p < sz; ++p) {
          T value, slope;
          base_fn<T, BASE>(xs[p] - bi, value, slope);
          ys[p] += ai * value;
        }
      }
    }
  }
}

template <typename T, int BASE>
void ab_backward_channel_any(const T* grad, const T* x, const T* a, const T* b, T* grad_x,
                             T* grad_a, T* grad_b, int64_t n, int64_t c, int64_t sz, int64_t k,
                             T offset, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && n * c * sz > 32768)
  for (int64_t ch = 0; ch < c; ++ch) {
    // partial sums over CHUNK positions in T, added up in double
    std::vector<double> va(k, 0.0), vb(k, 0.0);
    const int64_t chunks = (sz + CHUNK - 1) / CHUNK;
    double gsum = 0;
    for (int64_t row = 0; row < n * chunks; ++row) {
      const int64_t s = row / chunks, c0 = (row % chunks) * CHUNK;
      const int64_t len = sz - c0 < CHUNK ? sz - c0 : CHUNK;
      const T* xs = x + (s * c + ch) * sz + c0;
      const T* gs = grad + (s * c + ch) * sz + c0;
      T* gxs = grad_x + (s * c + ch) * sz + c0;
      T rowg = 0;
#pragma omp simd reduction(+ : rowg)
      for (int64_t p = 0; p < len; ++p) {
        gxs[p] = 0;
        rowg += gs[p];
      }
      gsum += rowg;
      for (int64_t i = 0; i < k; ++i) {
        const T ai = a[i * c + ch], bi = b[i * c + ch];
        T rowa = 0, rowb = 0;
#pragma omp simd reduction(+ : rowa, rowb)
        for (int64_t p = 0; p < len; ++p) {
          T value, slope;
          base_fn<T, BASE>(xs[p] - bi, value, slope);
          const T gslope = gs[p] * slope;
          rowa += gs[p] * value;
          rowb += gslope;
          gxs[p] += ai * gslope;
        }
        va[i] += rowa;
        vb[i] += rowb;
      }
    }
    for (int64_t i = 0; i < k; ++i) {
      grad_a[i * c + ch] = static_cast<T>(va[i] - offset * gsum);
      grad_b[i * c + ch] = static_cast<T>(-a[i * c + ch] * vb[i]);
    }
  }
}

// The channels [lo, hi) of thread t of nt: threads own whole channels, and every thread walks the
// samples in order and its channels in each, so memory is read as it lies (channel-outer loops
// took 1.5x as long on 004 §4.2's first site).
inline void channel_range(int64_t c, int t, int nt, int64_t& lo, int64_t& hi) {
  lo = c * t / nt;
  hi = c * (t + 1) / nt;
}

// Channel kernels for K = 1..4 terms: one pass over each row, the channel's parameters and the
// row's sums in named registers (the generic ones above take a pass per term: CPAF-ReLU k=2's
// channel backward took 1.8 ms on 004 §4.2's first site, now 0.6 ms).
template <typename T, int BASE, int K>
void ab_forward_channel_k(const T* x, const T* a, const T* b, T* y, int64_t n, int64_t c,
                          int64_t sz, T offset, int threads) {
  static_assert(K >= 1 && K <= 4, "K = 1..4");
#pragma omp parallel num_threads(threads) if (threads > 1 && n * c * sz > 32768)
  {
    int64_t lo, hi;
    channel_range(c, omp_get_thread_num(), omp_get_num_threads(), lo, hi);
    for (int64_t s = 0; s < n; ++s)
      for (int64_t ch = lo; ch < hi; ++ch) {
        const Terms<T> t = load_terms<T, K>(a, b, c, ch);
        const T shift = offset * (t.a0 + t.a1 + t.a2 + t.a3);
        const T* xs = x + (s * c + ch) * sz;
        T* ys = y + (s * c + ch) * sz;
#pragma omp simd
        for (int64_t p = 0; p < sz; ++p) ys[p] = forward_terms<T, BASE, K>(xs[p], t, -shift);
      }
  }
}

template <typename T, int BASE, int K>
void ab_backward_channel_k(const T* grad, const T* x, const T* a, const T* b, T* grad_x,
                           T* grad_a, T* grad_b, int64_t n, int64_t c, int64_t sz, T offset,
                           int threads) {
  static_assert(K >= 1 && K <= 4, "K = 1..4");
#pragma omp parallel num_threads(threads) if (threads > 1 && n * c * sz > 32768)
  {
    int64_t lo, hi;
    channel_range(c, omp_get_thread_num(), omp_get_num_threads(), lo, hi);
    // per channel: the sums of g * value and g * slope per term and of g, in double, over
    // partial sums of CHUNK positions in T
    std::vector<double> acc(static_cast<size_t>(hi - lo) * (2 * K + 1), 0.0);
    const int64_t chunks = (sz + CHUNK - 1) / CHUNK;
    for (int64_t s = 0; s < n; ++s)
      for (int64_t ch = lo; ch < hi; ++ch) {
        const Terms<T> t = load_terms<T, K>(a, b, c, ch);
        double* v = acc.data() + (ch - lo) * (2 * K + 1);  // va[K], vb[K], gsum
        for (int64_t chunk = 0; chunk < chunks; ++chunk) {
          const int64_t c0 = chunk * CHUNK, len = sz - c0 < CHUNK ? sz - c0 : CHUNK;
          const T* xs = x + (s * c + ch) * sz + c0;
          const T* gs = grad + (s * c + ch) * sz + c0;
          T* gxs = grad_x + (s * c + ch) * sz + c0;
          T sa0 = 0, sa1 = 0, sa2 = 0, sa3 = 0, sb0 = 0, sb1 = 0, sb2 = 0, sb3 = 0, sg = 0;
#pragma omp simd reduction(+ : sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3, sg)
          for (int64_t p = 0; p < len; ++p) {
            const T xv = xs[p], gv = gs[p];
            sg += gv;
            const T gx =
                backward_terms<T, BASE, K>(xv, gv, t, sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3);
            gxs[p] = gx;
          }
          const T sums[8] = {sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3};
          for (int i = 0; i < K; ++i) v[i] += sums[i], v[K + i] += sums[4 + i];
          v[2 * K] += sg;
        }
      }
    for (int64_t ch = lo; ch < hi; ++ch) {
      const double* v = acc.data() + (ch - lo) * (2 * K + 1);
      for (int64_t i = 0; i < K; ++i) {
        grad_a[i * c + ch] = static_cast<T>(v[i] - offset * v[2 * K]);
        grad_b[i * c + ch] = static_cast<T>(-a[i * c + ch] * v[K + i]);
      }
    }
  }
}

template <typename T, int BASE>
void ab_forward_channel(const T* x, const T* a, const T* b, T* y, int64_t n, int64_t c,
                        int64_t sz, int64_t k, T offset, int threads) {
  switch (k) {
    case 1: return ab_forward_channel_k<T, BASE, 1>(x, a, b, y, n, c, sz, offset, threads);
    case 2: return ab_forward_channel_k<T, BASE, 2>(x, a, b, y, n, c, sz, offset, threads);
    case 3: return ab_forward_channel_k<T, BASE, 3>(x, a, b, y, n, c, sz, offset, threads);
    case 4: return ab_forward_channel_k<T, BASE, 4>(x, a, b, y, n, c, sz, offset, threads);
    default: return ab_forward_channel_any<T, BASE>(x, a, b, y, n, c, sz, k, offset, threads);
  }
}

template <typename T, int BASE>
void ab_backward_channel(const T* grad, const T* x, const T* a, const T* b, T* grad_x,
                         T* grad_a, T* grad_b, int64_t n, int64_t c, int64_t sz, int64_t k,
                         T offset, int threads) {
#define ACTLAB_K(K) \
  ab_backward_channel_k<T, BASE, K>(grad, x, a, b, grad_x, grad_a, grad_b, n, c, sz, offset, threads)
  switch (k) {
    case 1: return ACTLAB_K(1);
    case 2: return ACTLAB_K(2);
    case 3: return ACTLAB_K(3);
    case 4: return ACTLAB_K(4);
    default:
      return ab_backward_channel_any<T, BASE>(grad, x, a, b, grad_x, grad_a, grad_b, n, c, sz, k,
                                              offset, threads);
  }
#undef ACTLAB_K
}

template <typename T>
void prelu_forward_element(const T* x, const T* a, T* y, int64_t n, int64_t q, int threads) {
  const int64_t span = block_span(q, threads), blocks = (q + span - 1) / span;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && n * q > 32768)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t p0 = blk * span, len = q - p0 < span ? q - p0 : span;
    for (int64_t s = 0; s < n; ++s) {
      const T* xs = x + s * q + p0;
      T* ys = y + s * q + p0;
#pragma omp simd
      for (int64_t p = 0; p < len; ++p) {
        const T scaled = a[p0 + p] * xs[p];
        ys[p] = xs[p] > T(0) ? xs[p] : scaled;
      }
    }
  }
}

template <typename T>
void prelu_backward_element(const T* grad, const T* x, const T* a, T* grad_x, T* grad_a,
                            int64_t n, int64_t q, int threads) {
  const int64_t span = block_span(q, threads), blocks = (q + span - 1) / span;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && n * q > 32768)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t p0 = blk * span, len = q - p0 < span ? q - p0 : span;
    T acc[BLOCK];
    for (int64_t p = 0; p < len; ++p) acc[p] = 0;
    for (int64_t s = 0; s < n; ++s) {
      const T* xs = x + s * q + p0;
      const T* gs = grad + s * q + p0;
      T* gxs = grad_x + s * q + p0;
#pragma omp simd
      for (int64_t p = 0; p < len; ++p) {
        const bool pos = xs[p] > T(0);
        const T scaled = a[p0 + p] * gs[p], gx = gs[p] * xs[p];
        gxs[p] = pos ? gs[p] : scaled;
        acc[p] += pos ? T(0) : gx;
      }
    }
    for (int64_t p = 0; p < len; ++p) grad_a[p0 + p] = acc[p];
  }
}

template <typename T>
void prelu_forward_channel(const T* x, const T* a, T* y, int64_t n, int64_t c, int64_t sz,
                           int threads) {
#pragma omp parallel num_threads(threads) if (threads > 1 && n * c * sz > 32768)
  {
    int64_t lo, hi;
    channel_range(c, omp_get_thread_num(), omp_get_num_threads(), lo, hi);
    for (int64_t s = 0; s < n; ++s)
      for (int64_t ch = lo; ch < hi; ++ch) {
        const T ac = a[ch];
        const T* xs = x + (s * c + ch) * sz;
        T* ys = y + (s * c + ch) * sz;
#pragma omp simd
        for (int64_t p = 0; p < sz; ++p) {
          const T scaled = ac * xs[p];
          ys[p] = xs[p] > T(0) ? xs[p] : scaled;
        }
      }
  }
}

template <typename T>
void prelu_backward_channel(const T* grad, const T* x, const T* a, T* grad_x, T* grad_a,
                            int64_t n, int64_t c, int64_t sz, int threads) {
#pragma omp parallel num_threads(threads) if (threads > 1 && n * c * sz > 32768)
  {
    int64_t lo, hi;
    channel_range(c, omp_get_thread_num(), omp_get_num_threads(), lo, hi);
    std::vector<double> total(static_cast<size_t>(hi - lo), 0.0);
    const int64_t chunks = (sz + CHUNK - 1) / CHUNK;
    for (int64_t s = 0; s < n; ++s)
      for (int64_t ch = lo; ch < hi; ++ch) {
        const T ac = a[ch];
        for (int64_t chunk = 0; chunk < chunks; ++chunk) {
          const int64_t c0 = chunk * CHUNK, len = sz - c0 < CHUNK ? sz - c0 : CHUNK;
          const T* xs = x + (s * c + ch) * sz + c0;
          const T* gs = grad + (s * c + ch) * sz + c0;
          T* gxs = grad_x + (s * c + ch) * sz + c0;
          T part = 0;
#pragma omp simd reduction(+ : part)
          for (int64_t p = 0; p < len; ++p) {
            const bool pos = xs[p] > T(0);
            const T scaled = ac * gs[p], gx = gs[p] * xs[p];
            gxs[p] = pos ? gs[p] : scaled;
            part += pos ? T(0) : gx;
          }
          total[ch - lo] += part;
        }
      }
    for (int64_t ch = lo; ch < hi; ++ch) grad_a[ch] = static_cast<T>(total[ch - lo]);
  }
}

}  // namespace

// The C ABI: dtype 0 float32, 1 float64; base 0 relu, 1 sigmoid; c == 0 means element
// granularity with q positions (c * sz == q otherwise).
#define ACTLAB_DISPATCH(DTYPE, BASE, CALL_F, CALL_D)  \
  if (DTYPE == 0) {                                   \
    if (BASE == 0) { CALL_F(0); } else { CALL_F(1); } \
  } else {                                            \
    if (BASE == 0) { CALL_D(0); } else { CALL_D(1); } \
  }

extern "C" {

int actlab_ab_forward(int dtype, int base, const void* x, const void* a, const void* b, void* y,
                      int64_t n, int64_t c, int64_t sz, int64_t k, double offset, int threads) {
  const int64_t q = c * sz;
#define F_(B) \
  c == 0 ? ab_forward_element<float, B>((const float*)x, (const float*)a, (const float*)b, (float*)y, n, sz, k, (float)offset, threads) \
         : ab_forward_channel<float, B>((const float*)x, (const float*)a, (const float*)b, (float*)y, n, c, sz, k, (float)offset, threads)
#define D_(B) \
  c == 0 ? ab_forward_element<double, B>((const double*)x, (const double*)a, (const double*)b, (double*)y, n, sz, k, offset, threads) \
         : ab_forward_channel<double, B>((const double*)x, (const double*)a, (const double*)b, (double*)y, n, c, sz, k, offset, threads)
  ACTLAB_DISPATCH(dtype, base, F_, D_)
#undef F_
#undef D_
  (void)q;
  return 0;
}

int actlab_ab_backward(int dtype, int base, const void* grad, const void* x, const void* a,
                       const void* b, void* grad_x, void* grad_a, void* grad_b, int64_t n,
                       int64_t c, int64_t sz, int64_t k, double offset, int threads) {
#define F_(B) \
  c == 0 ? ab_backward_element<float, B>((const float*)grad, (const float*)x, (const float*)a, (const float*)b, (float*)grad_x, (float*)grad_a, (float*)grad_b, n, sz, k, (float)offset, threads) \
         : ab_backward_channel<float, B>((const float*)grad, (const float*)x, (const float*)a, (const float*)b, (float*)grad_x, (float*)grad_a, (float*)grad_b, n, c, sz, k, (float)offset, threads)
#define D_(B) \
  c == 0 ? ab_backward_element<double, B>((const double*)grad, (const double*)x, (const double*)a, (const double*)b, (double*)grad_x, (double*)grad_a, (double*)grad_b, n, sz, k, offset, threads) \
         : ab_backward_channel<double, B>((const double*)grad, (const double*)x, (const double*)a, (const double*)b, (double*)grad_x, (double*)grad_a, (double*)grad_b, n, c, sz, k, offset, threads)
  ACTLAB_DISPATCH(dtype, base, F_, D_)
#undef F_
#undef D_
  return 0;
}

int actlab_prelu_forward(int dtype, const void* x, const void* a, void* y, int64_t n, int64_t c,
                         int64_t sz, int threads) {
  if (dtype == 0) {
    c == 0 ? prelu_forward_element<float>((const float*)x, (const float*)a, (float*)y, n, sz, threads)
           : prelu_forward_channel<float>((const float*)x, (const float*)a, (float*)y, n, c, sz, threads);
  } else {
    c == 0 ? prelu_forward_element<double>((const double*)x, (const double*)a, (double*)y, n, sz, threads)
           : prelu_forward_channel<double>((const double*)x, (const double*)a, (double*)y, n, c, sz, threads);
  }
  return 0;
}

int actlab_prelu_backward(int dtype, const void* grad, const void* x, const void* a,
                          void* grad_x, void* grad_a, int64_t n, int64_t c, int64_t sz,
                          int threads) {
  if (dtype == 0) {
    c == 0 ? prelu_backward_element<float>((const float*)grad, (const float*)x, (const float*)a, (float*)grad_x, (float*)grad_a, n, sz, threads)
           : prelu_backward_channel<float>((const float*)grad, (const float*)x, (const float*)a, (float*)grad_x, (float*)grad_a, n, c, sz, threads);
  } else {
    c == 0 ? prelu_backward_element<double>((const double*)grad, (const double*)x, (const double*)a, (double*)grad_x, (double*)grad_a, n, sz, threads)
           : prelu_backward_channel<double>((const double*)grad, (const double*)x, (const double*)a, (double*)grad_x, (double*)grad_a, n, c, sz, threads);
  }
  return 0;
}

}  // extern "C"
