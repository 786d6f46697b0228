// report.pdf drawn with cairo (PDF surface) and pango (text). A4 landscape pages:
//   1 title and setup, 2 Pareto quality vs size, 3 Pareto quality vs latency,
//   per-metric bar charts (4 a page), latency percentiles, recommendation.
#include <cairo-pdf.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "report_internal.h"

#define PAGE_W 842.0
#define PAGE_H 595.0
#define MARGIN 48.0

typedef struct rect {
    double x, y, w, h;
} rect;

// Plot area with data ranges: data -> page coordinates.
typedef struct axes {
    rect r;
    double x0, x1, y0, y1;
} axes;

static double ax_x(const axes *a, double v) { return a->r.x + (v - a->x0) / (a->x1 - a->x0) * a->r.w; }
static double ax_y(const axes *a, double v) { return a->r.y + a->r.h - (v - a->y0) / (a->y1 - a->y0) * a->r.h; }

// Tableau-10: distinct colours for up to 10 variants (then they repeat).
static const double PALETTE[10][3] = {
    {0.12, 0.47, 0.71}, {1.00, 0.50, 0.05}, {0.17, 0.63, 0.17}, {0.84, 0.15, 0.16}, {0.58, 0.40, 0.74},
    {0.55, 0.34, 0.29}, {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50}, {0.74, 0.74, 0.13}, {0.09, 0.75, 0.81}};

static void set_color(cairo_t *cr, int i) {
    const double *c = PALETTE[(i < 0 ? 0 : i) % 10];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
}

// Text with its anchor at (x, y): align 0 left, 1 centre, 2 right; vertically centred when
// vcenter, else (x, y) is the top. angle in radians (for the y axis label).
// The pango context of the document, attached to the cairo context as user data (see pdf_draw).
static const cairo_user_data_key_t PANGO_KEY;

// max_w > 0: ellipsize ("…") text wider than max_w points (table cells).
static void text_fit(cairo_t *cr, double x, double y, const char *s, double size, int bold, int align,
                     int vcenter, double angle, double max_w) {
    PangoLayout *l = pango_layout_new(cairo_get_user_data(cr, &PANGO_KEY));
    pango_cairo_update_layout(cr, l);
    if (max_w > 0) {
        pango_layout_set_width(l, (int)(max_w * PANGO_SCALE));
        pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_END);
    }
    char font[64];
    snprintf(font, sizeof font, "DejaVu Sans %s%.1f", bold ? "Bold " : "", size);
    PangoFontDescription *fd = pango_font_description_from_string(font);
    pango_layout_set_font_description(l, fd);
    pango_layout_set_text(l, s, -1);
    int w, h;
    pango_layout_get_pixel_size(l, &w, &h);
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    cairo_move_to(cr, -w * align / 2.0, vcenter ? -h / 2.0 : 0);
    pango_cairo_show_layout(cr, l);
    cairo_restore(cr);
    pango_font_description_free(fd);
    g_object_unref(l);
}

static void text_at(cairo_t *cr, double x, double y, const char *s, double size, int bold, int align,
                    int vcenter, double angle) {
    text_fit(cr, x, y, s, size, bold, align, vcenter, angle, 0);
}

static void page_title(cairo_t *cr, const char *title, const char *subtitle) {
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, MARGIN, MARGIN - 20, title, 16, 1, 0, 0, 0);
    if (subtitle) {
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        text_at(cr, MARGIN, MARGIN + 4, subtitle, 9, 0, 0, 0, 0);
    }
}

