// report.md: setup, variant summary with the success test, per-task results, flips,
// recommendation, signatures.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "report_internal.h"

// Markdown table cells must not contain '|' or line breaks.
static void md_cell(FILE *f, const char *s) {
    fputs("| ", f);
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else
            fputc(*s == '\n' ? ' ' : *s, f);
    }
    fputc(' ', f);
}

static void md_setup(FILE *f, const sqz_analysis *a, const char *title) {
    report_setup s;
    report_setup_get(a, &s);
    const sqz_results *r = a->results;
    fprintf(f, "# %s\n\n## Setup\n\n", title);
    for (int i = 0; i < r->n_models; i++)
        fprintf(f, "- Model: %s (`%s`, sha256 `%.16s…`, %s, %lld parameters)\n",
                r->models[i].name ? r->models[i].name : r->models[i].path, r->models[i].path,
                r->models[i].sha256, r->models[i].arch ? r->models[i].arch : "?",
                (long long)r->models[i].n_params);
    fprintf(f, "- Baseline: %s", a->baseline >= 0 ? r->variants[a->baseline].name : "(none)");
    if (s.baseline_note[0])
        fprintf(f, " — %s", s.baseline_note);
    fprintf(f, "\n- sqz %s; machine: %s\n", s.sqz_version, s.cpu_features);
    if (a->price_per_hour > 0)
        fprintf(f, "- Price per hour: %g\n", a->price_per_hour);
    fprintf(f, "- Success test: keeps ≥ %.0f %% of baseline quality while ≥ %.0f× faster or smaller\n\n",
            SQZ_SUCCESS_MIN_RETAINED * 100, SQZ_SUCCESS_MIN_FACTOR);
}

static void md_variants(FILE *f, const sqz_analysis *a) {
    fputs("## Variants\n\n| Variant | Recipe | Size | Bits/weight | Quality retained | p50 | p90 | "
          "p99 | Speed-up | Shrink | Success | Pareto (size / latency) |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|\n", f);
    for (int i = 0; i < a->n; i++) {
        const sqz_res_variant *v = &a->results->variants[i];
        const sqz_variant_summary *s = &a->v[i];
        char b[9][32];
        snprintf(b[0], 32, "%.2f", v->bits_per_weight);
        snprintf(b[1], 32, "%.2f×", s->speedup);
        snprintf(b[2], 32, "%.2f×", s->shrink);
        md_cell(f, v->name);
        md_cell(f, v->recipe);
        md_cell(f, report_fmt_mb((double)v->bytes, b[3]));
        md_cell(f, v->bits_per_weight > 0 ? b[0] : "-");
        md_cell(f, report_fmt_pct(s->retained, b[4]));
        md_cell(f, report_fmt_ms(s->lat_p50, b[5]));
        md_cell(f, report_fmt_ms(s->lat_p90, b[6]));
        md_cell(f, report_fmt_ms(s->lat_p99, b[7]));
        md_cell(f, isfinite(s->speedup) ? b[1] : "-");
        md_cell(f, isfinite(s->shrink) ? b[2] : "-");
        md_cell(f, i == a->baseline ? "baseline" : s->success ? "**pass**" : "fail");
        fprintf(f, "| %s / %s |\n", s->front_size ? "yes" : "no", s->front_latency ? "yes" : "no");
    }
    fputs("\n*Quality retained*: the mean over tasks of the primary metric relative to the baseline "
          "(variant/baseline, or baseline/variant where lower is better), each task capped at 100 % — beating "
          "the baseline on a small sample is usually noise. The table below has the uncapped values.\n\n",
          f);
}

static void md_results(FILE *f, const sqz_analysis *a) {
    fputs("## Results by task\n\n| Task | Variant | Metric | Value | 95 % CI | Baseline | Retained |\n"
          "|---|---|---|---|---|---|---|\n", f);
    for (int i = 0; i < a->results->n_runs; i++) {
        const sqz_res_run *run = &a->results->runs[i];
        for (int j = 0; j < run->n_metrics; j++) {
            const sqz_res_metric *m = &run->metrics[j];
            double base = report_baseline_value(a, run, m);
            char b[5][32], ci[80] = "-";
            if (isfinite(m->ci_low))
                snprintf(ci, sizeof ci, "[%s, %s]", report_fmt_num(m->ci_low, b[0]), report_fmt_num(m->ci_high, b[1]));
            md_cell(f, run->task);
            md_cell(f, a->results->variants[run->variant].name);
            fprintf(f, "| %s%s ", m->name, m->primary ? " (primary)" : "");
            md_cell(f, report_fmt_num(m->value, b[2]));
            md_cell(f, ci);
            md_cell(f, report_fmt_num(base, b[3]));
            md_cell(f, report_fmt_pct(sqz_quality_retained(m->value, base, m->direction), b[4]));
            fputs("|\n", f);
        }
    }
    fputs("\n", f);
}

