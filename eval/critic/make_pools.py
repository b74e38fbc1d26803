"""Write the candidate pools of the Spider critic experiment (eval/results/critic_spider_split.md).

Training pools: seeded random triples of fine-tuned 7-8B models of three different families (a family is a
base model; each training-size variant of it is one file), taken from the published Spider dev prediction
files. Evaluation pools: the 7000-sample variants of three families. Pools are lines of comma-separated files;
``mscsql train data critic --pools-file`` and the commands in the results file read them.

    python eval/critic/make_pools.py --predictions ../shared/data/predictions/spider_dev --out eval/critic
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
from pathlib import Path

#: family -> file-name patterns of its fine-tuned variants (the number is the training-set size). Families are in
#: the order of their published Spider accuracy, the strongest first: a pool lists its files in that priority
#: order, as a user lists their best generator first.
FAMILIES = {
    "deepseek-coder-7b": [r"NL2SQL360__Deepseek-Coder-7B-(\d+)\.sql",
                          r"NL2SQL360__deepseek_coder_7b_(\d+)_train_samples\.sql"],
    "llama3-8b": [r"NL2SQL360__Llama3-8B-(\d+)\.sql",
                  r"NL2SQL360__llama3_8b_(\d+)_train_samples\.sql"],
    "codellama-7b": [r"NL2SQL360__CodeLlama-7B-(\d+)\.sql"],
    "starcoder-7b": [r"NL2SQL360__StarCoder-7B-(\d+)\.sql"],
    "llama2-7b": [r"NL2SQL360__Llama2-7B-(\d+)\.sql"],
}
EVAL_POOLS = [
    ("NL2SQL360__deepseek_coder_7b_7000_train_samples.sql", "NL2SQL360__llama3_8b_7000_train_samples.sql",
     "NL2SQL360__CodeLlama-7B-7000.sql"),
    ("NL2SQL360__Deepseek-Coder-7B-7000.sql", "NL2SQL360__Llama3-8B-7000.sql", "NL2SQL360__StarCoder-7B-7000.sql"),
    ("NL2SQL360__deepseek_coder_7b_7000_train_samples.sql", "NL2SQL360__StarCoder-7B-7000.sql",
     "NL2SQL360__Llama2-7B-7000.sql"),
    ("NL2SQL360__Llama3-8B-7000.sql", "NL2SQL360__CodeLlama-7B-7000.sql", "NL2SQL360__Llama2-7B-7000.sql"),
]


def family_files(folder: Path, min_size: int) -> dict[str, list[str]]:
    names = sorted(p.name for p in folder.glob("*.sql"))
    found: dict[str, list[str]] = {}
    for family, patterns in FAMILIES.items():
        for name in names:
            for pattern in patterns:
                match = re.fullmatch(pattern, name)
                if match and int(match.group(1)) >= min_size:
                    found.setdefault(family, []).append(name)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("eval/critic"))
    parser.add_argument("--pools", type=int, default=60, help="training pools")
    parser.add_argument("--min-size", type=int, default=1000, help="smallest training-set size of a variant")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    files = family_files(args.predictions, args.min_size)
    rng = random.Random(args.seed)
    triples = list(itertools.combinations(list(files), 3))
    pools: list[tuple[str, ...]] = []
    while len(pools) < args.pools:
        families = list(triples[len(pools) % len(triples)])  # in FAMILIES order: the stronger family first
        pool = tuple(rng.choice(files[f]) for f in families)
        if pool not in pools:
            pools.append(pool)
    prefix = args.predictions.as_posix().rstrip("/")
    args.out.mkdir(parents=True, exist_ok=True)
    header = "# one pool per line: prediction files in priority order (written by eval/critic/make_pools.py)\n"
    for name, chosen in (("train_pools.txt", pools), ("eval_pools.txt", EVAL_POOLS)):
        lines = [",".join(f"{prefix}/{f}" for f in pool) for pool in chosen]
        (args.out / name).write_text(header + "\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
