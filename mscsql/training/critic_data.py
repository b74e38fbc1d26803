"""Critic training data: candidate pools run on the databases, grouped as the critic sees them, labelled by
the harness's scorer.

A *pool* is a list of prediction files (one per generator, in priority order), as ``mscsql select`` reads
them, or the folder of a generation run (``mscsql generate``): its candidates become synthetic prediction files
(:mod:`mscsql.training.generated_pools`) so they are scored the same way, and each candidate's agreement is
the number of samples that proposed it. Every file is scored once with the scorer (cached under
``OUTPUT/scores``), every distinct statement of a question runs once, read-only, on its database, and each
pool's candidates are grouped by result (:func:`mscsql.critic.grouping.group_by_result`). A group is right when
the member a critic's choice would return (the one from the highest-priority file) is right by the scorer.

The critic sees the groups that ran successfully (failed ones are never options), and only questions with at
least two of them reach a model; of those, a question is kept when its options hold at least one right and
one wrong group (``keep_all`` keeps the others too). Questions whose pools give the same groups with the same
agreement are kept once. Each kept question gives ``orderings`` rows, the options shown in different orders;
the orders are rotations chosen so that the right option takes each position equally often.

Every row carries both critics' inputs, rendered by the critics' own code: ``messages``/``completion`` for the
LLM critic (the ``critic-v1`` prompt and the right option's letter) and ``question``/``group_texts``/``shares``/
``labels`` for the encoder critic (the descriptions of :func:`mscsql.critic.encoder.describe_group`).
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mscsql.benchmarks.loaders import Benchmark, BenchmarkItem
from mscsql.benchmarks.predictions import PredictionFile, load_prediction_files
from mscsql.critic.base import best_member, shown_groups, support_order
from mscsql.critic.encoder import EncoderCriticConfig
from mscsql.critic.encoder_pairs import GroupPair, group_pairs, most_agreed
from mscsql.critic.grouping import CandidateResult, ResultGroup, group_by_result
from mscsql.critic.llm import CRITIC_TEMPLATE_VERSION, LABELS, critic_prompt
from mscsql.critic.metadata import MetadataOptions
from mscsql.db import connect
from mscsql.errors import DatasetError
from mscsql.evaluation.cache import GoldCache
from mscsql.evaluation.runner import ScoreRun, score
from mscsql.evaluation.scorers import Scorer
from mscsql.evaluation.select import run_candidates
from mscsql.fileio import read_text_file
from mscsql.stages import whole_schema_text
from mscsql.training.dataset_io import write_dataset
from mscsql.training.examples import choose_eval_databases
from mscsql.training.generated_pools import GeneratedPool, read_generated_pool

log = logging.getLogger(__name__)

#: the dataset column of each numeric feature block a head can read (by its :class:`GroupPair` field, in the
#: order of :data:`~mscsql.critic.encoder_pairs.FEATURE_BLOCKS`); the encoder critic's ``Question`` has
#: fields of the same names
FEATURE_COLUMNS = {"shape": "shapes", "checks": "checks", "graded": "graded", "intent": "intents"}


@dataclass(frozen=True)
class LabelledOptions:
    """One question under one pool: the groups the critic is shown and which of them are right."""

    item: BenchmarkItem
    pool: tuple[str, ...]
    groups: tuple[ResultGroup, ...]
    #: indexes (into ``groups``) of the options shown, at most ``max_options``
    shown: tuple[int, ...]
    #: one flag per shown option
    right: tuple[bool, ...]

    def signature(self) -> tuple[Any, ...]:
        return tuple(sorted((repr(self.groups[i].key), self.groups[i].count) for i in self.shown))


def read_pools(path: str | Path) -> list[list[str]]:
    """The pools in a text file: one per line, its prediction files joined by commas; ``#`` starts a comment."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DatasetError(f"pools file {str(file)!r} does not exist",
                           hint="one pool per line: prediction files joined by commas")
    pools = []
    for line in read_text_file(file, "pools file", DatasetError).splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            pools.append([part.strip() for part in text.split(",") if part.strip()])
    if not pools:
        raise DatasetError(f"pools file {str(file)!r} lists no pool")
    return pools