static void md_flips(FILE *f, const sqz_analysis *a) {
    fprintf(f, "## Per-problem flips against the baseline\n\nA problem passes when its pass@1 ≥ 0.5. "
               "McNemar: exact two-sided binomial test on the discordant pairs. Δpass@1 interval: "
               "paired bootstrap over problems, %d resamples, %.0f %% percentile interval.\n\n",
            a->boot.n_resamples, a->boot.confidence * 100);
    if (!a->n_flips) {
        fputs("(no pass/fail tasks to compare)\n\n", f);
        return;
    }
    fputs("| Variant | Task | Problems | pass→fail | fail→pass | McNemar p | Δpass@1 | CI |\n"
          "|---|---|---|---|---|---|---|---|\n", f);
    for (int i = 0; i < a->n_flips; i++) {
        const sqz_flips *x = &a->flips[i].f;
        fprintf(f, "| %s | %s | %lld | %lld | %lld | %.4g | %+.4f | [%+.4f, %+.4f] |\n",
                a->results->variants[a->flips[i].variant].name, a->flips[i].task, (long long)x->n,
                (long long)x->pass_fail, (long long)x->fail_pass, x->mcnemar_p, x->delta, x->ci_low,
                x->ci_high);
    }
    fputs("\n", f);
}

static void md_recommend_one(FILE *f, const sqz_analysis *a, int by_size) {
    double *bud = malloc((size_t)(a->n > 0 ? a->n : 1) * sizeof *bud);
    int nb = bud ? report_budgets(a, by_size, bud) : 0;
    fprintf(f, "| %s budget | Deploy | Quality retained |\n|---|---|---|\n", by_size ? "Size" : "p50 latency");
    for (int i = 0; i < nb; i++) {
        int v = by_size ? sqz_recommend_size(a, bud[i]) : sqz_recommend_latency(a, bud[i]);
        char b[2][32];
        fprintf(f, "| ≤ %s | %s | %s |\n", by_size ? report_fmt_mb(bud[i], b[0]) : report_fmt_ms(bud[i], b[0]),
                v >= 0 ? a->results->variants[v].name : "-", report_fmt_pct(v >= 0 ? a->v[v].retained : NAN, b[1]));
    }
    fputs("\n", f);
    free(bud);
}

static void md_recommend(FILE *f, const sqz_analysis *a) {
    fputs("## Recommendation\n\nFor each budget, the variant with the best quality retained that "
          "fits it.\n\n", f);
    md_recommend_one(f, a, 1);
    md_recommend_one(f, a, 0);
    int any = 0;
    for (int i = 0; i < a->n; i++)
        if (i != a->baseline && a->v[i].success) {
            char b[3][32];
            fprintf(f, "%s **%s** passes the success test (%s retained, %.2f× faster, %.2f× smaller).\n",
                    any ? "" : "\n", a->results->variants[i].name, report_fmt_pct(a->v[i].retained, b[0]),
                    a->v[i].speedup, a->v[i].shrink);
            any = 1;
        }
    if (!any)
        fputs("No variant passes the success test.\n", f);
    fputs("\n", f);
}

// Cells evaluated more than once: the primary metric then and now, and what the signature says
// changed (a greedy re-run with an unchanged signature must give the same number).
static void md_reruns(FILE *f, const sqz_analysis *a) {
    int any = 0;
    for (int i = 0; i < a->results->n_runs; i++) {
        const sqz_res_run *run = &a->results->runs[i];
        char *why = NULL, b[2][32];
        if (!run->prev_signature_json || sqz_signature_diff(run->prev_signature_json, run->signature_json, &why))
            continue;
        if (!any)
            fputs("## Re-runs\n\n| Variant | Task | Primary before | Primary now | Signature changes |\n"
                  "|---|---|---|---|---|\n", f);
        any = 1;
        const sqz_res_metric *m = sqz_res_run_primary(run);
        md_cell(f, a->results->variants[run->variant].name);
        md_cell(f, run->task);
        md_cell(f, report_fmt_num(run->prev_primary, b[0]));
        md_cell(f, report_fmt_num(m ? m->value : NAN, b[1]));
        md_cell(f, why ? why : "none");
        fputs("|\n", f);
        free(why);
    }
    if (any)
        fputs("\n", f);
}

static void md_signatures(FILE *f, const sqz_analysis *a) {
    fputs("## Signatures\n\nEvery number above comes from a run with this signature (full JSON in "
          "results.csv / results.json).\n\n| Variant | Task | Signature hash | Finished |\n|---|---|---|---|\n", f);
    for (int i = 0; i < a->results->n_runs; i++) {
        const sqz_res_run *run = &a->results->runs[i];
        fprintf(f, "| %s | %s | `%.16s` | %s |\n", a->results->variants[run->variant].name, run->task,
                run->signature_hash, run->finished_at ? run->finished_at : "-");
    }
}

sqz_status sqz_report_markdown(const sqz_analysis *a, const sqz_report_opts *opts, const char *path) {
    FILE *f = fopen(path, "w");
    SQZ_FAIL_IF(!f, SQZ_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    md_setup(f, a, opts->title ? opts->title : "sqz report");
    md_variants(f, a);
    md_results(f, a);
    md_flips(f, a);
    md_recommend(f, a);
    md_reruns(f, a);
    md_signatures(f, a);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    SQZ_FAIL_IF(bad, SQZ_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return SQZ_OK;
}
