"""sqz score vs the reference implementations themselves, on a few hundred random pairs drawn from
real code and text: CodeXGLUE Java/C# lines (../shared/data/datasets/codexglue-code2code-trans) and
CPython standard-library lines (../shared/data/datasets/python-corpus), each hypothesis a randomly
corrupted copy (tokens dropped, swapped, duplicated, renamed, re-cased, accented), with two
references per segment (the line and another corruption of it).

References: sacrebleu 2.6.0 (sentence/corpus BLEU with 13a/intl/none/char, chrF, chrF++, lowercase),
rouge-score 0.1.2 (score_multi, with and without stemming), NLTK 3.8 METEOR with Debian's WordNet
3.0 (a temp dir of symlinks to /usr/share/wordnet plus the lexnames file that Debian lacks, made
from lexnames(5WN)), and plain-Python exact match / edit similarity per the definitions in
include/sqz/metrics.h. Every field must agree to 1e-4 (counts, lengths and signatures exactly).
"""
import json
import os
import random
import re
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.environ.get("SQZ_ROOT", os.getcwd())
SQZ = os.environ.get("SQZ_BIN", os.path.join(ROOT, "build", "sqz"))
DATA = os.path.join(ROOT, "..", "shared", "data", "datasets")
TOL = 1e-4
N_CODE, N_PY = 200, 100

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyharness import check, summary  # noqa: E402


def close(a, b):
    return abs(a - b) <= TOL


# ---- data ------------------------------------------------------------------------------------
def code_lines(rng):
    base = os.path.join(DATA, "codexglue-code2code-trans", "data", "test.java-cs.txt.")
    lines = []
    for ext in ("java", "cs"):
        with open(base + ext, encoding="utf-8") as f:
            lines += [l.strip() for l in f if l.strip()]
    return rng.sample(lines, N_CODE)


def python_lines(rng):
    path = os.path.join(DATA, "python-corpus", "cpython-3.11.2-stdlib-toplevel.tar")
    lines = []
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.endswith(".py"):
                text = tar.extractfile(m).read().decode("utf-8", "replace")
                lines += [l.strip() for l in text.splitlines() if len(l.strip().split()) >= 3]
            if len(lines) > 20000:
                break
    return rng.sample(lines, N_PY)


ACCENTS = {"a": "á", "e": "é", "o": "ö", "u": "ü", "n": "ñ", "c": "ç"}


SYNONYMS = {}  # word → WordNet synonyms, filled by main() so METEOR's synonym stage is exercised


def corrupt(rng, line):
    toks = re.findall(r"\w+|\s+|[^\w\s]", line)
    rate = rng.choice([0, 0.05, 0.1, 0.2, 0.35, 0.5])
    out, i = [], 0
    while i < len(toks):
        t = toks[i]
        if t.isspace() or rng.random() >= rate:
            out.append(t)
        else:
            op = rng.choice(["drop", "swap", "dup", "rename", "case", "accent", "synonym", "synonym"])
            if op == "swap" and i + 1 < len(toks):
                out += [toks[i + 1], t]
                i += 1
            elif op == "dup":
                out += [t, " ", t]
            elif op == "rename":
                out.append(t + "X")
            elif op == "case":
                out.append(t.upper() if rng.random() < 0.5 else t.capitalize())
            elif op == "synonym":
                syn = SYNONYMS.get(t.lower())
                out.append(rng.choice(syn) if syn else t)
            elif op == "accent":
                out.append("".join(ACCENTS.get(c, c) for c in t))
        i += 1
    return "".join(out)


# ---- running sqz -----------------------------------------------------------------------------
def sqz(tmp, metric, hyps, refs, *extra, sentence=True):
    paths = []
    for k, lines in enumerate([hyps] + refs):
        p = os.path.join(tmp, f"in{k}.txt")
        with open(p, "w", encoding="utf-8") as f:
            f.write("".join(l + "\n" for l in lines))
        paths.append(p)
    cmd = [SQZ, "score", "--metric", metric, "--hyp", paths[0]]
    for p in paths[1:]:
        cmd += ["--ref", p]
    cmd += list(extra) + ["--json"] + (["--sentence"] if sentence else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}\n{out.stderr}")
    return [json.loads(l) for l in out.stdout.splitlines()]


