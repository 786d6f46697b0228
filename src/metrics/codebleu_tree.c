// Parse trees for CodeBLEU and the syntax (AST) match.
//
// Syntax match, as both references compute it: the S-expressions (tree-sitter's ts_node_string,
// what py-tree-sitter's str(node) / node.sexp() return) of the root and of every node with at least
// one child, for candidate and reference; the score counts reference subtrees whose S-expression
// occurs anywhere among the candidate's (list membership: duplicates count each time) over the
// number of reference subtrees.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/codebleu_internal.h"

void cb_tree_free(cb_tree *t) {
    if (!t)
        return;
    if (t->tree)
        ts_tree_delete(t->tree);
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

static sqz_status push_node(cb_tree *t, size_t *cap, TSNode nd) {
    if (t->n_nodes == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        cb_node *p = realloc(t->nodes, nc * sizeof *p);
        SQZ_FAIL_IF(!p, SQZ_ERR_NOMEM, "codebleu: out of memory");
        t->nodes = p;
        *cap = nc;
    }
    cb_node *c = &t->nodes[t->n_nodes++];
    c->ts = nd;
    c->type = ts_node_type(nd);
    c->start = ts_node_start_point(nd);
    c->end = ts_node_end_point(nd);
    c->first_child = c->n_children = 0;
    return SQZ_OK;
}

// Breadth-first flattening: the children of each node land contiguously.
static sqz_status flatten(cb_tree *t) {
    size_t cap = 0;
    SQZ_TRY(push_node(t, &cap, ts_tree_root_node(t->tree)));
    TSTreeCursor cur = ts_tree_cursor_new(t->nodes[0].ts);
    sqz_status st = SQZ_OK;
    for (uint32_t i = 0; i < t->n_nodes && st == SQZ_OK; i++) {
        ts_tree_cursor_reset(&cur, t->nodes[i].ts);
        uint32_t first = t->n_nodes;
        if (ts_tree_cursor_goto_first_child(&cur)) {
            do {
                st = push_node(t, &cap, ts_tree_cursor_current_node(&cur));
            } while (st == SQZ_OK && ts_tree_cursor_goto_next_sibling(&cur));
        }
        t->nodes[i].first_child = first;
        t->nodes[i].n_children = t->n_nodes - first;
    }
    ts_tree_cursor_delete(&cur);
    return st;
}

sqz_status cb_tree_parse(TSParser *parser, const char *src, size_t n, cb_tree *t) {
    memset(t, 0, sizeof *t);
    SQZ_FAIL_IF(n > UINT32_MAX, SQZ_ERR_ARG, "codebleu: code of %zu bytes is too large to parse", n);
    t->src = src;
    t->src_n = n;
    t->tree = ts_parser_parse_string(parser, NULL, src, (uint32_t)n);
    SQZ_FAIL_IF(!t->tree, SQZ_ERR_INTERNAL, "codebleu: tree-sitter failed to parse the code");
    sqz_status st = flatten(t);
    if (st != SQZ_OK)
        cb_tree_free(t);
    return st;
}

int64_t cb_tree_field(const cb_tree *t, uint32_t i, const char *field) {
    const cb_node *nd = &t->nodes[i];
    TSNode c = ts_node_child_by_field_name(nd->ts, field, (uint32_t)strlen(field));
    if (ts_node_is_null(c))
        return -1;
    for (uint32_t k = 0; k < nd->n_children; k++)
        if (ts_node_eq(t->nodes[nd->first_child + k].ts, c))
            return nd->first_child + k;
    return -1; // a field pointing below a hidden node: not one of the visible children
}

// ---- syntax match -----------------------------------------------------------------------------------
typedef struct sexp_set {
    char **keys;
    uint64_t *hashes;
    size_t cap;
} sexp_set;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

// The S-expressions of the root and of every node that has children (the references' walk).
static sqz_status collect_sexps(const cb_tree *t, char ***out, size_t *n_out) {
    char **v = malloc(((size_t)t->n_nodes + 1) * sizeof *v);
    SQZ_FAIL_IF(!v, SQZ_ERR_NOMEM, "codebleu: out of memory");
    size_t n = 0;
    for (uint32_t i = 0; i < t->n_nodes; i++) {
        if (i != 0 && t->nodes[i].n_children == 0)
            continue;
        v[n] = ts_node_string(t->nodes[i].ts);
        if (!v[n]) {
            for (size_t k = 0; k < n; k++)
                free(v[k]);
            free(v);
            return sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
        }
        n++;
    }
    *out = v;
    *n_out = n;
    return SQZ_OK;
}

static void free_strs(char **v, size_t n) {
    for (size_t k = 0; k < n; k++)
        free(v[k]);
    free(v);
}

sqz_status cb_syntax_pair(const cb_tree *cand, const cb_tree *ref, int64_t *match, int64_t *total) {
    char **cs, **rs;
    size_t nc, nr;
    SQZ_TRY(collect_sexps(cand, &cs, &nc));
    sqz_status st = collect_sexps(ref, &rs, &nr);
    if (st != SQZ_OK) {
        free_strs(cs, nc);
        return st;
    }
    sexp_set set = {0};
    set.cap = 16;
    while (set.cap < 2 * nc + 2)
        set.cap *= 2;
    set.keys = calloc(set.cap, sizeof *set.keys);
    set.hashes = calloc(set.cap, sizeof *set.hashes);
    if (!set.keys || !set.hashes) {
        st = sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
    } else {
        for (size_t k = 0; k < nc; k++) {
            uint64_t h = hash_str(cs[k]);
            size_t j = h & (set.cap - 1);
            while (set.keys[j] && !(set.hashes[j] == h && !strcmp(set.keys[j], cs[k])))
                j = (j + 1) & (set.cap - 1);
            set.keys[j] = cs[k];
            set.hashes[j] = h;
        }
        for (size_t k = 0; k < nr; k++) {
            uint64_t h = hash_str(rs[k]);
            size_t j = h & (set.cap - 1);
            while (set.keys[j]) {
                if (set.hashes[j] == h && !strcmp(set.keys[j], rs[k])) {
                    (*match)++;
                    break;
                }
                j = (j + 1) & (set.cap - 1);
            }
        }
        *total += (int64_t)nr;
    }
    free(set.keys);
    free(set.hashes);
    free_strs(cs, nc);
    free_strs(rs, nr);
    return st;
}