// A "nice" tick step (1, 2, 5 x 10^k) giving about n ticks over range.
static double nice_step(double range, int n) {
    double raw = range / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

// Widen [lo, hi] to tick multiples (and a non-empty range).
static void nice_range(double *lo, double *hi) {
    if (!(*hi > *lo)) {
        double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1;
        *lo -= d, *hi += d;
    }
    double s = nice_step(*hi - *lo, 5);
    *lo = floor(*lo / s) * s;
    *hi = ceil(*hi / s) * s;
}

// Frame, grid, ticks (with values unless x_ticks is 0: bar charts label their slots) and labels.
static void draw_axes(cairo_t *cr, const axes *a, const char *xlabel, const char *ylabel, int x_ticks) {
    cairo_set_line_width(cr, 0.5);
    double sx = nice_step(a->x1 - a->x0, 6), sy = nice_step(a->y1 - a->y0, 6);
    char buf[32];
    for (double v = ceil(a->x0 / sx) * sx; x_ticks && v <= a->x1 + 1e-9 * sx; v += sx) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, ax_x(a, v), a->r.y);
        cairo_line_to(cr, ax_x(a, v), a->r.y + a->r.h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, "%g", fabs(v) < 1e-12 * sx ? 0.0 : v);
        text_at(cr, ax_x(a, v), a->r.y + a->r.h + 4, buf, 8, 0, 1, 0, 0);
    }
    for (double v = ceil(a->y0 / sy) * sy; v <= a->y1 + 1e-9 * sy; v += sy) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, a->r.x, ax_y(a, v));
        cairo_line_to(cr, a->r.x + a->r.w, ax_y(a, v));
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, "%g", fabs(v) < 1e-12 * sy ? 0.0 : v);
        text_at(cr, a->r.x - 4, ax_y(a, v), buf, 8, 0, 2, 1, 0);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, a->r.x, a->r.y, a->r.w, a->r.h);
    cairo_stroke(cr);
    text_at(cr, a->r.x + a->r.w / 2, a->r.y + a->r.h + 18, xlabel, 9, 1, 1, 0, 0);
    text_at(cr, a->r.x - 44, a->r.y + a->r.h / 2, ylabel, 9, 1, 1, 1, -M_PI / 2);
}

// ---- Pareto scatter --------------------------------------------------------------------------------
typedef struct scatter {
    const char *title, *subtitle, *xlabel;
    double *x;      // per variant (NAN = not plotted)
    bool front_of_size; // which front flag to use
    double success_x;   // x at or below which the variant is >= 2x better (NAN = none)
} scatter;

static void scatter_ranges(const sqz_analysis *a, const double *x, axes *ax) {
    ax->x0 = 0, ax->x1 = 0, ax->y0 = 1, ax->y1 = 1;
    int any = 0;
    for (int i = 0; i < a->n; i++) {
        double q = a->v[i].retained * 100;
        if (!isfinite(x[i]) || !isfinite(q))
            continue;
        ax->x1 = any ? fmax(ax->x1, x[i]) : x[i];
        ax->y0 = any ? fmin(ax->y0, q) : q;
        ax->y1 = any ? fmax(ax->y1, q) : q;
        any = 1;
    }
    ax->y0 = fmin(ax->y0, SQZ_SUCCESS_MIN_RETAINED * 100 - 2);
    ax->y1 = fmax(ax->y1, 100) + 2;
    ax->x1 *= 1.1;
    nice_range(&ax->x0, &ax->x1);
    nice_range(&ax->y0, &ax->y1);
}

// The success region (x <= success_x, quality >= 95 %) shaded, and the 95 % line dashed.
static void scatter_success(cairo_t *cr, const axes *ax, double success_x) {
    double y95 = ax_y(ax, SQZ_SUCCESS_MIN_RETAINED * 100);
    if (isfinite(success_x) && success_x > ax->x0) {
        double xr = ax_x(ax, fmin(success_x, ax->x1));
        cairo_set_source_rgba(cr, 0.2, 0.7, 0.2, 0.12);
        cairo_rectangle(cr, ax->r.x, ax->r.y, xr - ax->r.x, y95 - ax->r.y);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.2, 0.55, 0.2);
    double dash[] = {4, 3};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_move_to(cr, ax->r.x, y95);
    cairo_line_to(cr, ax->r.x + ax->r.w, y95);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    text_at(cr, ax->r.x + ax->r.w - 4, y95 - 12, "95 % of baseline quality", 7, 0, 2, 0, 0);
}

