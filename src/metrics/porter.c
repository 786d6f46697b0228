// The Porter stemmer exactly as NLTK 3.8's PorterStemmer() in its default NLTK_EXTENSIONS mode
// (nltk/stem/porter.py): the original five steps plus NLTK's irregular-forms pool, its 'ies'/'ied'
// rules for 4-letter words, its step-1c and 'alli'/'fulli'/'logi' variants, and the 2-letter CVC
// case. Words are code point sequences: only a, e, i, o, u (and y by position) are vowels.
#include <stdlib.h>
#include <string.h>

#include "metrics/porter.h"

typedef struct word {
    uint32_t *w;
    size_t n; // current length; capacity is n_original + 8 (rules grow a word by at most 2)
} word;

static bool is_vowel(uint32_t c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

// _is_consonant(w, i): y is a consonant at the start or after a vowel.
static bool is_cons(const uint32_t *w, size_t i) {
    if (is_vowel(w[i]))
        return false;
    if (w[i] != 'y')
        return true;
    size_t k = i; // start of the run of y's ending at i
    while (k > 0 && w[k - 1] == 'y')
        k--;
    bool c = k == 0 ? true : !is_cons(w, k - 1); // w[k-1] is not 'y': no deeper recursion
    return ((i - k) & 1) ? !c : c;
}

// Number of "vc" in the consonant/vowel pattern of w[0..n).
static int measure(const uint32_t *w, size_t n) {
    int m = 0;
    bool prev_v = false, prev_c = false;
    for (size_t i = 0; i < n; i++) {
        bool c = is_vowel(w[i]) ? false : (w[i] == 'y' ? (i == 0 ? true : !prev_c) : true);
        if (c && prev_v)
            m++;
        prev_v = !c;
        prev_c = c;
    }
    return m;
}

static bool contains_vowel(const uint32_t *w, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!is_cons(w, i))
            return true;
    return false;
}

static bool ends_double_cons(const uint32_t *w, size_t n) {
    return n >= 2 && w[n - 1] == w[n - 2] && is_cons(w, n - 1);
}

static bool ends_cvc(const uint32_t *w, size_t n) {
    return (n >= 3 && is_cons(w, n - 3) && !is_cons(w, n - 2) && is_cons(w, n - 1) &&
            w[n - 1] != 'w' && w[n - 1] != 'x' && w[n - 1] != 'y') ||
           (n == 2 && !is_cons(w, 0) && is_cons(w, 1));
}

static bool ends_with(const word *x, const char *suf) {
    size_t k = strlen(suf);
    if (k > x->n)
        return false;
    for (size_t i = 0; i < k; i++)
        if (x->w[x->n - k + i] != (unsigned char)suf[i])
            return false;
    return true;
}

static void set_suffix(word *x, size_t stem_len, const char *rep) {
    x->n = stem_len;
    for (const char *p = rep; *p; p++)
        x->w[x->n++] = (unsigned char)*p;
}

// Rule conditions; each sees the word and the stem length (stem = word minus suffix).
typedef enum cond {
    C_NONE,
    C_M0,       // measure(stem) > 0
    C_M1,       // measure(stem) > 1
    C_M1_CVC,   // measure(stem) == 1 and ends_cvc(stem)
    C_NOT_LSZ,  // the word's last letter is not l, s, z
    C_Y_NLTK,   // len(stem) > 1 and stem's last letter a consonant
    C_LOGI,     // measure(word[:-3]) > 0
    C_ION,      // measure(stem) > 1 and stem ends in s or t
    C_LL,       // measure(word[:-1]) > 1
} cond;

typedef struct rule {
    const char *suffix; // "*d": a double consonant (then, literally "*d")
    const char *rep;    // NULL: the word's last letter
    cond c;
} rule;

static bool holds(cond c, const word *x, size_t stem) {
    const uint32_t *w = x->w;
    switch (c) {
    case C_NONE: return true;
    case C_M0: return measure(w, stem) > 0;
    case C_M1: return measure(w, stem) > 1;
    case C_M1_CVC: return measure(w, stem) == 1 && ends_cvc(w, stem);
    case C_NOT_LSZ: return w[x->n - 1] != 'l' && w[x->n - 1] != 's' && w[x->n - 1] != 'z';
    case C_Y_NLTK: return stem > 1 && is_cons(w, stem - 1);
    case C_LOGI: return measure(w, x->n - 3) > 0;
    case C_ION: return measure(w, stem) > 1 && (w[stem - 1] == 's' || w[stem - 1] == 't');
    case C_LL: return measure(w, x->n - 1) > 1;
    }
    return false;
}

