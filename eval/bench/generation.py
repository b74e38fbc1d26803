"""Benchmark: sampling SQL candidates, the batched ``hf`` backend against a naive per-prompt loop (and vLLM).

Prompts are mscsql's own generator prompts (``generator_prompt`` over a rendered, linked schema) for
``--prompts`` generated questions; each prompt gets ``--n`` samples of ``--max-tokens`` new tokens at
``--temperature`` (top-k off, ``--top-p``), the same settings on every side:

- naive: plain transformers, one prompt and one sample per ``model.generate`` call (no padding, no batching),
  on the same loaded model. A sequential loop costs the same per sample whichever samples it draws, so it runs
  on ``--naive-prompts`` prompts spread evenly over the list (x ``--n`` samples each; 0: all of them) and its
  rates stand for the whole set;
- hf: :class:`mscsql.generation.hf.HFGenerator`, ``--batch-size`` prompts per ``generate`` call, ``n`` rows
  each;
- vllm: ``vllm.LLM.generate`` on the same token ids, when vllm is installed (else skipped, with the reason).

With ``--repeat`` the two run in alternating rounds and the median times are reported (vLLM runs once).

Every sample is forced to exactly ``--max-tokens`` tokens on every side (transformers' ``min_new_tokens``
equal to the maximum, which masks the end-of-sequence tokens until then; vLLM's ``min_tokens`` and
``ignore_eos``), so a random-init model that happens to draw its EOS token, or a real one that ends its
answer, cannot make a side look faster: tokens/s compare like for like. No stop strings are used.

The model is ``--model`` (a local directory), else a random-init model built on the fly, with no download:
by default Qwen2.5-1.5B's architecture (28 layers, hidden 1536, 151,936-token vocabulary: a real model's
compute and memory), or with ``--tiny`` a 2-layer toy for a CPU check. Its tokenizer is a byte-level BPE
trained here on the prompts, padded with filler tokens up to the model's vocabulary (so that every token the
model draws decodes), with a ChatML chat template.

It prints samples/s, generated tokens/s and peak memory per side and the ratio to the naive loop. Peak memory
is ``torch.cuda.max_memory_allocated`` on CUDA, else the process's peak RSS (``resource.getrusage``, reset
before each side through ``/proc/self/clear_refs`` where Linux allows it); the model's weights count on
both sides. vLLM's memory is not measured (it preallocates ``--vllm-memory`` of the GPU).

    python eval/bench/generation.py [--model DIR | --tiny] [--prompts 64] [--n 8] [--max-tokens 128]
        [--batch-size 8] [--repeat 1] [--output eval/results/generation.json]
    python eval/bench/generation.py --tiny --prompts 16 --n 4 --max-tokens 32   # a quick check on CPU
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import machine, write_figures

from mscsql.generation.base import SamplingParams
from mscsql.linking.base import linked
from mscsql.linking.render import render_schema
from mscsql.prompts.generator import generator_prompt
from mscsql.types import Column, ForeignKey, Question, Schema, Table

log = logging.getLogger("bench.generation")

CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
#: Qwen2.5-1.5B(-Instruct)'s architecture
QWEN25_1_5B = dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                   num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                   rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, rms_norm_eps=1e-6,
                   tie_word_embeddings=True, use_sliding_window=False)
TINY = dict(vocab_size=2048, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True)

# -- prompts ------------------------------------------------------------------------------------------------

SCHEMA = Schema("sqlite", (
    Table("singer", (Column("singer_id", "INTEGER", primary_key=True),
                     Column("name", "TEXT", examples=("Joe Sharp", "Rose White", "Tribal King")),
                     Column("country", "TEXT", examples=("France", "Netherlands", "United States")),
                     Column("song_name", "TEXT", examples=("You", "Sun", "Love")),
                     Column("song_release_year", "TEXT", examples=("2016", "2008", "2013")),
                     Column("age", "INTEGER", examples=(52, 32, 29)),
                     Column("is_male", "TEXT", description="whether the singer is male", examples=("F", "T"))),
          primary_key=("singer_id",)),
    Table("stadium", (Column("stadium_id", "INTEGER", primary_key=True),
                      Column("location", "TEXT", examples=("Raith Rovers", "Ayr United")),
                      Column("name", "TEXT", examples=("Stark's Park", "Somerset Park")),
                      Column("capacity", "INTEGER", examples=(10104, 11998)),
                      Column("highest", "INTEGER", description="highest attendance"),
                      Column("lowest", "INTEGER", description="lowest attendance"),
                      Column("average", "INTEGER", description="average attendance")),
          primary_key=("stadium_id",)),
    Table("concert", (Column("concert_id", "INTEGER", primary_key=True),
                      Column("concert_name", "TEXT", examples=("Auditions", "Super bootcamp")),
                      Column("theme", "TEXT", examples=("Free choice", "Bleeding Love")),
                      Column("stadium_id", "TEXT"), Column("year", "TEXT", examples=("2014", "2015"))),
          primary_key=("concert_id",), foreign_keys=(ForeignKey(("stadium_id",), "stadium", ("stadium_id",)),)),
    Table("singer_in_concert", (Column("concert_id", "INTEGER"), Column("singer_id", "TEXT")),
          primary_key=("concert_id", "singer_id"),
          foreign_keys=(ForeignKey(("concert_id",), "concert", ("concert_id",)),
                        ForeignKey(("singer_id",), "singer", ("singer_id",)))),
), db_id="concert_singer")

QUESTIONS = (
    ("How many singers are from {country}?", ("singer",)),
    ("What are the names of the singers older than {age}, ordered by age?", ("singer",)),
    ("Which stadiums have a capacity above {capacity}? Show their names and locations.", ("stadium",)),
    ("List the concerts held in {year} together with the name of their stadium.", ("concert", "stadium")),
    ("What is the average age of the singers who performed in a concert in {year}?",
     ("singer", "concert", "singer_in_concert")),
    ("Show the name of the stadium that hosted the most concerts after {year}.", ("concert", "stadium")),
    ("For each country with singers younger than {age}, how many songs were released?", ("singer",)),
    ("Which singers from {country} never performed in a concert?", ("singer", "singer_in_concert")),
)


def build_prompts(count: int, seed: int = 0) -> list[list[dict[str, str]]]:
    """``count`` generator prompts: questions of a few shapes with varied values, each over its linked tables."""
    rng = random.Random(seed)
    prompts = []
    for index in range(count):
        template, tables = QUESTIONS[index % len(QUESTIONS)]
        text = template.format(country=rng.choice(("France", "Netherlands", "Japan", "Brazil", "Kenya")),
                               age=rng.randint(20, 60), capacity=rng.randint(1, 60) * 1000,
                               year=rng.randint(2000, 2024))
        schema_text = render_schema(linked(SCHEMA, dict.fromkeys(tables), linker="bench")).text
        prompts.append(list(generator_prompt(Question(text, db_id=SCHEMA.db_id), schema_text, "sqlite").messages))
    return prompts


# -- a random-init model and its tokenizer, built offline ------------------------------------------------------


def build_tokenizer(texts: Sequence[str], vocab_size: int, trained_size: int = 2048) -> Any:
    """A byte-level BPE tokenizer trained on ``texts`` (at most ``trained_size`` entries), padded with filler
    tokens up to exactly ``vocab_size``, with a ChatML template; ``<|im_end|>`` ends a turn."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=min(trained_size, vocab_size), special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer=trainer)
    data = json.loads(tok.to_str())
    vocab: dict[str, int] = data["model"]["vocab"]
    filler = 0
    while len(vocab) < vocab_size:  # "Ġ" is byte-level BPE's space: a filler decodes as " w123"
        token = f"\u0120w{filler}"
        filler += 1
        if token not in vocab:
            vocab[token] = len(vocab)
    fast = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(data)),
                                   eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHATML
    if len(fast) != vocab_size:
        raise RuntimeError(f"the tokenizer has {len(fast)} entries, not {vocab_size}")
    return fast


