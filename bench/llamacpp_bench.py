#!/usr/bin/env python3
"""llama-bench-style speed of llama.cpp (through llama-cpp-python's libllama) on one GGUF.

usage: build/venv/bin/python bench/llamacpp_bench.py MODEL [-p 512] [-n 128] [-r 5] [-t THREADS] [-o md|json]

Like llama-bench: ppN = N random prompt tokens decoded as one batch (n_batch = n_ubatch = N) into an empty
context; tgN = N tokens decoded one at a time starting from an empty context; one untimed warm-up run of each,
then mean ± sd of tokens/s over -r repetitions. K/V cache F16 (llama.cpp's default), flash attention off,
mmap on, n_ctx = p + n (at least 512), the same thread count for batch and single-token decoding.
"""
import argparse
import json
import os
import random
import statistics
import sys
import time

import llama_cpp


def bench(model, p, n, reps, threads):
    n_ctx = max(512, p + n + 8)
    llm = llama_cpp.Llama(model_path=model, n_ctx=n_ctx, n_batch=max(p, 1), n_ubatch=max(p, 1), n_threads=threads,
                          n_threads_batch=threads, logits_all=False, verbose=False, flash_attn=False, seed=0)
    n_vocab = llm.n_vocab()
    rng = random.Random(0)
    results = []

    def run_pp():
        toks = [rng.randrange(n_vocab) for _ in range(p)]
        llm.reset()
        llm._ctx.kv_cache_clear()
        t0 = time.perf_counter()
        llm.eval(toks)
        return p / (time.perf_counter() - t0)

    def run_tg():
        llm.reset()
        llm._ctx.kv_cache_clear()
        tok = rng.randrange(n_vocab)
        t0 = time.perf_counter()
        for _ in range(n):
            llm.eval([tok])
        return n / (time.perf_counter() - t0)

    for test, fn, count in (("pp", run_pp, p), ("tg", run_tg, n)):
        if count <= 0:
            continue
        fn()  # warm-up
        ts = [fn() for _ in range(reps)]
        results.append({"model": os.path.basename(model), "backend": "llama.cpp", "threads": threads,
                        "test": f"{test}{count}", "t_s_mean": statistics.mean(ts),
                        "t_s_sd": statistics.stdev(ts) if len(ts) > 1 else 0.0})
    del llm
    return results


def main():
    ap = argparse.ArgumentParser(description="llama.cpp speed, llama-bench style")
    ap.add_argument("model")
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("-t", type=int, default=os.cpu_count())
    ap.add_argument("-o", choices=("md", "json"), default="md")
    a = ap.parse_args()
    res = bench(a.model, a.p, a.n, a.r, a.t)
    if a.o == "json":
        json.dump(res, sys.stdout, indent=1)
        print()
    else:
        print("| model | backend | threads | test | t/s |\n| --- | --- | ---: | ---: | ---: |")
        for r in res:
            print(f"| {r['model']} | {r['backend']} | {r['threads']} | {r['test']} | {r['t_s_mean']:.2f} ± {r['t_s_sd']:.2f} |")


if __name__ == "__main__":
    main()
