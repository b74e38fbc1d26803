"""Summaries of a scoring run: ``summary.json``, ``report.md`` and ``accuracy.png``, with provenance."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from mscsql.evaluation.runner import ScoreRun
from mscsql.fileio import write_json_atomic, write_text_atomic

_PACKAGES = ("mscsql", "sqlglot", "sqlparse", "SQLAlchemy", "psycopg", "PyMySQL")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(run: ScoreRun) -> dict[str, Any]:
    return {
        "command": run.command,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "dataset_files": run.benchmark.files,
        "prediction_files": {f.name: {"path": str(f.path), "sha256": f.sha256} for f in run.files},
        "packages": {p: v for p in _PACKAGES if (v := _version(p))},
        "python": platform.python_version(),
        "git_commit": _git_commit(),
        "timeout_s": run.timeout_s,
        "max_rows": run.max_rows,
    }


def _ratio(correct: int, count: int) -> float | None:
    return round(correct / count, 6) if count else None


def summarize(rows: list[dict[str, Any]], run: ScoreRun) -> dict[str, Any]:
    levels = list(run.benchmark.difficulty_levels)
    files = []
    for file in run.files:
        own = [r for r in rows if r["prediction_file"] == file.name]
        scored = [r for r in own if r["status"] != "skipped"]
        by_level = {}
        for level in levels:
            in_level = [r for r in scored if r["difficulty"] == level]
            correct = sum(r["correct"] for r in in_level)
            by_level[level] = {"count": len(in_level), "correct": correct, "accuracy": _ratio(correct, len(in_level))}
            if run.scorer.graded:
                by_level[level]["score"] = _mean_score(in_level)
        correct = sum(r["correct"] for r in scored)
        files.append({
            "name": file.name, "path": str(file.path), "sha256": file.sha256,
            "scored": len(scored), "correct": correct, "accuracy": _ratio(correct, len(scored)),
            "by_difficulty": by_level,
            "errors": sum(r["status"] == "error" for r in scored),
            "timeouts": sum(r["status"] == "timeout" for r in scored),
            "skipped": len(own) - len(scored),
            "gold_failures": sum(r["gold_status"] != "ok" for r in scored),
            "db_id_mismatches": file.db_id_mismatches,
            **({"score": _mean_score(scored)} if run.scorer.graded else {}),
            **(_efficiency(scored, run.scorer.name, levels) if run.scorer.timed else {}),
            **({"partial": _partial(scored, levels)} if not run.scorer.executes else {}),
        })
    gold_failures = {}
    for r in rows:
        if r["status"] != "skipped" and r["gold_status"] != "ok":
            gold_failures.setdefault(r["index"], {"index": r["index"], "question_id": r["question_id"],
                                                  "db_id": r["db_id"], "status": r["gold_status"],
                                                  "error": r["gold_error"]})
    items = run.benchmark.items
    return {
        "benchmark": run.benchmark.name,
        "scorer": run.scorer.name,
        "questions": len(items),
        "scored_questions": sum(1 for i in items if run.scorer.databases(i)),
        "skipped_questions": sum(1 for i in items if not run.scorer.databases(i)),
        "missing_databases": list(run.benchmark.missing_databases),
        "difficulty_levels": levels,
        "files": files,
        "gold_failures": sorted(gold_failures.values(), key=lambda g: g["index"]),
        "execution": dict(run.stats),
        **({"repeats": run.scorer.repeats, "machine": machine(),
            "timing_processes": run.timing_processes} if run.scorer.timed else {}),
        "provenance": provenance(run),
    }


def _efficiency(rows: list[dict[str, Any]], scorer: str, levels: list[str]) -> dict[str, Any]:
    from mscsql.evaluation.efficiency import efficiency_summary

    found = efficiency_summary(rows, scorer)
    found["by_difficulty_" + scorer] = {level: efficiency_summary([r for r in rows if r["difficulty"] == level],
                                                                  scorer).get(scorer) for level in levels}
    return found


def _partial(rows: list[dict[str, Any]], levels: list[str]) -> dict[str, Any]:
    from mscsql.evaluation.exact_match import partial_summary

    return partial_summary(rows, levels)


def machine() -> dict[str, Any]:
    """The machine a timed run ran on."""
    import os

    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "processor": model or platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version()}


def _mean_score(rows: list[dict[str, Any]]) -> float | None:
    """The mean graded score of ``rows`` (a failed prediction scores 0)."""
    return round(sum(r.get("score", 0.0) for r in rows) / len(rows), 9) if rows else None


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def markdown(summary: dict[str, Any]) -> str:
    levels = summary["difficulty_levels"]
    lines = [f"# {summary['benchmark']}: {summary['scorer']} accuracy", ""]
    lines.append(f"{summary['scored_questions']} questions scored"
                 + (f", {summary['skipped_questions']} skipped (missing databases: "
                    f"{', '.join(summary['missing_databases'])})" if summary["skipped_questions"] else "") + ".")
    lines.append("")
    first = summary["files"][0] if summary["files"] else None
    counts = " | ".join(f"{level} ({first['by_difficulty'][level]['count']})" for level in levels) if first else ""
    lines.append(f"| prediction file | all ({first['scored'] if first else 0}) | {counts} | errors | timeouts |")
    lines.append("|---|---:|" + "---:|" * len(levels) + "---:|---:|")
    for f in summary["files"]:
        cells = " | ".join(_percent(f["by_difficulty"][level]["accuracy"]) for level in levels)
        lines.append(f"| {f['name']} | **{_percent(f['accuracy'])}** | {cells} | {f['errors']} | {f['timeouts']} |")
    lines.append("")
    for f in summary["files"]:
        if "partial" in f:
            lines.append(f"Partial matching of {f['name']} (F1 by component; accuracy and recall in summary.json):")
            lines.append("")
            lines.append("| component | " + " | ".join([*levels, "all"]) + " |")
            lines.append("|---|" + "---:|" * (len(levels) + 1))
            for component in f["partial"]["all"]:
                cells = " | ".join(_percent(f["partial"][level][component]["f1"]) for level in [*levels, "all"])
                lines.append(f"| {component} | {cells} |")
            lines.append("")
    if any("score" in f for f in summary["files"]):
        lines.append(f"Mean {summary['scorer']} score (×100; the rows above count a question right at a score of 1):")
        lines.append("")
        for f in summary["files"]:
            cells = ", ".join(f"{level} {_percent(f['by_difficulty'][level].get('score'))}" for level in levels)
            lines.append(f"- {f['name']}: **{_percent(f['score'])}** ({cells})")
        lines.append("")
    if summary["gold_failures"]:
        lines.append(f"Gold queries that failed: {len(summary['gold_failures'])} (listed in summary.json); "
                     "those questions score 0.")
        lines.append("")
    prov = summary["provenance"]
    lines.append(f"Command: `{prov['command']}`  ")
    lines.append(f"mscsql {prov['packages'].get('mscsql', '?')}, commit {prov['git_commit'] or 'unknown'}, "
                 f"created {prov['created']}.")
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [*summary["difficulty_levels"], "all"]
    files = summary["files"]
    width = 0.8 / max(1, len(files))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(levels) + 0.15 * len(files)), 4.2))
    for n, f in enumerate(files):
        values = [100 * (f["by_difficulty"][lv]["accuracy"] or 0) for lv in levels[:-1]] + [100 * (f["accuracy"] or 0)]
        positions = [i - 0.4 + width * (n + 0.5) for i in range(len(levels))]
        ax.bar(positions, values, width=width, label=f["name"])
    ax.set_xticks(range(len(levels)))
    ax.set_xticklabels(levels)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{summary['benchmark']} - {summary['scorer']}")
    if len(files) <= 12:
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_reports(rows: list[dict[str, Any]], run: ScoreRun, *, chart: bool = True) -> dict[str, Any]:
    """``summary.json``, ``report.md`` and (unless ``chart`` is off: matplotlib takes most of a second to start)
    ``accuracy.png``."""
    summary = summarize(rows, run)
    out = run.output
    write_json_atomic(out / "summary.json", summary)
    write_text_atomic(out / "report.md", markdown(summary))
    if chart:
        plot(summary, out / "accuracy.png")
    return summary