// Frontier as a line through the front points in x order.
static void scatter_front(cairo_t *cr, const sqz_analysis *a, const axes *ax, const scatter *s) {
    int *idx = malloc((size_t)(a->n ? a->n : 1) * sizeof *idx), m = 0;
    if (!idx)
        return;
    for (int i = 0; i < a->n; i++)
        if (s->front_of_size ? a->v[i].front_size : a->v[i].front_latency)
            idx[m++] = i;
    for (int k = 1; k < m; k++) // insertion sort by x: a handful of points
        for (int j = k; j > 0 && s->x[idx[j]] < s->x[idx[j - 1]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1], idx[j - 1] = t;
        }
    cairo_set_source_rgb(cr, 0.85, 0.1, 0.1);
    cairo_set_line_width(cr, 1.5);
    cairo_new_path(cr);
    for (int k = 0; k < m; k++) {
        double px = ax_x(ax, s->x[idx[k]]), py = ax_y(ax, a->v[idx[k]].retained * 100);
        if (k == 0)
            cairo_move_to(cr, px, py);
        else
            cairo_line_to(cr, px, py);
    }
    cairo_stroke(cr);
    free(idx);
}

static void page_scatter(cairo_t *cr, const sqz_analysis *a, const scatter *s) {
    page_title(cr, s->title, s->subtitle);
    axes ax = {.r = {MARGIN + 50, MARGIN + 30, PAGE_W - 2 * MARGIN - 70, PAGE_H - 2 * MARGIN - 80}};
    scatter_ranges(a, s->x, &ax);
    draw_axes(cr, &ax, s->xlabel, "quality retained (% of baseline)", 1);
    scatter_success(cr, &ax, s->success_x);
    scatter_front(cr, a, &ax, s);
    for (int i = 0; i < a->n; i++) {
        double q = a->v[i].retained * 100;
        if (!isfinite(s->x[i]) || !isfinite(q))
            continue;
        bool front = s->front_of_size ? a->v[i].front_size : a->v[i].front_latency;
        double px = ax_x(&ax, s->x[i]), py = ax_y(&ax, q);
        set_color(cr, i);
        cairo_new_path(cr); // the label left a current point: no line from it to the circle
        cairo_arc(cr, px, py, front ? 6 : 4.5, 0, 2 * M_PI);
        if (front)
            cairo_fill(cr);
        else {
            cairo_set_line_width(cr, 1.5);
            cairo_stroke(cr);
        }
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        char label[160];
        const char *name = a->results->variants[i].name;
        snprintf(label, sizeof label, "%s%s", name, i == a->baseline && strcmp(name, "baseline") ? " (baseline)" : "");
        int right = px > ax.r.x + 0.8 * ax.r.w; // near the right edge: label on the left
        text_at(cr, right ? px - 8 : px + 8, py - 14, label, 8, front, right ? 2 : 0, 0, 0);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    text_at(cr, MARGIN, PAGE_H - MARGIN + 10,
            "Filled points and the red line: the Pareto frontier. Shaded: the success region "
            "(>= 95 % quality and >= 2x better than the baseline on this axis).", 8, 0, 0, 0, 0);
}

// ---- bar charts ------------------------------------------------------------------------------------
typedef struct bar_chart {
    const char *task, *metric;
    sqz_direction dir;
} bar_chart;

// The (task, metric) pairs with a direction, in run order, de-duplicated; returns the count.
static int collect_charts(const sqz_analysis *a, bar_chart *out, int cap) {
    int n = 0;
    for (int i = 0; i < a->results->n_runs; i++) {
        const sqz_res_run *run = &a->results->runs[i];
        for (int j = 0; j < run->n_metrics; j++) {
            const sqz_res_metric *m = &run->metrics[j];
            int seen = m->direction == SQZ_DIR_NONE;
            for (int k = 0; k < n && !seen; k++)
                seen = !strcmp(out[k].task, run->task) && !strcmp(out[k].metric, m->name);
            if (!seen && n < cap)
                out[n++] = (bar_chart){run->task, m->name, m->direction};
        }
    }
    return n;
}

static void bar_range(const sqz_analysis *a, const bar_chart *c, axes *ax) {
    ax->x0 = 0, ax->x1 = a->n, ax->y0 = 0, ax->y1 = 0;
    for (int i = 0; i < a->n; i++) {
        const sqz_res_run *run = sqz_results_find_run(a->results, i, c->task);
        const sqz_res_metric *m = run ? sqz_res_run_metric(run, c->metric) : NULL;
        if (m && isfinite(m->value)) {
            ax->y1 = fmax(ax->y1, isfinite(m->ci_high) ? m->ci_high : m->value);
            ax->y0 = fmin(ax->y0, isfinite(m->ci_low) ? m->ci_low : m->value);
        }
    }
    ax->y1 *= 1.15;
    if (ax->y1 <= ax->y0) // all zero (pass@1 of a weak model): show 0..1, not -1..1
        ax->y1 = ax->y0 + 1;
    nice_range(&ax->y0, &ax->y1);
}

static void draw_bar_chart(cairo_t *cr, const sqz_analysis *a, const bar_chart *c, rect r) {
    char title[200];
    snprintf(title, sizeof title, "%s: %s (%s is better)", c->task, c->metric,
             c->dir == SQZ_DIR_MAXIMIZE ? "higher" : "lower");
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, r.x, r.y, title, 10, 1, 0, 0, 0);
    axes ax = {.r = {r.x + 50, r.y + 22, r.w - 60, r.h - 60}};
    bar_range(a, c, &ax);
    draw_axes(cr, &ax, "", c->metric, 0);
    double slot = ax.r.w / a->n;
    for (int i = 0; i < a->n; i++) {
        const sqz_res_run *run = sqz_results_find_run(a->results, i, c->task);
        const sqz_res_metric *m = run ? sqz_res_run_metric(run, c->metric) : NULL;
        double cx = ax.r.x + slot * (i + 0.5);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text_fit(cr, cx, ax.r.y + ax.r.h + 4, a->results->variants[i].name, 7, i == a->baseline, 1, 0, 0, slot - 2);
        if (!m || !isfinite(m->value))
            continue;
        set_color(cr, i);
        double y0 = ax_y(&ax, fmax(ax.y0, 0)), y1 = ax_y(&ax, m->value);
        cairo_rectangle(cr, cx - slot * 0.3, fmin(y0, y1), slot * 0.6, fabs(y1 - y0));
        cairo_fill(cr);
        if (isfinite(m->ci_low)) { // error bar
            cairo_set_source_rgb(cr, 0, 0, 0);
            cairo_set_line_width(cr, 1);
            double lo = ax_y(&ax, m->ci_low), hi = ax_y(&ax, m->ci_high);
            cairo_move_to(cr, cx, lo), cairo_line_to(cr, cx, hi);
            cairo_move_to(cr, cx - 4, lo), cairo_line_to(cr, cx + 4, lo);
            cairo_move_to(cr, cx - 4, hi), cairo_line_to(cr, cx + 4, hi);
            cairo_stroke(cr);
        }
        char v[32];
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text_at(cr, cx + 6, fmin(y1, isfinite(m->ci_high) ? ax_y(&ax, m->ci_high) : y1) - 12,
                report_fmt_num(m->value, v), 7, 0, 1, 0, 0);
    }
}