def cmp_bleu(tag, got, want):
    check(close(got["score"], want.score), f"{tag}: score {got['score']} vs {want.score}")
    check(got["counts"] == list(want.counts), f"{tag}: counts {got['counts']} vs {want.counts}")
    check(got["totals"] == list(want.totals), f"{tag}: totals {got['totals']} vs {want.totals}")
    check(all(close(a, b) for a, b in zip(got["precisions"], want.precisions)), f"{tag}: precisions")
    check(close(got["bp"], want.bp), f"{tag}: bp")
    check((got["sys_len"], got["ref_len"]) == (want.sys_len, want.ref_len), f"{tag}: lengths")


def run_bleu_chrf(tmp, hyps, refs):
    import sacrebleu
    from sacrebleu.metrics import BLEU, CHRF
    pairs = list(zip(hyps, zip(*refs)))
    for tok, lc in [("13a", False), ("intl", False), ("none", False), ("char", False), ("13a", True)]:
        extra = ["--tokenize", tok] + (["--lowercase"] if lc else [])
        got = sqz(tmp, "bleu", hyps, refs, *extra)
        for i, (h, rs) in enumerate(pairs):
            m = BLEU(tokenize=tok, lowercase=lc, effective_order=True)
            w = m.sentence_score(h, list(rs))
            cmp_bleu(f"sentence BLEU tok={tok} lc={lc} #{i}", got[i], w)
            check(got[i]["signature"] == str(m.get_signature()), f"BLEU signature #{i}")
        m = BLEU(tokenize=tok, lowercase=lc)
        w = m.corpus_score(hyps, refs)
        g = sqz(tmp, "bleu", hyps, refs, *extra, sentence=False)[0]
        cmp_bleu(f"corpus BLEU tok={tok} lc={lc}", g, w)
        check(g["signature"] == str(m.get_signature()), f"corpus BLEU signature {g['signature']}")
    for name, wo in [("chrf", 0), ("chrf++", 2)]:
        got = sqz(tmp, name, hyps, refs)
        for i, (h, rs) in enumerate(pairs):
            w = CHRF(word_order=wo).sentence_score(h, list(rs))
            check(close(got[i]["score"], w.score), f"sentence {name} #{i}: {got[i]['score']} vs {w.score}")
        m = CHRF(word_order=wo)
        w = m.corpus_score(hyps, refs)
        g = sqz(tmp, name, hyps, refs, sentence=False)[0]
        check(close(g["score"], w.score), f"corpus {name}: {g['score']} vs {w.score}")
        check(g["signature"] == str(m.get_signature()), f"corpus {name} signature")