def build_random_model(path: Path, architecture: dict[str, Any], texts: Sequence[str], *, device: str,
                       dtype: Any, seed: int) -> Path:
    """Save a random-init Qwen2 causal LM of ``architecture`` and a tokenizer of its vocabulary to ``path``."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    tokenizer = build_tokenizer(texts, architecture["vocab_size"])
    eos, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.pad_token_id
    config = Qwen2Config(**architecture, bos_token_id=None, eos_token_id=eos, pad_token_id=pad)
    torch.manual_seed(seed)
    with torch.device(device):  # initialising 1.5B parameters is much quicker on the GPU
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    del model
    return path


# -- measuring ----------------------------------------------------------------------------------------------


@dataclass
class Side:
    samples: int
    tokens: int
    seconds: float
    peak_memory_mib: float | None
    full_length: bool

    def figures(self) -> dict[str, Any]:
        return {"samples": self.samples, "generated_tokens": self.tokens, "seconds": round(self.seconds, 3),
                "samples_per_s": round(self.samples / self.seconds, 3),
                "tokens_per_s": round(self.tokens / self.seconds, 1),
                "peak_memory_mib": None if self.peak_memory_mib is None else round(self.peak_memory_mib, 1),
                "every_sample_max_tokens": self.full_length}


class Memory:
    """Peak memory of one side: CUDA's allocator peak, or the process's peak RSS (reset when Linux allows)."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.resettable = self.cuda or self._reset_rss()
        self.kind = ("torch.cuda.max_memory_allocated" if self.cuda else "peak RSS (getrusage)"
                     + ("" if self.resettable else ", not resettable here: includes every earlier side"))

    @staticmethod
    def _reset_rss() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            return True
        except OSError:
            return False

    def reset(self) -> None:
        gc.collect()
        if self.cuda:
            import torch

            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        elif self.resettable:
            self._reset_rss()

    def peak_mib(self) -> float:
        if self.cuda:
            import torch

            return torch.cuda.max_memory_allocated() / 2**20
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 2**10  # bytes on macOS, KiB on Linux


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def full_length_generator_class() -> type:
    """HFGenerator, made to generate exactly ``max_tokens`` tokens (``min_new_tokens``; see the docstring)."""
    from mscsql.generation.hf import HFGenerator

    class FullLengthHF(HFGenerator):
        def _generation_config(self, sampling: SamplingParams) -> Any:
            config = super()._generation_config(sampling)
            config.min_new_tokens = sampling.max_tokens
            return config

    return FullLengthHF