// ---- latency page ------------------------------------------------------------------------------------
static void page_latency(cairo_t *cr, const sqz_analysis *a) {
    page_title(cr, "Latency distribution per variant", "per-request latency over all tasks: p50, p90, p99 (ms)");
    axes ax = {.r = {MARGIN + 50, MARGIN + 40, PAGE_W - 2 * MARGIN - 70, PAGE_H - 2 * MARGIN - 90},
               .x0 = 0, .x1 = a->n, .y0 = 0, .y1 = 0};
    for (int i = 0; i < a->n; i++)
        if (isfinite(a->v[i].lat_p99))
            ax.y1 = fmax(ax.y1, a->v[i].lat_p99 * 1e3 * 1.15);
    nice_range(&ax.y0, &ax.y1);
    draw_axes(cr, &ax, "", "latency (ms)", 0);
    static const double shade[3] = {1.0, 0.7, 0.45};
    static const char *names[3] = {"p50", "p90", "p99"};
    double slot = ax.r.w / (a->n ? a->n : 1);
    for (int i = 0; i < a->n; i++) {
        const sqz_variant_summary *s = &a->v[i];
        double v[3] = {s->lat_p50, s->lat_p90, s->lat_p99}, cx = ax.r.x + slot * (i + 0.5);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text_fit(cr, cx, ax.r.y + ax.r.h + 4, a->results->variants[i].name, 8, i == a->baseline, 1, 0, 0, slot - 2);
        for (int k = 0; k < 3 && isfinite(v[k]); k++) {
            const double *c = PALETTE[i % 10];
            cairo_set_source_rgb(cr, c[0] * shade[k], c[1] * shade[k], c[2] * shade[k]);
            double bw = slot * 0.22, bx = cx - 1.5 * bw + k * bw, y = ax_y(&ax, v[k] * 1e3);
            cairo_rectangle(cr, bx, y, bw * 0.9, ax_y(&ax, 0) - y);
            cairo_fill(cr);
            char t[32];
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            snprintf(t, sizeof t, "%s %.4g", names[k], v[k] * 1e3);
            text_at(cr, bx + bw * 0.45, y - 4, t, 6, 0, 0, 1, -M_PI / 2);
        }
    }
}

