// Instantiates ops_tmpl.h for float and double.
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "train/ops.h"

#define T float
#define OP(name) sqz_tr_##name##_f32
#define GEMM cblas_sgemm
#include "train/ops_tmpl.h"
#undef T
#undef OP
#undef GEMM

#define T double
#define OP(name) sqz_tr_##name##_f64
#define GEMM cblas_dgemm
#include "train/ops_tmpl.h"
#undef T
#undef OP
#undef GEMM
