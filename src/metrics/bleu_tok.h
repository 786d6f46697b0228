// sacrebleu's BLEU tokenizers (internal).
#ifndef SQZ_METRICS_BLEU_TOK_H
#define SQZ_METRICS_BLEU_TOK_H

#include "metrics/text.h"
#include "sqz/metrics.h"

// Preprocess one segment as BLEU._preprocess_segment: optional str.lower(), rstrip(), tokenize;
// the tokens are appended to `out` (which must be empty) joined by single spaces.
sqz_status mt_bleu_tokenize(const char *line, size_t len, sqz_bleu_tokenizer tok, bool lowercase,
                            mt_buf *out);

#endif
