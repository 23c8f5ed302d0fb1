"""Summarises the benchmark suite's runs (JSON lines written by motcua-bench's figures::record)
into bench/results.json and a Markdown table: per figure, the median of its runs beside the
median same-run baseline, the median ratio, the target and whether it is met."""

import json
import statistics
import sys
import datetime
import os


def main(runs_path, commit, json_path, md_path):
    figures = {}
    with open(runs_path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                figures.setdefault((r["bench"], r["figure"]), []).append(r)
    rows = []
    for (bench, figure), runs in figures.items():
        ratio = statistics.median(r["ratio"] for r in runs)
        target = runs[0]["target"]
        lower = runs[0]["lower_is_better"]
        met = None if target is None else (ratio <= target if lower else ratio >= target)
        rows.append({
            "bench": bench,
            "figure": figure,
            "unit": runs[0]["unit"],
            "runs": len(runs),
            "value": statistics.median(r["value"] for r in runs),
            "baseline": statistics.median(r["baseline"] for r in runs),
            "ratio": ratio,
            "ratios": [r["ratio"] for r in runs],
            "target": target,
            "lower_is_better": lower,
            "met": met,
        })
    result = {
        "commit": commit,
        "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "figures": rows,
    }
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=2)
        f.write("\n")
    lines = [
        f"Benchmarks at commit `{commit}`, {result['measured_at']}, {result['cores']} cores "
        "(medians of the runs; each figure beside its same-run baseline).",
        "",
        "| bench | figure | value | baseline | ratio | target | met | runs |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        target = "" if r["target"] is None else ("≤ " if r["lower_is_better"] else "≥ ") + f"{r['target']:g}"
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(
            f"| {r['bench']} | {r['figure']} | {r['value']:.1f} {r['unit']} | {r['baseline']:.1f} "
            f"| {r['ratio']:.3f} | {target} | {met} | {r['runs']} |"
        )
    with open(md_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:5])