def file_accuracy(files: list[PredictionFile], verdict: dict[tuple[str, int], bool]) -> dict[str, float]:
    """Each file's share of right answers among its scored questions."""
    scored, right = Counter[str](), Counter[str]()
    for (name, _index), correct in verdict.items():
        scored[name] += 1
        right[name] += correct
    return {f.name: round(right[f.name] / scored[f.name], 4) if scored[f.name] else 0.0 for f in files}


def label_groups(groups: list[ResultGroup], pool: Sequence[str], verdict: dict[tuple[str, int], bool], index: int,
                 file_of: dict[str, str] | None = None) -> list[bool]:
    """Whether each group is right: the scorer's verdict on the member a critic's choice returns (the one from
    the highest-priority source of the pool). A member's verdict is its file's (``file_of``: statement -> file,
    for sources that are not files)."""
    def file(member: CandidateResult) -> str:
        return file_of[member.sql] if file_of is not None else member.sources[0]

    return [verdict[(file(best_member(g, pool)), index)] for g in groups]


def balanced_orders(n: int, answer: int, k: int, rng: random.Random) -> list[tuple[int, ...]]:
    """``k`` orders of ``n`` options (rotations, then their reverses) in which the option ``answer`` takes the
    positions ``start, start+1, ...`` (mod ``n``) in turn, from a random start: over many questions the right
    option is equally often at each position. Each order gives, per position, the option shown there."""
    start = rng.randrange(n)
    orders: list[tuple[int, ...]] = []
    for j in range(min(k, 2 * n if n > 2 else n)):
        target = (start + j) % n
        # the rotation that puts ``answer`` at ``target``: position p shows option (p - target + answer) mod n
        order = tuple((p - target + answer) % n for p in range(n))
        if j >= n:  # a second round: the reverse order with the answer at the same position
            rest = [o for o in order if o != answer][::-1]
            order = tuple([*rest[:target], answer, *rest[target:]])
        if order not in orders:
            orders.append(order)
    return orders


def option_rows(options: LabelledOptions, schema_text: str, rng: random.Random, *, orderings: int,
                metadata: MetadataOptions, encoder: EncoderCriticConfig, ordering: str = "permutations",
                described: Mapping[int, GroupPair] | None = None, conversation: str = "") -> list[dict[str, Any]]:
    """The training rows of one question's labelled options: ``orderings`` orders of them (balanced over the
    positions of the right one), or with ``ordering="by-support"`` the one order a by-support critic shows (the
    most proposed group first, ties to the higher-ranked generator); each row with the LLM critic's prompt and
    completion and the encoder critic's inputs and labels. ``described``: the encoder critic's pairs of the
    question's groups by index, when already made (else they are made here)."""
    item, groups = options.item, options.groups
    pairs = described if described is not None else question_pairs(options, encoder)
    n = len(options.shown)
    answered = any(options.right)
    answer = options.right.index(True) if answered else 0
    rows = []
    # no right option (keep_all): the encoder reads the rows, the LLM recipe leaves them out (no completion)
    if ordering == "by-support":
        ranked = support_order(groups, options.shown, options.pool)
        orders = [tuple(options.shown.index(i) for i in ranked)]
    else:
        orders = balanced_orders(n, answer, orderings if answered else 1, rng)
    for number, order in enumerate(orders):
        shown = [options.shown[o] for o in order]
        prompt = critic_prompt(item.question, item.evidence, schema_text, [groups[i] for i in shown], metadata,
                               conversation)
        position = order.index(answer)
        rows.append({
            "messages": list(prompt.messages), "completion": LABELS[position] if answered else "",
            "prompt_hash": prompt.prompt_hash,
            "question": pairs[shown[0]].question, "group_texts": [pairs[i].group for i in shown],
            "shares": [pairs[i].agreement for i in shown], "firsts": [pairs[i].first for i in shown],
            **{column: [list(getattr(pairs[i], slot)) for i in shown] for slot, column in FEATURE_COLUMNS.items()},
            "labels": [int(options.right[o]) for o in order],
            "answer": position if answered else -1, "ordering": number, "db_id": item.db_id, "index": item.index,
            "pool": list(options.pool), "difficulty": item.difficulty or "",
        })
    return rows