// ---- text pages --------------------------------------------------------------------------------------
// A table: rows of n_cols strings; row 0 is the header. Returns the y after it.
static double draw_table(cairo_t *cr, double x, double y, int n_cols, const double *widths,
                         const char *const *cells, int n_rows) {
    for (int r = 0; r < n_rows; r++) {
        double cx = x;
        if (r == 0) {
            cairo_set_source_rgb(cr, 0.9, 0.92, 0.96);
            double w = 0;
            for (int c = 0; c < n_cols; c++)
                w += widths[c];
            cairo_rectangle(cr, x - 3, y - 2, w, 15);
            cairo_fill(cr);
        }
        cairo_set_source_rgb(cr, 0, 0, 0);
        for (int c = 0; c < n_cols; c++) {
            text_fit(cr, cx, y, cells[r * n_cols + c] ? cells[r * n_cols + c] : "", 8.5, r == 0, 0, 0, 0,
                     widths[c] - 6);
            cx += widths[c];
        }
        y += 15;
    }
    return y;
}

static void page_title_setup(cairo_t *cr, const sqz_analysis *a, const char *title) {
    report_setup s;
    report_setup_get(a, &s);
    const sqz_results *r = a->results;
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, MARGIN, MARGIN, title, 24, 1, 0, 0, 0);
    char line[1024], when[32];
    time_t t = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    double y = MARGIN + 44;
    snprintf(line, sizeof line, "Generated %s by sqz %s (results from sqz %s)", when, SQZ_VERSION_STRING, s.sqz_version);
    text_at(cr, MARGIN, y, line, 10, 0, 0, 0, 0), y += 22;
    for (int i = 0; i < r->n_models; i++) {
        const sqz_res_model *m = &r->models[i];
        snprintf(line, sizeof line, "Model: %s  (%s, %lld parameters, %.1f MB, sha256 %.16s…)",
                 m->name ? m->name : m->path, m->arch ? m->arch : "?", (long long)m->n_params,
                 (double)m->bytes / 1e6, m->sha256);
        text_at(cr, MARGIN, y, line, 10, 0, 0, 0, 0), y += 16;
    }
    snprintf(line, sizeof line, "Baseline: %s%s%s", a->baseline >= 0 ? r->variants[a->baseline].name : "(none)",
             s.baseline_note[0] ? " — " : "", s.baseline_note);
    text_at(cr, MARGIN, y, line, 10, 0, 0, 0, 0), y += 16;
    snprintf(line, sizeof line, "Machine: %s", s.cpu_features);
    text_at(cr, MARGIN, y, line, 10, 0, 0, 0, 0), y += 16;
    snprintf(line, sizeof line, "%d variants, %d finished runs. Success test: >= 95 %% of baseline "
             "quality while >= 2x faster or smaller.", r->n_variants, r->n_runs);
    text_at(cr, MARGIN, y, line, 10, 0, 0, 0, 0), y += 30;
    static const double w[7] = {120, 220, 75, 70, 75, 70, 90};
    int n = a->n + 1;
    const char **cells = calloc((size_t)n * 7, sizeof *cells);
    char (*buf)[32] = calloc((size_t)n * 5, sizeof *buf);
    if (!cells || !buf) {
        free(cells), free(buf);
        return;
    }
    const char *head[7] = {"Variant", "Recipe", "Size", "Quality", "p50", "Speed-up", "Success test"};
    memcpy(cells, head, sizeof head);
    for (int i = 0; i < a->n; i++) {
        const char **row = cells + (i + 1) * 7;
        char (*b)[32] = buf + i * 5;
        row[0] = r->variants[i].name;
        row[1] = r->variants[i].recipe;
        row[2] = report_fmt_mb((double)r->variants[i].bytes, b[0]);
        row[3] = report_fmt_pct(a->v[i].retained, b[1]);
        row[4] = report_fmt_ms(a->v[i].lat_p50, b[2]);
        snprintf(b[3], 32, "%.2fx", a->v[i].speedup);
        row[5] = isfinite(a->v[i].speedup) ? b[3] : "-";
        row[6] = i == a->baseline ? "baseline" : a->v[i].success ? "PASS" : "fail";
    }
    draw_table(cr, MARGIN, y, 7, w, cells, n);
    free(cells), free(buf);
}

