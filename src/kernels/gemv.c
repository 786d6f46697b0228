// Which multi-row kernel goes with which dot kernel (compiled without ISA flags: runs on any CPU).
#include "kernels/gemv.h"

sqz_gemv_fn sqz_gemv_for(const sqz_kernel *k) {
    static const struct {
        sqz_dot_fn dot;
        sqz_gemv_fn gemv;
    } pairs[] = {
        {sqz_dot_f32_avx2, sqz_gemv_f32_avx2},
        {sqz_dot_f16_avx2, sqz_gemv_f16_avx2},
        {sqz_dot_bf16_avx2, sqz_gemv_bf16_avx2},
        {sqz_dot_q8_0_avx2, sqz_gemv_q8_0_avx2},
        {sqz_dot_q4_0_avx2, sqz_gemv_q4_0_avx2},
        {sqz_dot_q4_1_avx2, sqz_gemv_q4_1_avx2},
        {sqz_dot_f32_avx512, sqz_gemv_f32_avx512},
        {sqz_dot_f16_avx512, sqz_gemv_f16_avx512},
        {sqz_dot_bf16_avx512, sqz_gemv_bf16_avx512},
        {sqz_dot_q8_0_avx512vnni, sqz_gemv_q8_0_avx512vnni},
        {sqz_dot_q4_0_avx512vnni, sqz_gemv_q4_0_avx512vnni},
        {sqz_dot_q4_1_avx512vnni, sqz_gemv_q4_1_avx512vnni},
    };
    for (size_t i = 0; k && i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i].dot == k->dot)
            return pairs[i].gemv;
    return NULL;
}