def pairwise_rows(options: LabelledOptions, schema_text: str, rng: random.Random, *, metadata: MetadataOptions,
                  encoder: EncoderCriticConfig, max_pairs: int | None = None) -> list[dict[str, Any]]:
    """The training rows of a pairwise critic (:mod:`mscsql.critic.pairwise`) for one question's labelled options:
    every pair of a right and a wrong option (those of the most proposed groups first, at most ``max_pairs``),
    each in both orders, with the prompt of two options the pairwise critic sends and the letter of the right one."""
    from mscsql.critic.pairwise import pairs_to_judge

    right = dict(zip(options.shown, options.right, strict=True))
    pairs = [(a, b) for a, b in pairs_to_judge(options.groups, options.shown, None) if right[a] != right[b]]
    described = question_pairs(options, encoder)  # once per question, not once per pair
    rows = []
    for a, b in pairs[:max_pairs]:
        pair = LabelledOptions(options.item, options.pool, options.groups, (a, b), (right[a], right[b]))
        rows += option_rows(pair, schema_text, rng, orderings=2, metadata=metadata, encoder=encoder,
                            described=described)
    return rows


def question_pairs(options: LabelledOptions, encoder: EncoderCriticConfig) -> dict[int, GroupPair]:
    """The encoder critic's pair of each shown group of a question, by group index."""
    item = options.item
    return dict(zip(options.shown, group_pairs(item.question, item.evidence, options.groups, options.shown,
                                               options.pool, encoder.metadata), strict=True))


