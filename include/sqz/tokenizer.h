// Placeholder: this module's public API is being written.
#ifndef SQZ_TOKENIZER_H
#define SQZ_TOKENIZER_H
#include "sqz/common.h"
#include "sqz/types.h"
#endif