// One budget table of the recommendation page; returns the y after it.
static double recommend_table(cairo_t *cr, const sqz_analysis *a, int by_size, double y) {
    double *bud = malloc((size_t)(a->n ? a->n : 1) * sizeof *bud);
    int nb = bud ? report_budgets(a, by_size, bud) : 0;
    const char **cells = calloc((size_t)(nb + 1) * 3, sizeof *cells);
    char (*buf)[32] = calloc((size_t)(nb ? nb : 1) * 2, sizeof *buf);
    if (cells && buf) {
        cells[0] = by_size ? "Size budget" : "p50 latency budget";
        cells[1] = "Deploy";
        cells[2] = "Quality retained";
        for (int i = 0; i < nb; i++) {
            int v = by_size ? sqz_recommend_size(a, bud[i]) : sqz_recommend_latency(a, bud[i]);
            char *b0 = buf[2 * i], *b1 = buf[2 * i + 1], tmp[32];
            snprintf(b0, 32, "<= %s", by_size ? report_fmt_mb(bud[i], tmp) : report_fmt_ms(bud[i], tmp));
            cells[(i + 1) * 3] = b0;
            cells[(i + 1) * 3 + 1] = v >= 0 ? a->results->variants[v].name : "-";
            cells[(i + 1) * 3 + 2] = report_fmt_pct(v >= 0 ? a->v[v].retained : NAN, b1);
        }
        static const double w[3] = {150, 200, 120};
        y = draw_table(cr, MARGIN, y, 3, w, cells, nb + 1) + 16;
    }
    free(bud), free(cells), free(buf);
    return y;
}

static void page_recommend(cairo_t *cr, const sqz_analysis *a) {
    page_title(cr, "Recommendation: which variant to deploy for which budget",
               "For each budget, the variant with the best quality retained that fits it.");
    double y = recommend_table(cr, a, 1, MARGIN + 30);
    y = recommend_table(cr, a, 0, y);
    char line[512];
    int any = 0;
    for (int i = 0; i < a->n; i++) {
        if (i == a->baseline || !a->v[i].success)
            continue;
        char b[32];
        snprintf(line, sizeof line, "%s passes the success test: %s of baseline quality, %.2fx faster, %.2fx smaller.",
                 a->results->variants[i].name, report_fmt_pct(a->v[i].retained, b), a->v[i].speedup, a->v[i].shrink);
        text_at(cr, MARGIN, y, line, 10, 1, 0, 0, 0), y += 16, any = 1;
    }
    if (!any)
        text_at(cr, MARGIN, y, "No variant passes the success test.", 10, 1, 0, 0, 0);
}

