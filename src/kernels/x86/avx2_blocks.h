// Small AVX2 helpers the x86 kernel files share (each is compiled with at least -mavx2): the q4 nibble
// unpack and an 8×8 transpose of 32-bit lanes. Header-only, static inline.
#ifndef SQZ_KERNELS_X86_AVX2_BLOCKS_H
#define SQZ_KERNELS_X86_AVX2_BLOCKS_H

#include <immintrin.h>
#include <stdint.h>

// 32 nibbles of a q4 block as u8 0..15 in element order (low nibbles = 0..15, high = 16..31).
static inline __m256i sqz_unpack_q4(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m128i m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

// In place: r[i] lane j ↔ r[j] lane i for an 8×8 block of 32-bit values.
static inline void sqz_transpose8_epi32(__m256i r[8]) {
    __m256i t[8], s[8];
    for (int i = 0; i < 4; i++)
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]), t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    for (int i = 0; i < 2; i++) {
        __m256i a = t[4 * i], b = t[4 * i + 1], c = t[4 * i + 2], d = t[4 * i + 3];
        s[4 * i + 0] = _mm256_unpacklo_epi64(a, c);
        s[4 * i + 1] = _mm256_unpackhi_epi64(a, c);
        s[4 * i + 2] = _mm256_unpacklo_epi64(b, d);
        s[4 * i + 3] = _mm256_unpackhi_epi64(b, d);
    }
    for (int i = 0; i < 4; i++)
        r[i] = _mm256_permute2x128_si256(s[i], s[i + 4], 0x20), r[i + 4] = _mm256_permute2x128_si256(s[i], s[i + 4], 0x31);
}

#endif
