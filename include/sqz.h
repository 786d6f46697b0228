// sqz — LLM compression trade-off evaluator. The public API of libsqz.
//
// Conventions (see docs/ARCHITECTURE.md):
//  - Every fallible function returns sqz_status (SQZ_OK = 0, negative on error) and, on error,
//    leaves a message naming the file/field/request and what is wrong, read with sqz_last_error().
//  - The library never prints and never exits; only cli/ does.
//  - Constructors and destructors come in pairs (sqz_x_open / sqz_x_free); every _free accepts NULL.
//  - Shapes are outermost-first (row-major, like safetensors and PyTorch): a linear weight is
//    [n_out][n_in] with n_in contiguous. GGUF's innermost-first ne[] is reversed on load.
//
// The API is split by module into include/sqz/*.h; this umbrella header includes them all.
#ifndef SQZ_H
#define SQZ_H

#include "sqz/common.h"
#include "sqz/types.h"
#include "sqz/format.h"
#include "sqz/tokenizer.h"
#include "sqz/metrics.h"
#include "sqz/codebleu.h"
#include "sqz/sandbox.h"
#include "sqz/engine.h"
#include "sqz/quant.h"
#include "sqz/compress.h"
#include "sqz/prune.h"
#include "sqz/train.h"
#include "sqz/store.h"
#include "sqz/report.h"
#include "sqz/eval.h"
#include "sqz/sweep.h"

#endif