// ---- the document ------------------------------------------------------------------------------------
static sqz_status pdf_draw(cairo_t *cr, cairo_surface_t *surf, const sqz_analysis *a, const char *title) {
    page_title_setup(cr, a, title);
    cairo_show_page(cr);
    double *size = malloc((size_t)(a->n ? a->n : 1) * sizeof *size), *lat = malloc((size_t)(a->n ? a->n : 1) * sizeof *lat);
    int cap = 64;
    bar_chart *charts = malloc((size_t)cap * sizeof *charts);
    SQZ_FAIL_IF(!size || !lat || !charts, SQZ_ERR_NOMEM, "out of memory"); // (leak on OOM only)
    for (int i = 0; i < a->n; i++) {
        size[i] = a->results->variants[i].bytes > 0 ? a->results->variants[i].bytes / 1e6 : NAN;
        lat[i] = a->v[i].lat_p50 * 1e3;
    }
    double bsize = a->baseline >= 0 ? size[a->baseline] : NAN, blat = a->baseline >= 0 ? lat[a->baseline] : NAN;
    scatter s1 = {"Pareto: quality vs size", "quality retained (mean over tasks) against size on disk",
                  "size on disk (MB)", size, true, bsize / SQZ_SUCCESS_MIN_FACTOR};
    scatter s2 = {"Pareto: quality vs latency", "quality retained (mean over tasks) against p50 request latency",
                  "p50 latency (ms)", lat, false, blat / SQZ_SUCCESS_MIN_FACTOR};
    page_scatter(cr, a, &s1);
    cairo_show_page(cr);
    page_scatter(cr, a, &s2);
    cairo_show_page(cr);
    int nc = collect_charts(a, charts, cap);
    for (int c = 0; c < nc; c += 4) {
        page_title(cr, "Metrics per task", "bars: value per variant; whiskers: confidence interval when recorded");
        for (int k = 0; k < 4 && c + k < nc; k++) {
            double w = (PAGE_W - 2 * MARGIN) / 2, h = (PAGE_H - 2 * MARGIN - 30) / 2;
            rect r = {MARGIN + (k % 2) * w, MARGIN + 30 + (k / 2) * h, w - 20, h - 10};
            draw_bar_chart(cr, a, &charts[c + k], r);
        }
        cairo_show_page(cr);
    }
    page_latency(cr, a);
    cairo_show_page(cr);
    page_recommend(cr, a);
    cairo_show_page(cr);
    free(size), free(lat), free(charts);
    cairo_surface_flush(surf);
    return SQZ_OK;
}

sqz_status sqz_report_pdf(const sqz_analysis *a, const sqz_report_opts *opts, const char *path) {
    cairo_surface_t *surf = cairo_pdf_surface_create(path, PAGE_W, PAGE_H);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        sqz_status st = sqz_error(SQZ_ERR_IO, "%s: cannot create PDF: %s", path,
                                  cairo_status_to_string(cairo_surface_status(surf)));
        cairo_surface_destroy(surf);
        return st;
    }
    cairo_pdf_surface_set_metadata(surf, CAIRO_PDF_METADATA_TITLE, opts->title ? opts->title : "sqz report");
    cairo_pdf_surface_set_metadata(surf, CAIRO_PDF_METADATA_CREATOR, "sqz " SQZ_VERSION_STRING);
    cairo_t *cr = cairo_create(surf);
    // A private font map, released below, rather than pango's per-thread default one, which
    // would keep its font caches alive (and reported by leak checkers) for the process lifetime.
    PangoFontMap *fm = pango_cairo_font_map_new();
    PangoContext *pc = pango_font_map_create_context(fm);
    pango_cairo_update_context(cr, pc);
    cairo_set_user_data(cr, &PANGO_KEY, pc, NULL);
    sqz_status st = pdf_draw(cr, surf, a, opts->title ? opts->title : "sqz report");
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    g_object_unref(pc);
    g_object_unref(fm);
    cairo_surface_finish(surf);
    if (cs == CAIRO_STATUS_SUCCESS)
        cs = cairo_surface_status(surf);
    cairo_surface_destroy(surf);
    if (st == SQZ_OK && cs != CAIRO_STATUS_SUCCESS)
        st = sqz_error(SQZ_ERR_IO, "%s: drawing the PDF failed: %s", path, cairo_status_to_string(cs));
    return st;
}