// stem + replacement, where a NULL replacement is the word's (pre-rule) last letter.
static void replace(word *x, size_t stem, const char *rep, uint32_t last) {
    if (rep) {
        set_suffix(x, stem, rep);
    } else {
        x->n = stem;
        x->w[x->n++] = last;
    }
}

// _apply_rule_list: the first rule whose suffix matches decides.
static void apply_rules(word *x, const rule *rules, size_t n_rules) {
    uint32_t last = x->n ? x->w[x->n - 1] : 0;
    for (size_t i = 0; i < n_rules; i++) {
        const rule *r = &rules[i];
        if (!strcmp(r->suffix, "*d") && ends_double_cons(x->w, x->n)) {
            if (holds(r->c, x, x->n - 2))
                replace(x, x->n - 2, r->rep, last);
            return;
        }
        if (ends_with(x, r->suffix)) {
            size_t stem = x->n - strlen(r->suffix);
            if (holds(r->c, x, stem))
                replace(x, stem, r->rep, last);
            return;
        }
    }
}

#define N_RULES(a) (sizeof(a) / sizeof((a)[0]))

static void step1a(word *x) {
    if (ends_with(x, "ies") && x->n == 4) {
        set_suffix(x, 1, "ie");
        return;
    }
    static const rule r[] = {{"sses", "ss", C_NONE}, {"ies", "i", C_NONE}, {"ss", "ss", C_NONE},
                             {"s", "", C_NONE}};
    apply_rules(x, r, N_RULES(r));
}

static void step1b(word *x) {
    if (ends_with(x, "ied")) {
        set_suffix(x, x->n - 3, x->n == 4 ? "ie" : "i");
        return;
    }
    if (ends_with(x, "eed")) {
        if (measure(x->w, x->n - 3) > 0)
            set_suffix(x, x->n - 3, "ee");
        return;
    }
    size_t stem = 0;
    bool ok = false;
    if (ends_with(x, "ed") && contains_vowel(x->w, x->n - 2))
        stem = x->n - 2, ok = true;
    else if (ends_with(x, "ing") && contains_vowel(x->w, x->n - 3))
        stem = x->n - 3, ok = true;
    if (!ok)
        return;
    x->n = stem;
    static const rule r[] = {{"at", "ate", C_NONE}, {"bl", "ble", C_NONE}, {"iz", "ize", C_NONE},
                             {"*d", NULL, C_NOT_LSZ}, {"", "e", C_M1_CVC}};
    apply_rules(x, r, N_RULES(r));
}

static void step1c(word *x) {
    static const rule r[] = {{"y", "i", C_Y_NLTK}};
    apply_rules(x, r, N_RULES(r));
}

static void step2(word *x) {
    if (ends_with(x, "alli") && measure(x->w, x->n - 4) > 0) {
        set_suffix(x, x->n - 4, "al");
        step2(x);
        return;
    }
    static const rule r[] = {
        {"ational", "ate", C_M0}, {"tional", "tion", C_M0}, {"enci", "ence", C_M0},
        {"anci", "ance", C_M0},   {"izer", "ize", C_M0},    {"bli", "ble", C_M0},
        {"alli", "al", C_M0},     {"entli", "ent", C_M0},   {"eli", "e", C_M0},
        {"ousli", "ous", C_M0},   {"ization", "ize", C_M0}, {"ation", "ate", C_M0},
        {"ator", "ate", C_M0},    {"alism", "al", C_M0},    {"iveness", "ive", C_M0},
        {"fulness", "ful", C_M0}, {"ousness", "ous", C_M0}, {"aliti", "al", C_M0},
        {"iviti", "ive", C_M0},   {"biliti", "ble", C_M0},  {"fulli", "ful", C_M0},
        {"logi", "log", C_LOGI},
    };
    apply_rules(x, r, N_RULES(r));
}