def run_rouge(tmp, hyps, refs):
    from rouge_score import rouge_scorer
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    # multi-line texts exercise rougeLsum's sentence splitting: join neighbouring lines with \n
    mh = [hyps[i] + "\n" + hyps[(i + 1) % len(hyps)] for i in range(0, len(hyps), 5)]
    mr = [[r[i] + "\n" + r[(i + 1) % len(r)] for i in range(0, len(r), 5)] for r in refs]
    for stem in (False, True):
        sc = rouge_scorer.RougeScorer(types, use_stemmer=stem)
        got = sqz(tmp, "rouge", hyps, refs, *(["--stem"] if stem else []))
        for i, h in enumerate(hyps):
            w = sc.score_multi([r[i] for r in refs], h)
            for t in types:
                g = got[i][t]
                check(close(g["precision"], w[t].precision) and close(g["recall"], w[t].recall)
                      and close(g["fmeasure"], w[t].fmeasure), f"ROUGE stem={stem} #{i} {t}: {g} vs {w[t]}")
        # --pairs carries the multi-line texts
        p = os.path.join(tmp, "pairs.jsonl")
        with open(p, "w", encoding="utf-8") as f:
            for i, h in enumerate(mh):
                f.write(json.dumps({"hyp": h, "refs": [r[i] for r in mr]}) + "\n")
        cmd = [SQZ, "score", "--metric", "rouge", "--pairs", p, "--json", "--sentence"] + (["--stem"] if stem else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        got = [json.loads(l) for l in out.stdout.splitlines()]
        for i, h in enumerate(mh):
            w = sc.score_multi([r[i] for r in mr], h)
            for t in types:
                check(close(got[i][t]["fmeasure"], w[t].fmeasure), f"ROUGE pairs stem={stem} #{i} {t}")


LEXNAMES = """adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute
noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group
noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession
noun.process noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body
verb.change verb.cognition verb.communication verb.competition verb.consumption verb.contact
verb.creation verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative
verb.weather adj.ppl""".split()


def debian_wordnet(tmp):
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    d = os.path.join(tmp, "wordnet")
    os.makedirs(d)
    for f in os.listdir("/usr/share/wordnet"):
        os.symlink(os.path.join("/usr/share/wordnet", f), os.path.join(d, f))
    pos = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}
    with open(os.path.join(d, "lexnames"), "w") as f:  # lexnames(5WN): 45 files numbered 0..44
        for i, name in enumerate(LEXNAMES):
            f.write(f"{i:02d}\t{name}\t{pos[name.split('.')[0]]}\n")
    return WordNetCorpusReader(d, None)


def run_meteor(tmp, hyps, refs):
    from nltk.translate.meteor_score import meteor_score
    wn = debian_wordnet(tmp)
    got = sqz(tmp, "meteor", hyps, refs)
    for i, h in enumerate(hyps):
        w = meteor_score([r[i].split() for r in refs], h.split(), wordnet=wn)
        check(got[i]["wordnet"] is True, "METEOR used WordNet")
        check(close(got[i]["score"], w), f"METEOR #{i}: {got[i]['score']} vs {w}")
    mean = sum(g["score"] for g in got) / len(got)
    g = sqz(tmp, "meteor", hyps, refs, sentence=False)[0]
    check(close(g["score"], mean), "METEOR corpus mean")


def levenshtein(a, b):
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[len(b)]


def run_simple(tmp, hyps, refs):
    got_em = sqz(tmp, "em", hyps, refs)
    got_es = sqz(tmp, "editsim", hyps, refs)
    for i, h in enumerate(hyps):
        em = max(1.0 if h.strip() == r[i].strip() else 0.0 for r in refs)
        es = max((1 - levenshtein(h, r[i]) / max(len(h), len(r[i]))) if max(len(h), len(r[i])) else 1.0 for r in refs)
        check(got_em[i]["score"] == em, f"EM #{i}")
        check(close(got_es[i]["score"], es), f"editsim #{i}: {got_es[i]['score']} vs {es}")


def main():
    rng = random.Random(20240611)
    lines = code_lines(rng) + python_lines(rng)
    with tempfile.TemporaryDirectory() as tmp:
        wn = debian_wordnet(tmp)
        for w in {w.lower() for l in lines for w in re.findall(r"[A-Za-z]+", l)}:
            syn = sorted({n for s in wn.synsets(w) for n in s.lemma_names() if "_" not in n} - {w})
            if syn:
                SYNONYMS[w] = syn
    hyps = [corrupt(rng, l) for l in lines]
    refs = [lines, [corrupt(rng, l) for l in lines]]
    # a few exact copies and empty hypotheses, as real model outputs have
    for i in rng.sample(range(len(lines)), 10):
        hyps[i] = lines[i]
    for i in rng.sample(range(len(lines)), 3):
        hyps[i] = ""
    with tempfile.TemporaryDirectory() as tmp:
        run_bleu_chrf(tmp, hyps, refs)
        run_rouge(tmp, hyps, refs)
        run_meteor(tmp, hyps, refs)
        run_simple(tmp, hyps, refs)
    print(f"{len(hyps)} pairs")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
