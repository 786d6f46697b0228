// AMX-INT8 GEMM for Q8_0 and Q4_0 under the block-fma contract (gemm.h); compiled with the AVX-512
// flags plus -mamx-tile -mamx-int8 and called only when sqz_amx_ready() says the CPU has AMX-INT8 and
// the kernel has granted this process the tile data state.
//
// Per 32-element block, one tdpbssd gives the exact int32 sums of a 16-token × 16-row tile (A: the
// tokens' int8 quants; B: the 16 rows' signed weights — Q8_0 qs, Q4_0 q − 8 — packed in 4-byte groups
// [g][row][4]); the tile goes to memory and each token's 16 sums get one convert, one multiply
// (dw·dx) and one FMA into its float accumulator: acc = fma(dw·dx, float(isum), acc), the contract's
// order exactly. Two sets of tiles alternate between even and odd blocks, and the tile work runs two
// blocks ahead of the float work.
//
// Blocking: panels of PR rows × k-chunks of KC blocks are packed (590 KiB, in L2); for each 16-token
// tile the chunk's quants are copied to an aligned [block][token][32] buffer (L1) — tileloadd straight
// from the 40-byte Q8A blocks, whose rows straddle cache lines, took 3× as long — while the panel's
// 16-row sub-panels stream by. The float accumulators continue from y between k-chunks. Token tails
// (n mod 16) use the VNNI kernel of the same contract.
//
// Where the time goes: per block and tile, the tile loads + tdpbssd + tilestored and the 16 × (load,
// convert, multiply, FMA) hardly overlap (measured), so the kernel runs at about 1.2× the VNNI one; the
// per-block scales force that tile store, K = 32 uses half of each tdpbssd.
#include <cpuid.h>
#include <immintrin.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "kernels/x86/avx2_blocks.h"

enum { TILE = 16, PR = 512, KC = 32 }; // tile rows/tokens, panel rows, k-chunk (blocks)

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

// AMX-TILE and AMX-INT8 in CPUID, and Linux's permission to use the tile data (once per process).
// SQZ_AMX=0 in the environment turns AMX off (the VNNI kernels give the same bits, slower).
int sqz_amx_ready(void) {
    static atomic_int ready = -1; // every thread would compute the same value
    if (ready < 0) {
        unsigned a, b, c, d;
        const char *env = getenv("SQZ_AMX");
        int ok = !(env && env[0] == '0') && __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((d >> 24) & 1) && ((d >> 25) & 1);
        ready = ok && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
    }
    return ready;
}

// Block b of a 16-row sub-panel: q[g] = B tile row g (rows' elements 4g..4g+3), d = the rows' scales.
typedef struct {
    __m512i q[8];
    float d[TILE];
} amx_blk;

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

// Tiles 0, 1: C (16 tokens × 16 int32); 2, 3: A (16 tokens × 32 bytes); 4, 5: B (8 × 64 bytes).
static void tiles_configure(void) {
    alignas(64) tile_config cfg = {.palette = 1};
    for (int i = 0; i < 2; i++) {
        cfg.rows[i] = TILE, cfg.colsb[i] = TILE * 4;
        cfg.rows[2 + i] = TILE, cfg.colsb[2 + i] = QK8A;
        cfg.rows[4 + i] = QK8A / 4, cfg.colsb[4 + i] = TILE * 4;
    }
    _tile_loadconfig(&cfg);
}

// Row `row`'s block b as 32 signed weights in element order (zero for a missing row), and its scale.
static inline __m256i row_blk(int q4, const uint8_t *row, int64_t b, float *d) {
    if (!row) {
        *d = 0.0f;
        return _mm256_setzero_si256();
    }
    if (!q4) {
        const block_q8_0 *blk = (const block_q8_0 *)row + b;
        *d = _cvtsh_ss(blk->d);
        return _mm256_loadu_si256((const __m256i *)blk->qs);
    }
    const block_q4_0 *blk = (const block_q4_0 *)row + b;
    *d = _cvtsh_ss(blk->d);
    return _mm256_sub_epi8(sqz_unpack_q4(blk->qs), _mm256_set1_epi8(8));
}

// Pack rows [o0, o0+nr) (nr ≤ 16), blocks [b0, b0+kc) into p[0..kc).
static void pack_sub(int q4, const uint8_t *w, size_t row_bytes, int64_t o0, int nr, int64_t b0, int kc, amx_blk *p) {
    for (int b = 0; b < kc; b++) {
        __m256i v[TILE];
        for (int r = 0; r < TILE; r++)
            v[r] = row_blk(q4, r < nr ? w + (o0 + r) * row_bytes : NULL, b0 + b, &p[b].d[r]);
        sqz_transpose8_epi32(v), sqz_transpose8_epi32(v + 8);
        for (int g = 0; g < 8; g++)
            _mm512_store_si512(&p[b].q[g], _mm512_inserti64x4(_mm512_castsi256_si512(v[g]), v[8 + g], 1));
    }
}

// acc[t] = fma(dw·dx_t, float(c[t]), acc[t]) for the 16 tokens of one block.
static inline __attribute__((always_inline)) void blk_fma(__m512 acc[TILE], const int32_t c[TILE][TILE],
                                                          const float *dw, const float *dx) {
    __m512 d = _mm512_load_ps(dw);
#pragma GCC unroll 16
    for (int t = 0; t < TILE; t++)
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(dx[t])), _mm512_cvtepi32_ps(_mm512_load_si512(c[t])), acc[t]);
}