static void step3(word *x) {
    static const rule r[] = {{"icate", "ic", C_M0}, {"ative", "", C_M0}, {"alize", "al", C_M0},
                             {"iciti", "ic", C_M0}, {"ical", "ic", C_M0}, {"ful", "", C_M0},
                             {"ness", "", C_M0}};
    apply_rules(x, r, N_RULES(r));
}

static void step4(word *x) {
    static const rule r[] = {
        {"al", "", C_M1},  {"ance", "", C_M1}, {"ence", "", C_M1}, {"er", "", C_M1},
        {"ic", "", C_M1},  {"able", "", C_M1}, {"ible", "", C_M1}, {"ant", "", C_M1},
        {"ement", "", C_M1}, {"ment", "", C_M1}, {"ent", "", C_M1}, {"ion", "", C_ION},
        {"ou", "", C_M1},  {"ism", "", C_M1},  {"ate", "", C_M1},  {"iti", "", C_M1},
        {"ous", "", C_M1}, {"ive", "", C_M1},  {"ize", "", C_M1},
    };
    apply_rules(x, r, N_RULES(r));
}

static void step5a(word *x) {
    if (!ends_with(x, "e"))
        return;
    int m = measure(x->w, x->n - 1);
    if (m > 1 || (m == 1 && !ends_cvc(x->w, x->n - 1)))
        x->n -= 1;
}

static void step5b(word *x) {
    static const rule r[] = {{"ll", "l", C_LL}};
    apply_rules(x, r, N_RULES(r));
}

// NLTK_EXTENSIONS irregular forms: form → stem.
static const char *pool_lookup(const uint32_t *w, size_t n) {
    static const char *const pool[][2] = {
        {"sky", "sky"},         {"skies", "sky"},     {"dying", "die"},       {"lying", "lie"},
        {"tying", "tie"},       {"news", "news"},     {"innings", "inning"},  {"inning", "inning"},
        {"outings", "outing"},  {"outing", "outing"}, {"cannings", "canning"}, {"canning", "canning"},
        {"howe", "howe"},       {"proceed", "proceed"}, {"exceed", "exceed"}, {"succeed", "succeed"},
    };
    for (size_t k = 0; k < sizeof pool / sizeof pool[0]; k++) {
        const char *f = pool[k][0];
        size_t i = 0;
        while (i < n && f[i] && w[i] == (unsigned char)f[i])
            i++;
        if (i == n && !f[i])
            return pool[k][1];
    }
    return NULL;
}

void mt_porter_stem(const uint32_t *in, size_t n, mt_u32 *out) {
    const char *irregular = pool_lookup(in, n); // NLTK checks the word before lowercasing
    if (irregular) {
        for (const char *p = irregular; *p; p++)
            mt_u32_push(out, (unsigned char)*p);
        return;
    }
    mt_u32 low = {0};
    mt_lower(in, n, &low);
    if (low.oom || n <= 2) { // the length test also uses the original word
        for (size_t i = 0; i < low.n; i++)
            mt_u32_push(out, low.p[i]);
        out->oom |= low.oom;
        mt_u32_free(&low);
        return;
    }
    uint32_t *buf = malloc((low.n + 8) * sizeof *buf);
    if (!buf) {
        out->oom = true;
        mt_u32_free(&low);
        return;
    }
    memcpy(buf, low.p, low.n * sizeof *buf);
    word x = {buf, low.n};
    step1a(&x);
    step1b(&x);
    step1c(&x);
    step2(&x);
    step3(&x);
    step4(&x);
    step5a(&x);
    step5b(&x);
    for (size_t i = 0; i < x.n; i++)
        mt_u32_push(out, x.w[i]);
    free(buf);
    mt_u32_free(&low);
}

sqz_status sqz_porter_stem(const char *w, char **out) {
    mt_u32 cps = {0}, st = {0};
    mt_buf b = {0};
    sqz_status rc = mt_decode(w, strlen(w), &cps);
    if (rc == SQZ_OK) {
        mt_porter_stem(cps.p, cps.n, &st);
        for (size_t i = 0; i < st.n; i++)
            mt_buf_put_cp(&b, st.p[i]);
        b.oom |= st.oom;
        rc = mt_buf_take(&b, out, NULL);
    }
    mt_u32_free(&cps);
    mt_u32_free(&st);
    mt_buf_free(&b);
    return rc;
}
