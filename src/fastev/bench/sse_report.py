"""The report of ``fastev bench sse``: a Markdown table, a plot, and both written with the JSON."""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ("markdown", "plot", "write_report")


def _cell(r: dict[str, Any], fmt: str, *keys: str) -> str:
    if "error" in r or "skipped" in r:
        return str(r.get("error") or r.get("skipped", ""))
    try:
        return fmt.format(*(r[k] for k in keys))
    except KeyError:
        return "-"


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# fastev SSE benchmark ({report['host']}, {report['time']}, {report['cpus']} CPUs, {report['loop']})",
             "", report["setup"] + ".",
             f"Offered {report['offered_events_per_s']:,} events/s for {report['seconds']} s after a 1 s warm-up; "
             f"each event goes to a quarter of the clients. Latency = scheduled publish -> client receipt. "
             f"fastev hub coalescing: {report.get('coalesce_ms', 0):g} ms (sse.coalesce_ms).", "",
             "| clients | server | connected | frames/s | delivered | p50 ms | p99 ms | max ms | "
             "server RSS / heap KB/client | publish ms/event | server CPU | client CPU |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in report["rounds"]:
        for impl in ("fastev", "peer"):
            r = row.get(impl, {})
            if "error" in r or "skipped" in r:
                lines.append(f"| {row['clients']:,} | {impl} | {_cell(r, '')} | | | | | | | | | |")
                continue
            lines.append(
                f"| {row['clients']:,} | {impl} | {_cell(r, '{:,}', 'connected')}"
                f" | {_cell(r, '{:,.0f}', 'frames_per_s')}"
                f" | {_cell(r, '{:.1%}', 'delivered_fraction')} | {_cell(r, '{:.1f}', 'p50_ms')}"
                f" | {_cell(r, '{:.1f}', 'p99_ms')} | {_cell(r, '{:.0f}', 'max_ms')}"
                f" | {_cell(r, '{:.1f} / {:.1f}', 'server_rss_per_client_kb', 'server_heap_per_client_kb')}"
                f" | {_cell(r, '{:.2f}', 'publish_ms_per_event')}"
                f" | {_cell(r, '{:.0%}', 'server_cpu_fraction')} | {_cell(r, '{:.0%}', 'client_cpu_fraction')} |")
    lines += ["", f"Bottleneck: {report['bottleneck']}", "",
              "Memory: RSS delta of the server process / clients connected (a later round reuses pages freed "
              "by an earlier one, so RSS understates it), and the Python heap growth (tracemalloc) while the "
              "clients connected (excludes C-level socket buffers).", "",
              "Acceptance target: 10,000 clients, >= 200,000 frames/s, p99 <= 100 ms."]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for impl, style in (("fastev", "o-"), ("peer", "s--")):
        rows = [(r["clients"], r[impl]) for r in report["rounds"] if "frames_per_s" in r.get(impl, {})]
        if not rows:
            continue
        xs = [c for c, _ in rows]
        a.plot(xs, [r["frames_per_s"] for _, r in rows], style, label=impl)
        b.plot(xs, [r.get("p99_ms", float("nan")) for _, r in rows], style, label=f"{impl} p99")
        b.plot(xs, [r.get("p50_ms", float("nan")) for _, r in rows], style, alpha=0.5, label=f"{impl} p50")
    for ax in (a, b):
        ax.set_xscale("log")
        ax.set_xlabel("concurrent SSE clients")
        ax.legend()
    a.set_ylabel("delivered frames/s (aggregate)")
    a.set_title(f"delivered frames/s at {report['offered_events_per_s']} events/s offered")
    b.set_ylabel("ingest -> client latency (ms)")
    b.set_yscale("log")
    b.set_title("latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    from .report import write_report as write

    write(report, out_dir, "sse", markdown, plot)

