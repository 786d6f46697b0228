// NLTK 3.8 PorterStemmer (NLTK_EXTENSIONS mode), internal.
#ifndef SQZ_METRICS_PORTER_H
#define SQZ_METRICS_PORTER_H

#include "metrics/text.h"

// stem(word): word is lowercased (str.lower) first; the stem is appended to *out.
void mt_porter_stem(const uint32_t *word, size_t n, mt_u32 *out);

#endif