def run_naive(generator: Any, prompts: Sequence[Sequence[dict[str, str]]], sampling: SamplingParams,
              memory: Memory) -> Side:
    """One prompt, one sample per plain ``model.generate`` call, on the generator's loaded model."""
    import torch

    model, tokenizer = generator.model, generator.tokenizer
    settings: dict[str, Any] = dict(max_new_tokens=sampling.max_tokens, min_new_tokens=sampling.max_tokens,
                                    num_beams=1, eos_token_id=generator.eos_token_ids,
                                    pad_token_id=tokenizer.pad_token_id, do_sample=not sampling.greedy)
    if not sampling.greedy:
        settings.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
    memory.reset()
    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    samples = tokens = 0
    full = True
    _sync(generator.device)
    start = time.perf_counter()
    with torch.inference_mode():
        for prompt in prompts:
            text = tokenizer.apply_chat_template([dict(m) for m in prompt], add_generation_prompt=True,
                                                 tokenize=False)
            input_ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            input_ids = input_ids.to(generator.device)
            for _ in range(sampling.n):
                out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **settings)
                new = out[0, input_ids.shape[1]:].tolist()
                tokenizer.decode(new, skip_special_tokens=True)
                samples += 1
                tokens += len(new)
                full = full and len(new) == sampling.max_tokens
    _sync(generator.device)
    return Side(samples, tokens, time.perf_counter() - start, memory.peak_mib(), full)


def run_hf(generator: Any, prompts: Sequence[Sequence[dict[str, str]]], sampling: SamplingParams,
           memory: Memory) -> Side:
    memory.reset()
    _sync(generator.device)
    start = time.perf_counter()
    out = generator.generate(prompts, sampling)
    _sync(generator.device)
    seconds = time.perf_counter() - start
    flat = [s for samples in out for s in samples]
    return Side(len(flat), sum(s.num_tokens for s in flat), seconds, memory.peak_mib(),
                all(s.num_tokens == sampling.max_tokens for s in flat))


def run_vllm(model: str, prompt_ids: list[list[int]], sampling: SamplingParams, *, dtype: str,
             memory_fraction: float) -> Side | str:
    """vLLM on the same token ids, or the reason it was skipped."""
    try:
        import vllm
    except ImportError:
        return "vllm is not installed (pip install vllm, on a CUDA machine)"
    try:
        llm = vllm.LLM(model=model, dtype=dtype, seed=sampling.seed or 0, gpu_memory_utilization=memory_fraction,
                       max_model_len=max(len(ids) for ids in prompt_ids) + sampling.max_tokens + 8)
        params = vllm.SamplingParams(n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p, top_k=-1,
                                     max_tokens=sampling.max_tokens, min_tokens=sampling.max_tokens,
                                     ignore_eos=True, seed=sampling.seed)
        inputs: list[Any] = [{"prompt_token_ids": ids} for ids in prompt_ids]
        llm.generate(inputs[:2], vllm.SamplingParams(n=1, max_tokens=4), use_tqdm=False)  # warm-up
        start = time.perf_counter()
        results = llm.generate(inputs, params, use_tqdm=False)
        seconds = time.perf_counter() - start
    except Exception as err:  # a broken install or a model vLLM does not support: report it, do not fail
        return f"vllm failed: {type(err).__name__}: {' '.join(str(err).split())[:300]}"
    flat = [o for r in results for o in r.outputs]
    return Side(len(flat), sum(len(o.token_ids) for o in flat), seconds, None,
                all(len(o.token_ids) == sampling.max_tokens for o in flat))


