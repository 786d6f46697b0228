// WordNet 3.0 reader for METEOR's synonym stage (internal part of sqz_wordnet).
#ifndef SQZ_METRICS_WORDNET_H
#define SQZ_METRICS_WORDNET_H

#include "metrics/text.h"

// Add to `out` the synonym set NLTK's meteor uses for `word` (already lowercased): the lemma
// names without '_' of every synset of wordnet.synsets(word) (morphy over noun, verb, adj, adv),
// plus the word itself. Keys are borrowed from the WordNet mapping and from `word`.
sqz_status mt_wordnet_synonyms(const sqz_wordnet *wn, const char *word, size_t len, mt_table *out);

#endif