// The tokens of one tile, one k-chunk: block b's 16 × 32 quants contiguous (an aligned A tile) and scales.
typedef struct {
    alignas(64) int8_t q[KC][TILE][QK8A];
    float d[KC][TILE];
} amx_act;

static void pack_act(const uint8_t *xa, size_t act_row, int64_t t0, int64_t b0, int kc, amx_act *a) {
    for (int t = 0; t < TILE; t++) {
        const block_q8a *x = (const block_q8a *)(xa + (t0 + t) * act_row) + b0;
        for (int b = 0; b < kc; b++) {
            _mm256_store_si256((__m256i *)a->q[b][t], _mm256_loadu_si256((const __m256i *)x[b].qs));
            a->d[b][t] = x[b].d;
        }
    }
}

// Block b's int32 sums into c[b mod 4] through tile C (A, B: its operand tiles).
#define AMX_BLOCK(C, A, B, b)                           \
    do {                                                \
        _tile_loadd(A, a->q[b], QK8A);                  \
        _tile_loadd(B, p[b].q, 64);                     \
        _tile_zero(C);                                  \
        _tile_dpbssd(C, A, B);                          \
        _tile_stored(C, c[(b) % 4], 64);                \
    } while (0)

// One 16-row × 16-token tile over the kc blocks of a k-chunk: y (+)= (first chunk: from 0, else
// continuing the accumulators from y). Tiles 0/2/4 take the even blocks, 1/3/5 the odd ones, and the
// tile work runs two blocks ahead of the float work, so the two overlap.
static __attribute__((noinline)) void micro_amx(const amx_blk *p, int kc, const amx_act *a, float *y, int64_t ldy,
                                                __mmask16 m, int first) {
    alignas(64) int32_t c[4][TILE][TILE];
    __m512 acc[TILE];
#pragma GCC unroll 16
    for (int t = 0; t < TILE; t++)
        acc[t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, y + t * ldy);
    AMX_BLOCK(0, 2, 4, 0);
    if (kc > 1)
        AMX_BLOCK(1, 3, 5, 1);
    for (int b = 0; b < kc; b += 2) {
        if (b + 2 < kc)
            AMX_BLOCK(0, 2, 4, b + 2);
        if (b + 3 < kc)
            AMX_BLOCK(1, 3, 5, b + 3);
        blk_fma(acc, c[b % 4], p[b].d, a->d[b]);
        if (b + 1 < kc)
            blk_fma(acc, c[(b + 1) % 4], p[b + 1].d, a->d[b + 1]);
    }
#pragma GCC unroll 16
    for (int t = 0; t < TILE; t++)
        _mm512_mask_storeu_ps(y + t * ldy, m, acc[t]);
}

static void gemm_amx(int q4, int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                     size_t act_row, int64_t n, float *y, int64_t ldy) {
    int64_t nb = n_in / QK8A, n16 = n / TILE * TILE;
    if (nb == 0 || r1 <= r0 || n <= 0)
        return;
    amx_blk *pk = n16 > 0 ? aligned_alloc(64, sizeof(amx_blk) * (PR / TILE) * KC) : NULL;
    if (!pk) // no whole tile of tokens (or no memory): all tokens by VNNI
        n16 = 0;
    if (n16 > 0) {
        alignas(64) amx_act act;
        tiles_configure();
        for (int64_t p0 = r0; p0 < r1; p0 += PR) {
            int subs = (int)((r1 - p0 + TILE - 1) / TILE < PR / TILE ? (r1 - p0 + TILE - 1) / TILE : PR / TILE);
            for (int64_t b0 = 0; b0 < nb; b0 += KC) {
                int kc = nb - b0 < KC ? (int)(nb - b0) : KC;
                for (int s = 0; s < subs; s++) {
                    int64_t o = p0 + s * TILE;
                    pack_sub(q4, w, row_bytes, o, r1 - o < TILE ? (int)(r1 - o) : TILE, b0, kc, pk + s * KC);
                }
                for (int64_t t = 0; t < n16; t += TILE) {
                    pack_act(xa, act_row, t, b0, kc, &act);
                    for (int s = 0; s < subs; s++) {
                        int64_t o = p0 + s * TILE;
                        int nr = r1 - o < TILE ? (int)(r1 - o) : TILE;
                        micro_amx(pk + s * KC, kc, &act, y + t * ldy + o, ldy, (__mmask16)((1u << nr) - 1), b0 == 0);
                    }
                }
            }
        }
        _tile_release();
    }
    free(pk);
    if (n16 < n) // the last n mod 16 tokens
        (q4 ? sqz_gemm_q4_0_blk_vnni : sqz_gemm_q8_0_blk_vnni)(n_in, w, row_bytes, r0, r1, (const uint8_t *)xa + n16 * act_row,
                                                               act_row, n - n16, y + n16 * ldy, ldy);
}

void sqz_gemm_q8_0_blk_amx(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                           size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_amx(0, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_q4_0_blk_amx(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                           size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_amx(1, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}