def median_run(runs: list[Side]) -> Side:
    """The run of median time, with the highest peak memory of all."""
    middle = sorted(runs, key=lambda side: side.seconds)[(len(runs) - 1) // 2]
    peaks = [side.peak_memory_mib for side in runs if side.peak_memory_mib is not None]
    return Side(middle.samples, middle.tokens, middle.seconds, max(peaks) if peaks else None,
                all(side.full_length for side in runs))


def spread(items: Sequence[Any], count: int) -> list[Any]:
    """``count`` items spread evenly over ``items`` (all of them when count is 0 or more than there are)."""
    if count <= 0 or count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[math.floor(i * step)] for i in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a local model directory (default: a random-init model built here)")
    parser.add_argument("--tiny", action="store_true", help="a random-init 2-layer toy instead of the 1.5B one")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=8, help="samples per prompt")
    parser.add_argument("--max-tokens", type=int, default=128, help="new tokens per sample (forced, see above)")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per generate call of the hf backend")
    parser.add_argument("--naive-prompts", type=int, default=4,
                        help="prompts the naive loop runs (x n samples), spread over the list; 0: all")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of both sides; the median time is reported")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda ...")
    parser.add_argument("--dtype", default="auto", help="auto (bfloat16 on CUDA, float32 on CPU), float32, ...")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--no-vllm", action="store_true", help="skip vLLM even when it is installed")
    parser.add_argument("--vllm-memory", type=float, default=0.85, help="vLLM's gpu_memory_utilization")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("transformers", "httpx", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    import torch
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    dtype_name = args.dtype if args.dtype != "auto" else ("bfloat16" if device.startswith("cuda") else "float32")
    sampling = SamplingParams(n=args.n, temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
                              seed=args.seed)
    prompts = build_prompts(args.prompts, args.seed)

    workdir = None
    if args.model:
        model_path, model_name = args.model, args.model
    else:
        workdir = Path(tempfile.mkdtemp(prefix="bench-generation-"))
        architecture = TINY if args.tiny else QWEN25_1_5B
        model_name = "random-init Qwen2, " + ("tiny (2 layers, hidden 64)" if args.tiny
                                              else "Qwen2.5-1.5B architecture (28 layers, hidden 1536)")
        start = time.perf_counter()
        texts = [m["content"] for p in build_prompts(max(args.prompts, 64), args.seed + 1) for m in p]
        build_random_model(workdir / "model", architecture, texts, device=device, dtype=getattr(torch, dtype_name),
                           seed=args.seed)
        model_path = str(workdir / "model")
        log.info("built %s in %.1f s", model_name, time.perf_counter() - start)
    try:
        generator = full_length_generator_class()(model_path, device=device, dtype=dtype_name,
                                                  batch_size=args.batch_size, progress=False)
        params = sum(p.numel() for p in generator.model.parameters())
        prompt_ids = [generator.tokenizer(generator.render(p), add_special_tokens=False)["input_ids"]
                      for p in prompts]
        naive_prompts = spread(prompts, args.naive_prompts)
        memory = Memory(device)
        # warm-up (kernels, allocator, caches): a few tokens through both paths, untimed
        warm = SamplingParams(n=2, temperature=args.temperature, top_p=args.top_p, max_tokens=4, seed=args.seed)
        run_hf(generator, prompts[: min(2, len(prompts))], warm, memory)
        run_naive(generator, prompts[:1], SamplingParams(n=1, temperature=args.temperature, top_p=args.top_p,
                                                         max_tokens=4, seed=args.seed), memory)
        naive_runs, hf_runs = [], []
        for round_ in range(args.repeat):  # alternate the two so both see the same machine conditions
            log.info("round %d: naive loop, %d prompts x %d samples ...", round_ + 1, len(naive_prompts), args.n)
            naive_runs.append(run_naive(generator, naive_prompts, sampling, memory))
            log.info("round %d: hf batched, %d prompts x %d samples, %d prompts per call ...", round_ + 1,
                     len(prompts), args.n, args.batch_size)
            hf_runs.append(run_hf(generator, prompts, sampling, memory))
        naive, batched = median_run(naive_runs), median_run(hf_runs)
        del generator
        memory.reset()
        vllm_side: Side | str = "skipped (--no-vllm)"
        if not args.no_vllm:
            log.info("vllm ...")
            vllm_side = run_vllm(model_path, prompt_ids, sampling, dtype=dtype_name, memory_fraction=args.vllm_memory)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    sides: dict[str, Side] = {"naive": naive, "hf": batched}
    if isinstance(vllm_side, Side):
        sides["vllm"] = vllm_side
    figures: dict[str, Any] = {
        "command": "python eval/bench/generation.py " + " ".join(sys.argv[1:]),
        "model": model_name, "parameters": params, "device": device, "dtype": dtype_name,
        "threads": torch.get_num_threads() if not device.startswith("cuda") else None,
        "prompts": len(prompts), "n": args.n, "max_tokens": args.max_tokens, "temperature": args.temperature,
        "top_p": args.top_p, "seed": args.seed, "hf_batch_size": args.batch_size,
        "naive_prompts": len(naive_prompts), "repeat": args.repeat,
        "prompt_tokens_mean": round(sum(map(len, prompt_ids)) / len(prompt_ids), 1),
        "prompt_tokens_max": max(map(len, prompt_ids)), "memory": memory.kind,
        **{name: side.figures() for name, side in sides.items()},
        "ratios_to_naive": {name: {"samples_per_s": round(naive.seconds / naive.samples
                                                          / (side.seconds / side.samples), 2),
                                   "tokens_per_s": round((side.tokens / side.seconds) / (naive.tokens / naive.seconds),
                                                         2)}
                            for name, side in sides.items() if name != "naive"},
        "machine": machine(),
    }
    if not isinstance(vllm_side, Side):
        figures["vllm"] = {"skipped": vllm_side}

    print(f"model                {model_name} ({params / 1e6:,.1f}M parameters)")
    print(f"device               {device}, {dtype_name}"
          + (f", torch threads: {figures['threads']}" if figures["threads"] else ""))
    print(f"prompts x n          {len(prompts)} x {args.n} (naive loop: {len(naive_prompts)} x {args.n}), "
          f"{args.max_tokens} new tokens each (forced), temperature {args.temperature}, top-p {args.top_p}")
    if args.repeat > 1:
        print(f"rounds               {args.repeat} (median time, highest peak memory)")
    print(f"prompt tokens        mean {figures['prompt_tokens_mean']}, max {figures['prompt_tokens_max']}")
    names = list(sides)
    header = {"naive": "naive loop", "hf": f"hf batched ({args.batch_size})", "vllm": "vllm"}
    print(f"{'':20} " + " ".join(f"{header[n]:>18}" for n in names)
          + " ".join(f"{n + '/naive':>12}" for n in names[1:]))
    rows = (("samples/s", lambda s: s.samples / s.seconds, "{:>18.2f}"),
            ("tokens/s", lambda s: s.tokens / s.seconds, "{:>18.1f}"))
    for label, value, fmt in rows:
        print(f"{label:20} " + " ".join(fmt.format(value(sides[n])) for n in names)
              + " ".join(f"{value(sides[n]) / value(naive):>11.2f}x" for n in names[1:]))
    print(f"{'peak memory (MiB)':20} " + " ".join(
        f"{'n/a':>18}" if sides[n].peak_memory_mib is None else f"{sides[n].peak_memory_mib:>18.1f}" for n in names)
        + " ".join(f"{'':>12}" if sides[n].peak_memory_mib is None
                   else f"{sides[n].peak_memory_mib / naive.peak_memory_mib:>11.2f}x" for n in names[1:]))
    print(f"{'seconds':20} " + " ".join(f"{sides[n].seconds:>18.2f}" for n in names))
    print(f"memory               {memory.kind}")
    print(f"full length          {'every sample' if all(s.full_length for s in sides.values()) else 'NOT ALL'}")
    if not isinstance(vllm_side, Side):
        print(f"vllm                 {vllm_side}")
    write_figures(args.output, figures)
    return 0 if all(s.full_length for s in sides.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
