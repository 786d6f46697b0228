// CodeBLEU data-flow match: a port of the references' parser/DFG.py + dataflow_match.py.
//
// For each code snippet: tokens = the tree's leaves (string literals count as one token, comments
// are skipped); each token's text is sliced from the source lines with tree-sitter's byte columns
// used as *character* indices, as the Python code does (this matters only for non-ASCII lines).
// The per-language DFG walk yields edges (name, token index, comesFrom|computedFrom, parent names,
// parent indices), keeping states (name → last definition indices) across if/for/while the way
// DFG.py does. Edges are then filtered and merged per token index, variables renamed var_0, var_1...
// in order of appearance, and reference edges matched against candidate edges (each candidate edge
// used once). Score = matched / reference edges over the corpus.
//
// Where DFG.py raises (missing field, unknown token span), the whole snippet gets no data flow, as
// the references' try/except does. Name lists are merged in Python's set order: CPython's order
// under PYTHONHASHSEED=0 for the PyPI flavor, code-point order (sorted) for the CodeXGLUE flavor.
//
// Languages: python, java, c_sharp and javascript have their own DFG; the PyPI package uses the C#
// DFG for c and cpp (their grammars share few node types with it, so little data flow is found).
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/codebleu_internal.h"

// ---- arena: everything of one snippet's analysis, freed at once -----------------------------------
typedef struct arena_blk {
    struct arena_blk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_blk;

typedef struct arena {
    arena_blk *head;
} arena;

static void *arena_alloc(arena *a, size_t sz) {
    sz = (sz + 15) & ~(size_t)15;
    if (!a->head || a->head->used + sz > a->head->cap) {
        size_t cap = sz > (1u << 20) ? sz : (1u << 20);
        arena_blk *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += sz;
    return p;
}

static void arena_free(arena *a) {
    while (a->head) {
        arena_blk *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

// ---- data structures --------------------------------------------------------------------------------
enum { REL_COMES = 0, REL_COMPUTED = 1 };

typedef struct ilist { // an immutable list of ints (arena)
    const int32_t *v;
    int32_t n;
} ilist;

typedef struct edge {
    int32_t code, idx, rel; // name id, token index, relation
    ilist names, idxs;      // parent name ids, parent token indices
} edge;

typedef struct elist {
    edge *v;
    int32_t n, cap;
} elist;

typedef struct state_kv {
    int32_t key;
    ilist val;
} state_kv;

typedef struct states { // name id → definition indices; sorted by key; values immutable
    state_kv *kv;
    int32_t n;
} states;

typedef struct tok {
    int32_t idx, code;
} tok;

typedef struct dfg_ctx {
    const cb_tree *t;
    cb_lang lang;
    sqz_codebleu_flavor flavor;
    arena ar;
    bool exc;      // a Python exception was raised in the DFG walk
    bool oom;
    int depth;
    // tokens: index_to_code keyed by (start, end) point; later tokens overwrite earlier ones
    uint32_t *span_key; // 4 per slot
    tok *span_val;
    uint8_t *span_used;
    size_t span_cap;
    // name interner (token texts)
    cb_span *names;
    int32_t n_names, names_cap;
} dfg_ctx;

#define MAX_DEPTH 900 // Python's recursion limit is 1000: deeper trees raise RecursionError

static bool is_type(const char *type, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(type, *list))
            return true;
    return false;
}

static bool is_leaf(const cb_node *nd) {
    return (nd->n_children == 0 || !strcmp(nd->type, "string_literal") || !strcmp(nd->type, "string") ||
            !strcmp(nd->type, "character_literal")) &&
           strcmp(nd->type, "comment") != 0;
}

// ---- tokens ----------------------------------------------------------------------------------------
static uint64_t span_hash(const uint32_t k[4]) {
    uint64_t h = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 4; i++)
        h = (h ^ k[i]) * 0xBF58476D1CE4E5B9ULL;
    return h ^ (h >> 29);
}

static void span_put(dfg_ctx *c, const cb_node *nd, tok v) {
    uint32_t k[4] = {nd->start.row, nd->start.column, nd->end.row, nd->end.column};
    size_t j = span_hash(k) & (c->span_cap - 1);
    while (c->span_used[j] && memcmp(&c->span_key[4 * j], k, sizeof k))
        j = (j + 1) & (c->span_cap - 1);
    memcpy(&c->span_key[4 * j], k, sizeof k);
    c->span_val[j] = v;
    c->span_used[j] = 1;
}

// index_to_code[(start_point, end_point)]; a missing key is a KeyError (→ c->exc).
static bool span_get(dfg_ctx *c, const cb_node *nd, tok *out) {
    uint32_t k[4] = {nd->start.row, nd->start.column, nd->end.row, nd->end.column};
    size_t j = span_hash(k) & (c->span_cap - 1);
    while (c->span_used[j]) {
        if (!memcmp(&c->span_key[4 * j], k, sizeof k)) {
            *out = c->span_val[j];
            return true;
        }
        j = (j + 1) & (c->span_cap - 1);
    }
    c->exc = true;
    return false;
}

static int32_t name_intern(dfg_ctx *c, const char *p, size_t n) {
    for (int32_t i = 0; i < c->n_names; i++) // names per snippet are few; linear is fine
        if (c->names[i].n == n && !memcmp(c->names[i].p, p, n))
            return i;
    if (c->n_names == c->names_cap) {
        int32_t cap = c->names_cap ? 2 * c->names_cap : 64;
        cb_span *nn = realloc(c->names, (size_t)cap * sizeof *nn);
        if (!nn) {
            c->oom = true;
            return 0;
        }
        c->names = nn;
        c->names_cap = cap;
    }
    c->names[c->n_names] = (cb_span){p, n};
    return c->n_names++;
}

// Source lines (split on '\n') for the character-indexed slicing of index_to_code_token.
typedef struct lines {
    const char **p;
    size_t *n;
    size_t count;
} lines;

// Byte offset of code point `cp` in line l (clamped to its end), as Python slicing clamps.
static size_t cp_off(const char *s, size_t n, int64_t cp) {
    size_t i = 0;
    while (cp > 0 && i < n) {
        cb_utf8_next(s, n, &i);
        cp--;
    }
    return i;
}

static sqz_status append_slice(dfg_ctx *c, cb_buf *b, const lines *L, uint32_t row, int64_t from, int64_t to) {
    if (row >= L->count) {
        c->exc = true; // IndexError (cannot happen for a tree of the same text)
        return SQZ_OK;
    }
    size_t a = cp_off(L->p[row], L->n[row], from);
    size_t e = to < 0 ? L->n[row] : cp_off(L->p[row], L->n[row], to);
    return e > a ? cb_buf_put(b, L->p[row] + a, e - a) : SQZ_OK;
}

static sqz_status token_text(dfg_ctx *c, const lines *L, const cb_node *nd, cb_buf *b) {
    b->n = 0;
    SQZ_TRY(cb_buf_put(b, "", 0));
    if (nd->start.row == nd->end.row)
        return append_slice(c, b, L, nd->start.row, nd->start.column, nd->end.column);
    SQZ_TRY(append_slice(c, b, L, nd->start.row, nd->start.column, -1));
    for (uint32_t r = nd->start.row + 1; r < nd->end.row; r++)
        SQZ_TRY(append_slice(c, b, L, r, 0, -1));
    return append_slice(c, b, L, nd->end.row, 0, nd->end.column);
}

// tree_to_token_index + index_to_code, walking the tree in document order with an explicit stack.
static sqz_status build_tokens(dfg_ctx *c, const lines *L, char **textbuf) {
    const cb_tree *t = c->t;
    uint32_t *stack = malloc(((size_t)t->n_nodes + 1) * sizeof *stack);
    SQZ_FAIL_IF(!stack, SQZ_ERR_NOMEM, "codebleu: out of memory");
    cb_buf all = {0}, one = {0};
    sqz_status st = cb_buf_put(&all, "", 0);
    size_t sp = 0;
    int32_t idx = 0;
    // token texts are appended to `all`; their offsets are fixed up once it stops moving
    size_t *offs = NULL, n_offs = 0, cap_offs = 0;
    const cb_node **leaves = NULL;
    stack[sp++] = 0;
    while (st == SQZ_OK && sp) {
        const cb_node *nd = &t->nodes[stack[--sp]];
        if (is_leaf(nd)) {
            st = token_text(c, L, nd, &one);
            if (st == SQZ_OK && n_offs + 1 >= cap_offs) {
                cap_offs = cap_offs ? 2 * cap_offs : 256;
                size_t *no = realloc(offs, cap_offs * sizeof *no);
                const cb_node **nl = realloc(leaves, cap_offs * sizeof *nl);
                if (no)
                    offs = no;
                if (nl)
                    leaves = nl;
                if (!no || !nl)
                    st = sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
            }
            if (st == SQZ_OK) {
                offs[n_offs] = all.n;
                leaves[n_offs++] = nd;
                st = cb_buf_put(&all, one.p, one.n);
            }
            continue;
        }
        for (uint32_t k = nd->n_children; k-- > 0;)
            stack[sp++] = nd->first_child + k;
    }
    if (st == SQZ_OK) {
        offs = offs ? offs : malloc(sizeof *offs);
        if (!offs)
            st = sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
        else
            offs[n_offs] = all.n;
    }
    for (size_t k = 0; st == SQZ_OK && k < n_offs; k++) {
        int32_t code = name_intern(c, all.p + offs[k], offs[k + 1] - offs[k]);
        span_put(c, leaves[k], (tok){idx++, code});
    }
    if (c->oom)
        st = sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
    free(stack);
    free(offs);
    free(leaves);
    cb_buf_free(&one);
    *textbuf = all.p; // owns the bytes the interned names point into
    return st;
}

// ---- small list helpers ---------------------------------------------------------------------------
static ilist ilist_make(dfg_ctx *c, const int32_t *v, int32_t n) {
    int32_t *p = n ? arena_alloc(&c->ar, (size_t)n * sizeof *p) : NULL;
    if (n && !p) {
        c->oom = true;
        return (ilist){NULL, 0};
    }
    if (n)
        memcpy(p, v, (size_t)n * sizeof *p);
    return (ilist){p, n};
}

static void el_push(dfg_ctx *c, elist *l, edge e) {
    if (l->n == l->cap) {
        int32_t cap = l->cap ? 2 * l->cap : 8;
        edge *v = arena_alloc(&c->ar, (size_t)cap * sizeof *v);
        if (!v) {
            c->oom = true;
            return;
        }
        if (l->n)
            memcpy(v, l->v, (size_t)l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = e;
}

static void el_cat(dfg_ctx *c, elist *l, const elist *m) {
    for (int32_t i = 0; i < m->n; i++)
        el_push(c, l, m->v[i]);
}

// sorted(DFG, key=lambda x: x[1]): a stable sort on the token index.
static void el_sort(dfg_ctx *c, elist *l) {
    if (l->n < 2)
        return;
    edge *tmp = arena_alloc(&c->ar, (size_t)l->n * sizeof *tmp);
    if (!tmp) {
        c->oom = true;
        return;
    }
    for (int32_t w = 1; w < l->n; w *= 2) {
        for (int32_t lo = 0; lo < l->n; lo += 2 * w) {
            int32_t mid = lo + w < l->n ? lo + w : l->n, hi = lo + 2 * w < l->n ? lo + 2 * w : l->n;
            int32_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi)
                tmp[o++] = l->v[b].idx < l->v[a].idx ? l->v[b++] : l->v[a++];
            while (a < mid)
                tmp[o++] = l->v[a++];
            while (b < hi)
                tmp[o++] = l->v[b++];
        }
        memcpy(l->v, tmp, (size_t)l->n * sizeof *tmp);
    }
}

static const ilist *st_get(const states *s, int32_t key) {
    int32_t lo = 0, hi = s->n;
    while (lo < hi) {
        int32_t m = (lo + hi) / 2;
        if (s->kv[m].key == key)
            return &s->kv[m].val;
        if (s->kv[m].key < key)
            lo = m + 1;
        else
            hi = m;
    }
    return NULL;
}

static states st_copy(dfg_ctx *c, const states *s, int32_t extra) {
    states r = {arena_alloc(&c->ar, ((size_t)s->n + (size_t)extra + 1) * sizeof(state_kv)), s->n};
    if (!r.kv) {
        c->oom = true;
        return (states){NULL, 0};
    }
    if (s->n)
        memcpy(r.kv, s->kv, (size_t)s->n * sizeof(state_kv));
    return r;
}

// states[key] = val (copy-on-write: a fresh table)
static void st_set(dfg_ctx *c, states *s, int32_t key, ilist val) {
    states r = st_copy(c, s, 1);
    if (!r.kv)
        return;
    int32_t i = 0;
    while (i < r.n && r.kv[i].key < key)
        i++;
    if (i < r.n && r.kv[i].key == key) {
        r.kv[i].val = val;
    } else {
        memmove(&r.kv[i + 1], &r.kv[i], (size_t)(r.n - i) * sizeof(state_kv));
        r.kv[i] = (state_kv){key, val};
        r.n++;
    }
    *s = r;
}

static void st_set1(dfg_ctx *c, states *s, int32_t key, int32_t idx) {
    st_set(c, s, key, ilist_make(c, &idx, 1));
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

// sorted(set(v))
static ilist sorted_unique(dfg_ctx *c, const int32_t *v, int32_t n) {
    int32_t *p = n ? arena_alloc(&c->ar, (size_t)n * sizeof *p) : NULL;
    if (n && !p) {
        c->oom = true;
        return (ilist){NULL, 0};
    }
    if (!n)
        return (ilist){NULL, 0};
    memcpy(p, v, (size_t)n * sizeof *p);
    qsort(p, (size_t)n, sizeof *p, cmp_i32);
    int32_t m = 1;
    for (int32_t i = 1; i < n; i++)
        if (p[i] != p[m - 1])
            p[m++] = p[i];
    return (ilist){p, m};
}

static int cmp_span_bytes(const cb_span *a, const cb_span *b) {
    size_t n = a->n < b->n ? a->n : b->n;
    int r = memcmp(a->p, b->p, n);
    return r ? r : (a->n > b->n) - (a->n < b->n);
}

// list(set(a + b)) of name ids, in the flavor's set order.
static ilist names_union(dfg_ctx *c, ilist a, ilist b) {
    int32_t n = a.n + b.n;
    if (!n)
        return (ilist){NULL, 0};
    int32_t *all = arena_alloc(&c->ar, (size_t)n * sizeof *all);
    cb_span *sp = arena_alloc(&c->ar, (size_t)n * sizeof *sp);
    size_t *order = arena_alloc(&c->ar, (size_t)n * sizeof *order);
    if (!all || !sp || !order) {
        c->oom = true;
        return (ilist){NULL, 0};
    }
    if (a.n)
        memcpy(all, a.v, (size_t)a.n * sizeof *all);
    if (b.n)
        memcpy(all + a.n, b.v, (size_t)b.n * sizeof *all);
    size_t m = 0;
    if (c->flavor == SQZ_CODEBLEU_PYPI) {
        for (int32_t i = 0; i < n; i++)
            sp[i] = c->names[all[i]];
        if (cb_pyset_order(sp, (size_t)n, order, &m) != SQZ_OK) {
            c->oom = true;
            return (ilist){NULL, 0};
        }
        int32_t *r = arena_alloc(&c->ar, m * sizeof *r);
        if (!r) {
            c->oom = true;
            return (ilist){NULL, 0};
        }
        for (size_t k = 0; k < m; k++)
            r[k] = all[order[k]];
        return (ilist){r, (int32_t)m};
    }
    // sorted(set(names)): insertion sort by bytes (UTF-8 byte order = code-point order), dedup
    int32_t *r = all;
    for (int32_t i = 0; i < n; i++) {
        int32_t x = all[i], j = (int32_t)m;
        bool dup = false;
        for (int32_t k = 0; k < (int32_t)m; k++)
            dup |= r[k] == x;
        if (dup)
            continue;
        while (j > 0 && cmp_span_bytes(&c->names[r[j - 1]], &c->names[x]) > 0) {
            r[j] = r[j - 1];
            j--;
        }
        r[j] = x;
        m++;
    }
    return (ilist){r, (int32_t)m};
}

// The for/while post-pass: merge edges with equal (name, index, relation), then sort by index.
static elist merge_loop_edges(dfg_ctx *c, const elist *in) {
    elist out = {0};
    for (int32_t i = 0; i < in->n && !c->oom; i++) {
        const edge *e = &in->v[i];
        int32_t k = 0;
        while (k < out.n && !(out.v[k].code == e->code && out.v[k].idx == e->idx && out.v[k].rel == e->rel))
            k++;
        if (k == out.n) {
            el_push(c, &out, *e);
            continue;
        }
        out.v[k].names = names_union(c, out.v[k].names, e->names);
        int32_t n = out.v[k].idxs.n + e->idxs.n;
        int32_t *tmp = arena_alloc(&c->ar, ((size_t)n + 1) * sizeof *tmp);
        if (!tmp) {
            c->oom = true;
            break;
        }
        if (out.v[k].idxs.n)
            memcpy(tmp, out.v[k].idxs.v, (size_t)out.v[k].idxs.n * sizeof *tmp);
        if (e->idxs.n)
            memcpy(tmp + out.v[k].idxs.n, e->idxs.v, (size_t)e->idxs.n * sizeof *tmp);
        out.v[k].idxs = sorted_unique(c, tmp, n);
    }
    el_sort(c, &out);
    return out;
}

// ---- the DFG walk ---------------------------------------------------------------------------------
typedef struct lang_rules {
    const char *const *assignment, *const *def, *const *increment, *const *if_, *const *for_,
        *const *enhanced_for, *const *while_, *const *do_first;
    const char *for_decl; // child type after which a C-style for re-walks its children
} lang_rules;

static const char *const NONE[] = {NULL};
static const char *const PY_ASSIGN[] = {"assignment", "augmented_assignment", "for_in_clause", NULL};
static const char *const PY_DEF[] = {"default_parameter", NULL};
static const char *const PY_IF[] = {"if_statement", NULL};
static const char *const PY_FOR[] = {"for_statement", NULL};
static const char *const PY_DO_FIRST[] = {"for_in_clause", NULL};
static const char *const WHILE[] = {"while_statement", NULL};
static const char *const FOR[] = {"for_statement", NULL};
static const char *const IF_ELSE[] = {"if_statement", "else", NULL};
static const char *const DECL[] = {"variable_declarator", NULL};
static const char *const ASSIGN_EXPR[] = {"assignment_expression", NULL};
static const char *const UPDATE[] = {"update_expression", NULL};
static const char *const JAVA_EFOR[] = {"enhanced_for_statement", NULL};
static const char *const CS_INC[] = {"postfix_unary_expression", NULL};
static const char *const CS_EFOR[] = {"for_each_statement", NULL};
static const char *const JS_ASSIGN[] = {"assignment_pattern", "augmented_assignment_expression", NULL};

static const lang_rules RULES_PY = {PY_ASSIGN, PY_DEF, NONE, PY_IF, PY_FOR, NONE, WHILE, PY_DO_FIRST, NULL};
static const lang_rules RULES_JAVA = {ASSIGN_EXPR, DECL, UPDATE, IF_ELSE, FOR, JAVA_EFOR, WHILE, NONE,
                                      "local_variable_declaration"};
static const lang_rules RULES_CS = {ASSIGN_EXPR, DECL, CS_INC, IF_ELSE, FOR, CS_EFOR, WHILE, NONE,
                                    "local_variable_declaration"};
static const lang_rules RULES_JS = {JS_ASSIGN, DECL, UPDATE, IF_ELSE, FOR, NONE, WHILE, NONE, "variable_declaration"};

static const lang_rules *rules_of(cb_lang l) {
    switch (l) {
    case CB_PYTHON: return &RULES_PY;
    case CB_JAVA: return &RULES_JAVA;
    case CB_JS: return &RULES_JS;
    default: return &RULES_CS; // c_sharp; also c and cpp, as the PyPI package does
    }
}

typedef struct toks {
    tok *v;
    int32_t n, cap;
} toks;

// tree_to_variable_index + the index_to_code lookups: leaves whose type differs from their text.
static void var_tokens(dfg_ctx *c, int64_t node, toks *out) {
    out->n = 0;
    if (node < 0) { // None.children → AttributeError
        c->exc = true;
        return;
    }
    uint32_t sp = 0, cap = 64;
    uint32_t *stack = arena_alloc(&c->ar, cap * sizeof *stack);
    if (!stack) {
        c->oom = true;
        return;
    }
    stack[sp++] = (uint32_t)node;
    while (sp && !c->exc && !c->oom) {
        const cb_node *nd = &c->t->nodes[stack[--sp]];
        if (is_leaf(nd)) {
            tok tk;
            if (!span_get(c, nd, &tk))
                return;
            const cb_span *txt = &c->names[tk.code];
            if (strlen(nd->type) == txt->n && !memcmp(nd->type, txt->p, txt->n))
                continue;
            if (out->n == out->cap) {
                int32_t nc = out->cap ? 2 * out->cap : 16;
                tok *v = arena_alloc(&c->ar, (size_t)nc * sizeof *v);
                if (!v) {
                    c->oom = true;
                    return;
                }
                if (out->n)
                    memcpy(v, out->v, (size_t)out->n * sizeof *v);
                out->v = v;
                out->cap = nc;
            }
            out->v[out->n++] = tk;
            continue;
        }
        if (sp + nd->n_children > cap) {
            uint32_t nc = 2 * (sp + nd->n_children);
            uint32_t *ns = arena_alloc(&c->ar, nc * sizeof *ns);
            if (!ns) {
                c->oom = true;
                return;
            }
            memcpy(ns, stack, sp * sizeof *ns);
            stack = ns;
            cap = nc;
        }
        for (uint32_t k = nd->n_children; k-- > 0;)
            stack[sp++] = nd->first_child + k;
    }
}

static edge mk_edge(dfg_ctx *c, tok t, int rel, const toks *par) {
    edge e = {.code = t.code, .idx = t.idx, .rel = rel};
    if (par && par->n) {
        int32_t *nm = arena_alloc(&c->ar, (size_t)par->n * sizeof *nm);
        int32_t *ix = arena_alloc(&c->ar, (size_t)par->n * sizeof *ix);
        if (!nm || !ix) {
            c->oom = true;
            return e;
        }
        for (int32_t k = 0; k < par->n; k++) {
            nm[k] = par->v[k].code;
            ix[k] = par->v[k].idx;
        }
        e.names = (ilist){nm, par->n};
        e.idxs = (ilist){ix, par->n};
    }
    return e;
}

static void dfg(dfg_ctx *c, uint32_t node, states *st, elist *out);

#define BAIL (c->exc || c->oom)

static void dfg_child(dfg_ctx *c, int64_t node, states *st, elist *out) {
    if (node < 0) { // DFG_x(None, ...) → AttributeError
        c->exc = true;
        return;
    }
    elist tmp = {0};
    dfg(c, (uint32_t)node, st, &tmp);
    el_cat(c, out, &tmp);
}

static void dfg_leaf(dfg_ctx *c, const cb_node *nd, states *st, elist *out) {
    tok tk;
    if (!span_get(c, nd, &tk))
        return;
    const cb_span *txt = &c->names[tk.code];
    if (strlen(nd->type) == txt->n && !memcmp(nd->type, txt->p, txt->n))
        return;
    const ilist *prev = st_get(st, tk.code);
    edge e = {.code = tk.code, .idx = tk.idx, .rel = REL_COMES};
    if (prev) {
        e.names = ilist_make(c, &tk.code, 1);
        e.idxs = *prev;
    } else if (!strcmp(nd->type, "identifier")) {
        st_set1(c, st, tk.code, tk.idx);
    }
    el_push(c, out, e);
}

// name → value definitions (variable_declarator / default_parameter).
static void dfg_def(dfg_ctx *c, uint32_t i, states *st, elist *out) {
    const cb_node *nd = &c->t->nodes[i];
    int64_t name, value;
    if (c->lang == CB_CSHARP || c->lang == CB_C || c->lang == CB_CPP) {
        name = nd->first_child;
        value = nd->n_children == 2 ? (int64_t)nd->first_child + 1 : -1;
        // CodeXGLUE flavor: its 2020 C# grammar had (identifier, equals_value_clause); today's has
        // (identifier, '=', value). Treat the latter like the former (see docs/codebleu.md).
        if (c->flavor == SQZ_CODEBLEU_CODEXGLUE && nd->n_children == 3 &&
            !strcmp(c->t->nodes[nd->first_child + 1].type, "="))
            value = nd->first_child + 2;
    } else {
        name = cb_tree_field(c->t, i, "name");
        value = cb_tree_field(c->t, i, "value");
    }
    toks nt = {0}, vt = {0};
    if (value < 0) {
        var_tokens(c, name, &nt);
        for (int32_t k = 0; k < nt.n && !BAIL; k++) {
            el_push(c, out, mk_edge(c, nt.v[k], REL_COMES, NULL));
            st_set1(c, st, nt.v[k].code, nt.v[k].idx);
        }
        el_sort(c, out);
        return;
    }
    var_tokens(c, name, &nt);
    if (!BAIL)
        var_tokens(c, value, &vt);
    if (!BAIL)
        dfg_child(c, value, st, out);
    for (int32_t k = 0; k < nt.n && !BAIL; k++) {
        for (int32_t m = 0; m < vt.n; m++) {
            toks one = {&vt.v[m], 1, 1};
            el_push(c, out, mk_edge(c, nt.v[k], REL_COMES, &one));
        }
        st_set1(c, st, nt.v[k].code, nt.v[k].idx);
    }
    el_sort(c, out);
}

// left = right, edge-per-pair (Java, C#, JavaScript).
static void dfg_assign(dfg_ctx *c, uint32_t i, states *st, elist *out) {
    int64_t left = cb_tree_field(c->t, i, "left"), right = cb_tree_field(c->t, i, "right");
    dfg_child(c, right, st, out);
    toks nt = {0}, vt = {0};
    if (!BAIL)
        var_tokens(c, left, &nt);
    if (!BAIL)
        var_tokens(c, right, &vt);
    for (int32_t k = 0; k < nt.n && !BAIL; k++) {
        for (int32_t m = 0; m < vt.n; m++) {
            toks one = {&vt.v[m], 1, 1};
            el_push(c, out, mk_edge(c, nt.v[k], REL_COMPUTED, &one));
        }
        st_set1(c, st, nt.v[k].code, nt.v[k].idx);
    }
    el_sort(c, out);
}

static void dfg_increment(dfg_ctx *c, uint32_t i, states *st, elist *out) {
    toks it = {0};
    var_tokens(c, i, &it);
    for (int32_t k = 0; k < it.n && !BAIL; k++) {
        for (int32_t m = 0; m < it.n; m++) {
            toks one = {&it.v[m], 1, 1};
            el_push(c, out, mk_edge(c, it.v[k], REL_COMPUTED, &one));
        }
        st_set1(c, st, it.v[k].code, it.v[k].idx);
    }
    el_sort(c, out);
}

// Python's [x for x in node.children if x.type != ','] (node may be -1 → AttributeError).
static int32_t non_comma_children(dfg_ctx *c, int64_t node, uint32_t *out, int32_t cap) {
    if (node < 0) {
        c->exc = true;
        return 0;
    }
    const cb_node *nd = &c->t->nodes[node];
    int32_t n = 0;
    for (uint32_t k = 0; k < nd->n_children && n < cap; k++)
        if (strcmp(c->t->nodes[nd->first_child + k].type, ","))
            out[n++] = nd->first_child + k;
    return n;
}

// Python assignment pairs (left_nodes, right_nodes) and the computedFrom edges.
static void py_pairs(dfg_ctx *c, int64_t left, int64_t right, states *st, elist *out, bool for_in) {
    uint32_t lbuf[256], rbuf[256];
    uint32_t *ln = lbuf, *rn = rbuf;
    int32_t nl, nr;
    if (for_in) {
        if (left < 0 || right < 0) {
            c->exc = true;
            return;
        }
        ln[0] = (uint32_t)left;
        rn[0] = (uint32_t)right;
        nl = nr = 1;
    } else {
        int32_t capl = left >= 0 ? (int32_t)c->t->nodes[left].n_children : 0;
        int32_t capr = right >= 0 ? (int32_t)c->t->nodes[right].n_children : 0;
        if (capl > 256)
            ln = arena_alloc(&c->ar, (size_t)capl * sizeof *ln);
        if (capr > 256)
            rn = arena_alloc(&c->ar, (size_t)capr * sizeof *rn);
        if (!ln || !rn) {
            c->oom = true;
            return;
        }
        nl = non_comma_children(c, left, ln, capl > 256 ? capl : 256);
        nr = non_comma_children(c, right, rn, capr > 256 ? capr : 256);
        if (BAIL)
            return;
        if (nl != nr) {
            ln[0] = (uint32_t)left;
            rn[0] = (uint32_t)right;
            nl = nr = 1;
        }
        if (nl == 0) {
            ln[0] = (uint32_t)left;
            nl = 1;
        }
        if (nr == 0) {
            rn[0] = (uint32_t)right;
            nr = 1;
        }
    }
    for (int32_t k = 0; k < nr && !BAIL; k++)
        dfg_child(c, rn[k], st, out);
    int32_t pairs = nl < nr ? nl : nr;
    for (int32_t p = 0; p < pairs && !BAIL; p++) {
        toks lt = {0}, rt = {0};
        var_tokens(c, ln[p], &lt);
        if (!BAIL)
            var_tokens(c, rn[p], &rt);
        for (int32_t k = 0; k < lt.n && !BAIL; k++) {
            el_push(c, out, mk_edge(c, lt.v[k], REL_COMPUTED, &rt));
            st_set1(c, st, lt.v[k].code, lt.v[k].idx);
        }
    }
}

static void dfg_py_assign(dfg_ctx *c, uint32_t i, states *st, elist *out) {
    const cb_node *nd = &c->t->nodes[i];
    if (!strcmp(nd->type, "for_in_clause")) {
        int64_t last = nd->n_children ? (int64_t)(nd->first_child + nd->n_children - 1) : -1;
        py_pairs(c, cb_tree_field(c->t, i, "left"), last, st, out, true);
    } else {
        int64_t right = cb_tree_field(c->t, i, "right");
        if (right < 0)
            return;
        py_pairs(c, cb_tree_field(c->t, i, "left"), right, st, out, false);
    }
    el_sort(c, out);
}

// Merge the branch states of an if: union of definition indices per name, sorted.
static states merge_states(dfg_ctx *c, const states *list, int n_list, const states *extra) {
    states r = {0};
    int32_t total = 0;
    for (int k = 0; k < n_list; k++)
        total += list[k].n;
    if (extra)
        total += extra->n;
    r.kv = arena_alloc(&c->ar, ((size_t)total + 1) * sizeof *r.kv);
    if (!r.kv) {
        c->oom = true;
        return r;
    }
    for (int k = 0; k <= n_list; k++) {
        const states *s = k < n_list ? &list[k] : extra;
        if (!s)
            continue;
        for (int32_t j = 0; j < s->n; j++) {
            const ilist *cur = st_get(&r, s->kv[j].key);
            if (!cur) {
                st_set(c, &r, s->kv[j].key, s->kv[j].val);
                continue;
            }
            int32_t n = cur->n + s->kv[j].val.n;
            int32_t *tmp = arena_alloc(&c->ar, ((size_t)n + 1) * sizeof *tmp);
            if (!tmp) {
                c->oom = true;
                return r;
            }
            memcpy(tmp, cur->v, (size_t)cur->n * sizeof *tmp);
            memcpy(tmp + cur->n, s->kv[j].val.v, (size_t)s->kv[j].val.n * sizeof *tmp);
            st_set(c, &r, s->kv[j].key, (ilist){tmp, n});
        }
    }
    for (int32_t j = 0; j < r.n; j++)
        r.kv[j].val = sorted_unique(c, r.kv[j].val.v, r.kv[j].val.n);
    return r;
}

static void dfg_if(dfg_ctx *c, uint32_t i, const lang_rules *R, states *st, elist *out) {
    const cb_node *nd = &c->t->nodes[i];
    states cur = *st;
    states *others = arena_alloc(&c->ar, ((size_t)nd->n_children + 2) * sizeof *others);
    if (!others) {
        c->oom = true;
        return;
    }
    int n_others = 0;
    bool flag = false, tag = strstr(nd->type, "else") != NULL;
    for (uint32_t k = 0; k < nd->n_children && !BAIL; k++) {
        uint32_t ch = nd->first_child + k;
        const char *ct = c->t->nodes[ch].type;
        if (strstr(ct, "else"))
            tag = true;
        bool main_branch = c->lang == CB_PYTHON ? (strcmp(ct, "elif_clause") && strcmp(ct, "else_clause"))
                                                : (!is_type(ct, R->if_) && !flag);
        if (main_branch) {
            dfg_child(c, ch, &cur, out);
        } else {
            flag = true;
            states ns = *st;
            dfg_child(c, ch, &ns, out);
            others[n_others++] = ns;
        }
    }
    others[n_others++] = cur;
    if (!tag)
        others[n_others++] = *st;
    *st = merge_states(c, others, n_others, c->lang == CB_JS ? st : NULL);
    el_sort(c, out);
}

static void dfg_for_c(dfg_ctx *c, uint32_t i, const lang_rules *R, states *st, elist *out) {
    const cb_node *nd = &c->t->nodes[i];
    elist all = {0};
    for (uint32_t k = 0; k < nd->n_children && !BAIL; k++)
        dfg_child(c, nd->first_child + k, st, &all);
    bool flag = false;
    for (uint32_t k = 0; k < nd->n_children && !BAIL; k++) {
        uint32_t ch = nd->first_child + k;
        if (flag)
            dfg_child(c, ch, st, &all);
        else if (!strcmp(c->t->nodes[ch].type, R->for_decl))
            flag = true;
    }
    if (!BAIL)
        *out = merge_loop_edges(c, &all);
}

static void dfg_for_py(dfg_ctx *c, uint32_t i, states *st, elist *out) {
    const cb_node *nd = &c->t->nodes[i];
    elist all = {0};
    for (int it = 0; it < 2 && !BAIL; it++) {
        py_pairs(c, cb_tree_field(c->t, i, "left"), cb_tree_field(c->t, i, "right"), st, &all, false);
        uint32_t last = nd->first_child + nd->n_children - 1;
        if (!BAIL && nd->n_children && !strcmp(c->t->nodes[last].type, "block"))
            dfg_child(c, last, st, &all);
    }
    if (!BAIL)
        *out = merge_loop_edges(c, &all);
}

static void dfg_enhanced_for(dfg_ctx *c, uint32_t i, states *st, elist *out) {
    bool java = c->lang == CB_JAVA;
    int64_t name = cb_tree_field(c->t, i, java ? "name" : "left");
    int64_t value = cb_tree_field(c->t, i, java ? "value" : "right");
    int64_t body = cb_tree_field(c->t, i, "body");
    elist all = {0};
    for (int it = 0; it < 2 && !BAIL; it++) {
        dfg_child(c, value, st, &all);
        toks nt = {0}, vt = {0};
        if (!BAIL)
            var_tokens(c, name, &nt);
        if (!BAIL)
            var_tokens(c, value, &vt);
        for (int32_t k = 0; k < nt.n && !BAIL; k++) {
            for (int32_t m = 0; m < vt.n; m++) {
                toks one = {&vt.v[m], 1, 1};
                el_push(c, &all, mk_edge(c, nt.v[k], REL_COMPUTED, &one));
            }
            st_set1(c, st, nt.v[k].code, nt.v[k].idx);
        }
        if (!BAIL)
            dfg_child(c, body, st, &all);
    }
    if (!BAIL)
        *out = merge_loop_edges(c, &all);
}

static void dfg_while(dfg_ctx *c, uint32_t i, states *st, elist *out) {
    const cb_node *nd = &c->t->nodes[i];
    elist all = {0};
    for (int it = 0; it < 2 && !BAIL; it++)
        for (uint32_t k = 0; k < nd->n_children && !BAIL; k++)
            dfg_child(c, nd->first_child + k, st, &all);
    if (!BAIL)
        *out = merge_loop_edges(c, &all);
}

static void dfg_default(dfg_ctx *c, uint32_t i, const lang_rules *R, states *st, elist *out) {
    const cb_node *nd = &c->t->nodes[i];
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t k = 0; k < nd->n_children && !BAIL; k++) {
            uint32_t ch = nd->first_child + k;
            if (is_type(c->t->nodes[ch].type, R->do_first) == (pass == 0))
                dfg_child(c, ch, st, out);
        }
    el_sort(c, out);
}

// DFG_<lang>(node, index_to_code, states): edges into *out (fresh), *st updated to the new states.
static void dfg(dfg_ctx *c, uint32_t i, states *st, elist *out) {
    if (BAIL)
        return;
    if (++c->depth > MAX_DEPTH) {
        c->exc = true;
        c->depth--;
        return;
    }
    const lang_rules *R = rules_of(c->lang);
    const cb_node *nd = &c->t->nodes[i];
    const char *ty = nd->type;
    if (is_leaf(nd))
        dfg_leaf(c, nd, st, out);
    else if (is_type(ty, R->def))
        dfg_def(c, i, st, out);
    else if (is_type(ty, R->assignment))
        c->lang == CB_PYTHON ? dfg_py_assign(c, i, st, out) : dfg_assign(c, i, st, out);
    else if (is_type(ty, R->increment))
        dfg_increment(c, i, st, out);
    else if (is_type(ty, R->if_))
        dfg_if(c, i, R, st, out);
    else if (is_type(ty, R->for_))
        c->lang == CB_PYTHON ? dfg_for_py(c, i, st, out) : dfg_for_c(c, i, R, st, out);
    else if (is_type(ty, R->enhanced_for))
        dfg_enhanced_for(c, i, st, out);
    else if (is_type(ty, R->while_))
        dfg_while(c, i, st, out);
    else
        dfg_default(c, i, R, st, out);
    c->depth--;
}

// ---- get_data_flow + normalize_dataflow -----------------------------------------------------------
// A normalized edge: (var, relation, [vars]) as a flat int array [var, rel, n, v0, v1, ...].
typedef struct norm {
    int32_t *v;
    int32_t n_items;
    int32_t **items;
    bool *used;
} norm;

static sqz_status split_lines(const cb_tree *t, lines *L) {
    size_t count = 1;
    for (size_t i = 0; i < t->src_n; i++)
        count += t->src[i] == '\n';
    L->p = malloc(count * sizeof *L->p);
    L->n = malloc(count * sizeof *L->n);
    SQZ_FAIL_IF(!L->p || !L->n, SQZ_ERR_NOMEM, "codebleu: out of memory");
    size_t a = 0, r = 0;
    for (size_t i = 0; i <= t->src_n; i++) {
        if (i == t->src_n || t->src[i] == '\n') {
            L->p[r] = t->src + a;
            L->n[r++] = i - a;
            a = i + 1;
        }
    }
    L->count = r;
    return SQZ_OK;
}

// get_data_flow(): the snippet's merged edges, normalized, into *nm (arena of c).
static sqz_status data_flow(dfg_ctx *c, norm *nm) {
    lines L = {0};
    char *text = NULL;
    sqz_status st = split_lines(c->t, &L);
    c->span_cap = 64;
    while (c->span_cap < 2 * (size_t)c->t->n_nodes + 2)
        c->span_cap *= 2;
    c->span_key = malloc(c->span_cap * 4 * sizeof *c->span_key);
    c->span_val = malloc(c->span_cap * sizeof *c->span_val);
    c->span_used = calloc(c->span_cap, 1);
    if (st == SQZ_OK && (!c->span_key || !c->span_val || !c->span_used))
        st = sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
    if (st == SQZ_OK)
        st = build_tokens(c, &L, &text);
    elist d = {0};
    if (st == SQZ_OK && !c->exc) {
        states s0 = {0};
        dfg(c, 0, &s0, &d);
        if (c->oom)
            st = sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
        if (c->exc)
            d.n = 0; // the reference's `except: DFG = []`
    }
    memset(nm, 0, sizeof *nm);
    if (st == SQZ_OK) {
        el_sort(c, &d);
        // keep edges whose index is a parent of some edge or that have parents themselves
        int32_t max_idx = 0;
        for (int32_t k = 0; k < d.n; k++) {
            max_idx = d.v[k].idx > max_idx ? d.v[k].idx : max_idx;
            for (int32_t m = 0; m < d.v[k].idxs.n; m++)
                max_idx = d.v[k].idxs.v[m] > max_idx ? d.v[k].idxs.v[m] : max_idx;
        }
        uint8_t *keep = arena_alloc(&c->ar, (size_t)max_idx + 1);
        int32_t *slot = arena_alloc(&c->ar, ((size_t)max_idx + 1) * sizeof *slot);
        edge *merged = arena_alloc(&c->ar, ((size_t)d.n + 1) * sizeof *merged);
        if (!keep || !slot || !merged)
            st = sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
        int32_t nmg = 0;
        if (st == SQZ_OK) {
            memset(keep, 0, (size_t)max_idx + 1);
            for (int32_t k = 0; k <= max_idx; k++)
                slot[k] = -1;
            for (int32_t k = 0; k < d.n; k++) {
                if (d.v[k].idxs.n)
                    keep[d.v[k].idx] = 1;
                for (int32_t m = 0; m < d.v[k].idxs.n; m++)
                    keep[d.v[k].idxs.v[m]] = 1;
            }
            for (int32_t k = 0; k < d.n && !c->oom; k++) {
                const edge *e = &d.v[k];
                if (!keep[e->idx])
                    continue;
                if (slot[e->idx] < 0) {
                    slot[e->idx] = nmg;
                    merged[nmg++] = *e;
                    continue;
                }
                edge *m = &merged[slot[e->idx]];
                ilist nn = names_union(c, m->names, e->names);
                *m = *e;
                m->names = nn; // parent indices are merged too but never used afterwards
            }
            if (c->oom)
                st = sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
        }
        // normalize_dataflow: number variables in order of appearance
        if (st == SQZ_OK && nmg) {
            int32_t *var = arena_alloc(&c->ar, ((size_t)c->n_names + 1) * sizeof *var);
            nm->items = arena_alloc(&c->ar, (size_t)nmg * sizeof *nm->items);
            nm->used = arena_alloc(&c->ar, (size_t)nmg);
            if (!var || !nm->items || !nm->used)
                return sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
            for (int32_t k = 0; k < c->n_names; k++)
                var[k] = -1;
            int32_t next = 0;
            for (int32_t k = 0; k < nmg; k++) {
                const edge *e = &merged[k];
                int32_t *it = arena_alloc(&c->ar, ((size_t)e->names.n + 3) * sizeof *it);
                if (!it)
                    return sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
                for (int32_t m = 0; m < e->names.n; m++)
                    if (var[e->names.v[m]] < 0)
                        var[e->names.v[m]] = next++;
                if (var[e->code] < 0)
                    var[e->code] = next++;
                it[0] = var[e->code];
                it[1] = e->rel;
                it[2] = e->names.n;
                for (int32_t m = 0; m < e->names.n; m++)
                    it[3 + m] = var[e->names.v[m]];
                nm->items[k] = it;
                nm->used[k] = false;
            }
            nm->n_items = nmg;
        }
    }
    free(L.p);
    free(L.n);
    free(text);
    return st;
}

static void ctx_free(dfg_ctx *c) {
    arena_free(&c->ar);
    free(c->span_key);
    free(c->span_val);
    free(c->span_used);
    free(c->names);
}

static bool norm_eq(const int32_t *a, const int32_t *b) {
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && !memcmp(a + 3, b + 3, (size_t)a[2] * sizeof *a);
}

sqz_status cb_dataflow_pair(const cb_tree *cand, const cb_tree *ref, cb_lang lang,
                            sqz_codebleu_flavor flavor, int64_t *match, int64_t *total) {
    dfg_ctx cc = {.t = cand, .lang = lang, .flavor = flavor};
    dfg_ctx rc = {.t = ref, .lang = lang, .flavor = flavor};
    norm cn, rn;
    sqz_status st = data_flow(&cc, &cn);
    if (st == SQZ_OK)
        st = data_flow(&rc, &rn);
    if (st == SQZ_OK) {
        for (int32_t k = 0; k < rn.n_items; k++) {
            for (int32_t m = 0; m < cn.n_items; m++) {
                if (!cn.used[m] && norm_eq(rn.items[k], cn.items[m])) {
                    cn.used[m] = true;
                    (*match)++;
                    break;
                }
            }
        }
        *total += rn.n_items;
    }
    ctx_free(&cc);
    ctx_free(&rc);
    return st;
}
