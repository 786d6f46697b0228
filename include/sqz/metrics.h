// Text metrics computed exactly as their reference implementations do (DESIGN.md §5):
//   BLEU, chrF, chrF++   sacrebleu 2.6.0 (tokenizers 13a / intl / char / none; signatures)
//   ROUGE-1/2/L/Lsum     rouge-score 0.1.2 (its tokenizer, NLTK Porter stemmer)
//   METEOR               NLTK 3.8 meteor_score (exact → Porter stem → WordNet synonym stages)
//   exact match, normalized edit similarity (definitions at their declarations).
// CodeBLEU has its own header (sqz/codebleu.h).
//
// Inputs are UTF-8 strings; invalid UTF-8 is rejected with SQZ_ERR_FORMAT. A segment is one
// hypothesis with one or more references (sqz_text_pair). Corpus-level BLEU and chrF sum
// sufficient statistics over segments, as sacrebleu does; corpus ROUGE, METEOR, exact match and
// edit similarity are the arithmetic mean of the per-segment scores.
#ifndef SQZ_METRICS_H
#define SQZ_METRICS_H

#include <stdbool.h>

#include "sqz/common.h"
#include "sqz/types.h"

#ifdef __cplusplus
extern "C" {
#endif

// One segment: a hypothesis and its references (n_refs >= 1). Strings are borrowed.
typedef struct sqz_text_pair {
    const char *hyp;
    const char *const *refs;
    size_t n_refs;
} sqz_text_pair;

// ---- BLEU (sacrebleu 2.6.0 `BLEU`) ----------------------------------------------------------------
#define SQZ_BLEU_MAX_ORDER 4

typedef enum sqz_bleu_tokenizer {
    SQZ_BLEU_TOK_13A = 0, // mteval-v13a (sacrebleu default)
    SQZ_BLEU_TOK_INTL,    // mteval-v14 international: Unicode punctuation/symbol classes
    SQZ_BLEU_TOK_CHAR,    // every code point a token
    SQZ_BLEU_TOK_NONE,    // whitespace split only
} sqz_bleu_tokenizer;

typedef enum sqz_bleu_smooth {
    SQZ_BLEU_SMOOTH_EXP = 0, // NIST geometric halving (sacrebleu default)
    SQZ_BLEU_SMOOTH_FLOOR,   // zero precisions replaced by smooth_value / total
    SQZ_BLEU_SMOOTH_ADD_K,   // k added to counts and totals for n >= 2
    SQZ_BLEU_SMOOTH_NONE,
} sqz_bleu_smooth;

typedef struct sqz_bleu_opts {
    sqz_bleu_tokenizer tokenize;
    sqz_bleu_smooth smooth;
    double smooth_value;  // floor/add-k value; NaN = sacrebleu's default (floor 0.1, add-k 1)
    bool lowercase;
    bool effective_order; // true for sentence BLEU (sacrebleu.sentence_bleu's default)
} sqz_bleu_opts;

// sacrebleu's defaults: 13a, exp, no lowercase, no effective order (corpus BLEU).
void sqz_bleu_opts_default(sqz_bleu_opts *o);

typedef struct sqz_bleu_result {
    double score;                          // 0..100
    double counts[SQZ_BLEU_MAX_ORDER];     // matched n-grams (add-k smoothing adds k for n >= 2,
    double totals[SQZ_BLEU_MAX_ORDER];     //  as sacrebleu reports them)
    double precisions[SQZ_BLEU_MAX_ORDER]; // 0..100, after smoothing
    double bp;                             // brevity penalty
    int64_t sys_len, ref_len;              // ref_len: closest ref length per segment (ties → shorter)
    char signature[192];                   // "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
} sqz_bleu_result;

// Corpus BLEU over n segments (n >= 1). A sentence score is the corpus score of one segment
// (with effective_order set, as sacrebleu.sentence_bleu). nrefs in the signature is the common
// number of references, or "var" when segments differ.
sqz_status sqz_bleu_corpus(const sqz_text_pair *pairs, size_t n, const sqz_bleu_opts *o,
                           sqz_bleu_result *out);

// sacrebleu's one-line form: "BLEU = 71.90 81.3/74.0/68.8/64.6 (BP = 1.000 ratio = 1.079
// hyp_len = 507 ref_len = 470)" (no signature). Returns the length snprintf would write.
int sqz_bleu_format(const sqz_bleu_result *r, char *buf, size_t size);

// The tokenized form of one line as sacrebleu's tokenizer (after optional lowercasing and
// rstrip), tokens joined by single spaces. *out is malloc'd; caller frees.
sqz_status sqz_bleu_tokenize(const char *line, const sqz_bleu_opts *o, char **out);

// ---- chrF / chrF++ (sacrebleu 2.6.0 `CHRF`) -------------------------------------------------------
typedef struct sqz_chrf_opts {
    int char_order;     // 6
    int word_order;     // 0 = chrF, 2 = chrF++
    int beta;           // 2
    bool lowercase;
    bool whitespace;    // keep whitespace inside character n-grams
    bool eps_smoothing; // chrF++.py-style epsilon smoothing instead of effective order
} sqz_chrf_opts;

void sqz_chrf_opts_default(sqz_chrf_opts *o); // chrF: 6, 0, 2, all false

typedef struct sqz_chrf_result {
    double score;        // 0..100
    char name[16];       // "chrF2" / "chrF2++"
    char signature[192]; // "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0"
} sqz_chrf_result;

// Corpus chrF: per segment the reference with the best sentence F is kept (first on ties), and
// its statistics are summed over the corpus. A sentence score is the corpus score of one segment.
sqz_status sqz_chrf_corpus(const sqz_text_pair *pairs, size_t n, const sqz_chrf_opts *o,
                           sqz_chrf_result *out);

// ---- ROUGE (rouge-score 0.1.2 RougeScorer(['rouge1','rouge2','rougeL','rougeLsum'])) ---------------
typedef struct sqz_rouge_prf {
    double precision, recall, fmeasure;
} sqz_rouge_prf;

typedef struct sqz_rouge_result {
    sqz_rouge_prf rouge1, rouge2, rougeL, rougeLsum;
} sqz_rouge_result;

// One segment. With several references each ROUGE type independently takes the reference with
// the highest F (first on ties), as score_multi. rougeLsum splits on '\n' (union LCS).
// use_stemmer applies NLTK's PorterStemmer to tokens longer than 3 characters.
sqz_status sqz_rouge_sentence(const sqz_text_pair *pair, bool use_stemmer, sqz_rouge_result *out);

// Mean of every precision/recall/F over the n segments.
sqz_status sqz_rouge_corpus(const sqz_text_pair *pairs, size_t n, bool use_stemmer,
                            sqz_rouge_result *out);

// NLTK 3.8 PorterStemmer() (NLTK_EXTENSIONS mode) of one UTF-8 word (lowercased first, as
// stem(word) does). *out is malloc'd; caller frees.
sqz_status sqz_porter_stem(const char *word, char **out);

// ---- METEOR (NLTK 3.8 nltk.translate.meteor_score.meteor_score) -----------------------------------
// WordNet 3.0 read from the Princeton dict files (index.*, data.*, *.exc), e.g. Debian's
// wordnet-base in /usr/share/wordnet. Immutable after open; safe to share between threads.
typedef struct sqz_wordnet sqz_wordnet;

// Open the WordNet in `dir`. SQZ_ERR_NOT_FOUND if its files are absent, SQZ_ERR_FORMAT if a file
// is malformed (message names file and line).
sqz_status sqz_wordnet_open(const char *dir, sqz_wordnet **out);
void sqz_wordnet_free(sqz_wordnet *wn);

// The default WordNet directory: $SQZ_WORDNET if set, else /usr/share/wordnet.
const char *sqz_wordnet_default_dir(void);

typedef struct sqz_meteor_opts {
    double alpha, beta, gamma; // 0.9, 3.0, 0.5
    const sqz_wordnet *wordnet; // NULL: exact and stem stages only (no synonyms)
} sqz_meteor_opts;

void sqz_meteor_opts_default(sqz_meteor_opts *o); // wordnet = NULL

// METEOR of one segment: tokens are the whitespace split (Python str.split) of hyp and each ref,
// lowercased (str.lower); the score is the maximum over references. Empty hyp or ref → 0.
sqz_status sqz_meteor_sentence(const sqz_text_pair *pair, const sqz_meteor_opts *o, double *out);

// Mean over segments.
sqz_status sqz_meteor_corpus(const sqz_text_pair *pairs, size_t n, const sqz_meteor_opts *o,
                             double *out);

// ---- exact match and edit similarity ------------------------------------------------------------
// Exact match: 1 if the hypothesis equals some reference after removing leading and trailing
// whitespace (Python str.strip) from both, else 0.
sqz_status sqz_exact_match_sentence(const sqz_text_pair *pair, double *out);

// Normalized edit similarity: 1 − Levenshtein(hyp, ref) / max(len(hyp), len(ref)) with lengths
// and edits counted in Unicode code points, unit costs, no normalization of the strings; two
// empty strings score 1. The maximum over references.
sqz_status sqz_edit_similarity_sentence(const sqz_text_pair *pair, double *out);

// Means over segments.
sqz_status sqz_exact_match_corpus(const sqz_text_pair *pairs, size_t n, double *out);
sqz_status sqz_edit_similarity_corpus(const sqz_text_pair *pairs, size_t n, double *out);

#ifdef __cplusplus
}
#endif
#endif