@dataclass
class CriticDataBuild:
    benchmark: Benchmark
    #: each pool: prediction files in priority order
    pools: list[list[str | Path]]
    scorer: Scorer
    output: Path
    cache: GoldCache
    #: folders of generation runs (``mscsql generate``), one pool each
    generated: list[str | Path] = field(default_factory=list)
    orderings: int = 4
    #: "permutations" (``orderings`` balanced orders of each question's options) or "by-support" (the one order
    #: a by-support critic shows them in)
    ordering: str = "permutations"
    #: rows for a pairwise critic: each pair of a right and a wrong option, in both orders (see
    #: :func:`pairwise_rows`), at most ``max_pairs`` pairs per question
    pairwise: bool = False
    max_pairs: int | None = None
    keep_all: bool = False
    #: the share of databases held out as the ``eval`` split
    eval_fraction: float = 0.1
    seed: int = 0
    timeout_s: float = 30.0
    workers: int = 2
    progress: bool = True
    #: the most options in one LLM prompt (the LLM critic's ``max_options``): further wrong groups are left out
    max_options: int = 8
    #: put each pool's files in the order of their accuracy on these questions, the best first (the priority a
    #: user gives generators they have measured); else the order given
    order_by_accuracy: bool = False
    metadata: MetadataOptions = field(default_factory=MetadataOptions)
    encoder: EncoderCriticConfig = field(default_factory=EncoderCriticConfig)
    _held_out: set[str] = field(default_factory=set, init=False, repr=False)

    def run(self) -> dict[str, Any]:
        pools = [[str(p) for p in pool if str(p).strip()] for pool in self.pools]
        pools = [pool for pool in pools if pool]
        if not pools and not self.generated:
            raise DatasetError("no candidate pool given", hint="--pool A.sql,B.sql,C.sql (repeat for more pools), "
                                                               "--pools-file FILE (one pool a line) or --generated "
                                                               "FOLDER (a mscsql generate run)")
        self._check_databases()
        generated = [read_generated_pool(folder, self.benchmark, self.output) for folder in self.generated]
        paths = list(dict.fromkeys(p for pool in pools for p in pool))
        synthetic = [str(f) for g in generated for f in g.files]
        files = load_prediction_files(paths + synthetic, self.benchmark)
        by_path = {p: f for p, f in zip(paths + synthetic, files, strict=True)}
        named_pools: list[list[str] | GeneratedPool] = [[by_path[p].name for p in pool] for pool in pools]
        for g in generated:
            g.names = [by_path[str(f)].name for f in g.files]
        rows = score(ScoreRun(benchmark=self.benchmark, files=files, scorer=self.scorer,
                              output=self.output / "scores", cache=self.cache, workers=self.workers,
                              timeout_s=self.timeout_s, progress=self.progress))
        verdict = {(r["prediction_file"], r["index"]): bool(r["correct"]) for r in rows if r["status"] != "skipped"}
        self._held_out = self._eval_databases()
        training = {i.index for i in self.benchmark.items if i.db_id not in self._held_out}
        given = [f for f in files if str(f.path) not in synthetic]
        accuracy = file_accuracy(given, {k: v for k, v in verdict.items() if k[1] in training})
        if self.order_by_accuracy:
            named_pools = [sorted(pool, key=lambda name: -accuracy[name]) for pool in named_pools
                           if isinstance(pool, list)]
        examples, seen = self._examples(files, [*named_pools, *generated], verdict)
        splits = self._split(examples)
        card = self._card(given, [p for p in named_pools if isinstance(p, list)], splits, seen,
                          len({(e[0].item.index) for e in examples}))
        card["generated"] = [{"folder": str(g.folder), "generators": list(g.priority), "candidate_files": len(g.files)}
                             for g in generated]
        card["file_accuracy"] = accuracy
        write_dataset(self.output, "critic", splits, card)
        return {**card, "counts": {k: len(v) for k, v in splits.items() if v}}

    def _check_databases(self) -> None:
        """Every question needs its database (:func:`mscsql.benchmarks.subsets.present_only` leaves out those
        whose database is missing)."""
        missing = sorted({i.db_id for i in self.benchmark.items if not i.database})
        if missing:
            raise DatasetError(f"critic data needs every question's database, and {len(missing)} are missing: "
                               f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}",
                               hint="give the benchmark's databases, or leave them out with --dbs or "
                                    "--allow-missing-db")

    def _examples(self, files: list[PredictionFile], pools: list[list[str] | GeneratedPool],
                  verdict: dict[tuple[str, int], bool]
                  ) -> tuple[list[tuple[LabelledOptions, str]], int]:
        """The kept (question, pool) options with the question's schema text, and how many were seen."""
        items = [i for i in self.benchmark.items if all((f.name, i.index) in verdict for f in files)]
        kept: list[tuple[LabelledOptions, str]] = []
        seen = 0
        with tqdm(total=len(items), desc="candidate pools", unit="q", disable=not self.progress) as bar:
            for _db, group in groupby(sorted(items, key=lambda i: (i.database, i.index)), key=lambda i: i.database):
                batch = list(group)
                with connect(batch[0].database) as db:
                    schema_text = whole_schema_text(db.schema())
                    everything = run_candidates(db, [i.index for i in batch], files, workers=self.workers,
                                                timeout_s=self.timeout_s)
                for item in batch:
                    signatures: set[tuple[Any, ...]] = set()
                    for pool in pools:
                        seen += 1
                        options = self._options(item, pool, everything[item.index], verdict)
                        if options is None or options.signature() in signatures:
                            continue
                        signatures.add(options.signature())
                        linked = pool.schema_texts.get(item.index) if isinstance(pool, GeneratedPool) else None
                        kept.append((options, linked or schema_text))
                bar.update(len(batch))
        log.info("critic data: %d of %d (question, pool) pairs kept", len(kept), seen)
        return kept, seen

    def _options(self, item: BenchmarkItem, pool: list[str] | GeneratedPool, candidates: list[CandidateResult],
                 verdict: dict[tuple[str, int], bool]) -> LabelledOptions | None:
        mine = []
        file_of: dict[str, str] | None = None
        if isinstance(pool, GeneratedPool):  # sources: the samples behind each candidate, by generator priority
            ours = pool.own(candidates, item.index)
            mine = [candidate for candidate, _file in ours]
            file_of = {candidate.sql: file for candidate, file in ours}
            priority = list(pool.priority)
        else:
            for candidate in candidates:  # the pool's own candidates, their sources in the pool's order
                sources = tuple(s for s in pool if s in candidate.sources)
                if sources:
                    mine.append(CandidateResult(candidate.sql, sources, candidate.result))
            priority = pool
        groups = group_by_result(mine)
        shown = shown_groups(groups, self.encoder.include_failed)
        if len(shown) < 2:
            return None
        right = label_groups([groups[i] for i in shown], priority, verdict, item.index, file_of)
        if not self.keep_all and (all(right) or not any(right)):
            return None
        if len(shown) > self.max_options:  # the right group first, then the most proposed wrong ones
            ranked = sorted(range(len(shown)), key=lambda j: (not right[j], -groups[shown[j]].count, j))
            chosen = sorted(ranked[: self.max_options])
            shown, right = [shown[j] for j in chosen], [right[j] for j in chosen]
        return LabelledOptions(item, tuple(priority), tuple(groups), tuple(shown), tuple(right))

    def _rows(self, options: LabelledOptions, schema_text: str, rng: random.Random) -> list[dict[str, Any]]:
        if self.pairwise:
            return pairwise_rows(options, schema_text, rng, metadata=self.metadata, encoder=self.encoder,
                                 max_pairs=self.max_pairs)
        return option_rows(options, schema_text, rng, orderings=self.orderings, metadata=self.metadata,
                           encoder=self.encoder, ordering=self.ordering)

    def _eval_databases(self) -> set[str]:
        """The databases held out as the eval split: about ``eval_fraction`` of the questions (seeded), whole
        databases only, never all; none when the questions are on one database."""
        sizes = Counter(i.db_id for i in self.benchmark.items if i.database)
        if self.eval_fraction <= 0 or len(sizes) < 2:
            if self.eval_fraction > 0:
                log.warning("critic data: one database only, so no eval split (it would share questions)")
            return set()
        target = max(1, round(self.eval_fraction * sum(sizes.values())))
        return choose_eval_databases(sizes, target, random.Random(f"critic-eval:{self.seed}"))

    def _split(self, examples: list[tuple[LabelledOptions, str]]) -> dict[str, list[dict[str, Any]]]:
        """Rows of the train and eval splits (the eval databases chosen in :meth:`_eval_databases`)."""
        rng = random.Random(f"critic-orders:{self.seed}")
        splits: dict[str, list[dict[str, Any]]] = {"train": [], "eval": []}
        for options, schema_text in examples:
            split = "eval" if options.item.db_id in self._held_out else "train"
            splits[split] += self._rows(options, schema_text, rng)
        return splits

    def _card(self, files: list[PredictionFile], pools: list[list[str]], splits: dict[str, list[dict[str, Any]]],
              seen: int, questions: int) -> dict[str, Any]:
        rows = [r for split in splits.values() for r in split]
        first_rows = [r for r in rows if r["ordering"] == 0]
        positions = Counter(r["answer"] for r in rows)
        majority_right = sum(r["labels"][most_agreed(r["shares"], r["firsts"])] for r in first_rows)
        digest = hashlib.sha256("\n".join(sorted({r["prompt_hash"] for r in rows})).encode()).hexdigest()[:16]
        return {
            "benchmark": self.benchmark.name, "benchmark_files": self.benchmark.files,
            "databases": sorted({r["db_id"] for r in rows}),
            "eval_databases": sorted({r["db_id"] for r in splits.get("eval", [])}),
            "scorer": self.scorer.name,
            "sources": {f.name: {"path": str(f.path), "sha256": f.sha256} for f in files},
            "pools": pools,
            "questions_seen": seen, "questions": len(first_rows), "distinct_questions": questions,
            "label_balance": {
                "right_option_position": {LABELS[p]: positions[p] for p in sorted(positions)},
                "mean_options": round(sum(len(r["labels"]) for r in first_rows) / max(len(first_rows), 1), 3),
                "mean_right_options": round(sum(sum(r["labels"]) for r in first_rows) / max(len(first_rows), 1), 3),
                "most_agreed_option_right": round(majority_right / max(len(first_rows), 1), 4),
            },
            "prompt": {"template": CRITIC_TEMPLATE_VERSION, "hash": digest},
            "encoder_critic": self.encoder.to_dict(),
            "settings": {"orderings": self.orderings, "ordering": self.ordering, "pairwise": self.pairwise,
                         "max_pairs": self.max_pairs, "keep_all": self.keep_all,
                         "eval_fraction": self.eval_fraction, "order_by_accuracy": self.order_by_accuracy,
                         "seed": self.seed, "max_options": self.max_options, "timeout_s": self.timeout_s},
        }
