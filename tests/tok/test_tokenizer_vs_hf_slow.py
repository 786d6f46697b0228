"""sqz tokenize vs the reference HF `tokenizers` library on random slices of real code and on
unicode-heavy synthetic text, for the SmolLM2 tokenizer.json and for the tokenizer embedded in the real
SmolLM2 GGUF (whose ids must equal the tokenizer.json's). Prints "N passed, N failed"."""
import os
import random
import subprocess
import sys
import tarfile

from tokenizers import Tokenizer

ROOT = os.environ.get("SQZ_ROOT", os.getcwd())
SQZ = os.environ.get("SQZ_BIN", os.path.join(ROOT, "build", "sqz"))
SHARED = os.path.join(ROOT, "..", "shared")
TOK_JSON = os.path.join(SHARED, "data/tokenizers/smollm2-135m/tokenizer.json")
GGUF = os.path.join(os.environ.get("SQZ_MODELS", os.path.expanduser("~/.cache/sqz/models")),
                    "SmolLM2-135M-Instruct.Q4_1.gguf")
PY_TAR = os.path.join(SHARED, "data/datasets/python-corpus/cpython-3.11.2-stdlib-toplevel.tar")
CX = os.path.join(SHARED, "data/datasets/codexglue-code2code-trans/data")

rng = random.Random(1234)


def code_sources():
    srcs = []
    with tarfile.open(PY_TAR) as tf:
        for m in tf.getmembers():
            if m.isfile():
                srcs.append(tf.extractfile(m).read().decode("utf-8", "replace"))
    for f in ("test.java-cs.txt.java", "test.java-cs.txt.cs", "valid.java-cs.txt.java"):
        with open(os.path.join(CX, f), encoding="utf-8") as fh:
            srcs.append(fh.read())
    return srcs


def random_unicode(n):
    pools = [
        lambda: chr(rng.randint(0x20, 0x7E)),
        lambda: chr(rng.randint(0xA0, 0x24F)),                      # Latin-1 + extended
        lambda: chr(rng.randint(0x4E00, 0x9FA5)),                   # CJK
        lambda: chr(rng.choice([0x1F600, 0x1F680, 0x1F999, 0x1F44D, 0x1F3FD, 0x200D, 0x2764, 0xFE0F])),
        lambda: chr(rng.randint(0x300, 0x36F)),                     # combining marks
        lambda: rng.choice([" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u200b", "    "]),
        lambda: chr(rng.randint(0x400, 0x4FF)),                     # Cyrillic
        lambda: chr(rng.randint(0x600, 0x6FF)),                     # Arabic
        lambda: rng.choice("0123456789٣٤５"),
        lambda: chr(rng.randint(0x1, 0x10FFFF)),
    ]
    out = []
    for _ in range(n):
        c = rng.choice(pools)()
        if 0xD800 <= ord(c[0]) <= 0xDFFF:
            c = "?"
        out.append(c)
    return "".join(out)


def random_bytes_text(n):
    # random bytes re-encoded as valid UTF-8
    return bytes(rng.randrange(256) for _ in range(n)).decode("utf-8", "replace")


def make_texts(srcs, n_code, n_uni):
    texts = []
    for _ in range(n_code):
        s = rng.choice(srcs)
        a = rng.randrange(len(s))
        texts.append(s[a:a + rng.randint(1, 600)])
    for i in range(n_uni):
        texts.append(random_unicode(rng.randint(1, 80)) if i % 2 else random_bytes_text(rng.randint(1, 120)))
    texts += ["", " ", "\r\n\r\n", "<|im_start|>user\nhi<|im_end|>", "   leading", "trailing   ", "a\u0301\u0302"]
    return [t.replace("\0", " ") for t in texts]


def run_sqz(model, texts):
    data = b"\0".join(t.encode("utf-8") for t in texts)
    r = subprocess.run([SQZ, "tokenize", model, "--no-bos", "--batch", "--file", "-"], input=data,
                       capture_output=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode())
    lines = r.stdout.decode().split("\n")
    assert len(lines) == len(texts) + 1, (len(lines), len(texts))
    return [[int(x) for x in l.split()] for l in lines[:-1]]


def main():
    ref = Tokenizer.from_file(TOK_JSON)
    texts = make_texts(code_sources(), 3000, 1000)
    expect = [e.ids for e in ref.encode_batch(texts, add_special_tokens=False)]
    passed = failed = 0
    models = [("tokenizer.json", TOK_JSON)]
    if os.path.exists(GGUF):
        models.append(("SmolLM2 GGUF", GGUF))
    else:
        print(f"note: {GGUF} not found, GGUF comparison skipped")
    for name, model in models:
        got = run_sqz(model, texts)
        bad = [i for i in range(len(texts)) if got[i] != expect[i]]
        for i in bad[:5]:
            print(f"{name}: MISMATCH on {texts[i]!r:.120}\n  sqz {got[i][:40]}\n  hf  {expect[i][:40]}")
        print(f"{name}: {len(texts) - len(bad)}/{len(texts)} texts identical")
        passed += len(texts) - len(bad)
        failed += len(bad)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
