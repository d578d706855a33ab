#!/usr/bin/env python3
"""Turn benchmark result lines (JSON, one object per line) into SVG charts.

    scripts/bench/plot.py RESULTS.jsonl OUT_DIR    # writes OUT_DIR/*.svg
    scripts/bench/plot.py --self-test

Reads the "cluster", "cpu_profile", "soak", "chain" and "message_cost" lines
written by the benchmarks; other lines are skipped with a warning on stderr.
The results file is appended to on every run, so when several lines describe
the same measurement (same bench and key fields) the last one wins. Prints the
path of each chart written and "skipped <name>: no data" for charts without
data; exits non-zero if the file is missing or holds no usable line.

Uses only the standard library, so it runs wherever the benchmarks do. The
output is deterministic: the same input gives byte-identical SVG files, which
keeps committed charts free of spurious diffs.
"""

import contextlib
import io
import json
import math
import os
import pathlib
import sys
import tempfile
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 720, 420
PALETTE = ["#4472c4", "#ed7d31", "#70ad47", "#8e44ad", "#c0392b", "#17a2b8"]
INK, MUTED, GRID, REFERENCE = "#222222", "#666666", "#e6e6e6", "#555555"
# Fields identifying one measurement, per bench kind.
KEYS = {
    "cluster": ("nodes", "plugin", "link_delay_ms"),
    "cpu_profile": ("nodes",),
    "soak": (),
    "chain": ("backend", "nodes"),
    "message_cost": ("case", "pairs"),
}
BACKEND_NAMES = {"embedded": "embedded EVM", "rpc": "anvil (JSON-RPC)"}


def warn(message):
    print(f"plot.py: {message}", file=sys.stderr)


def load_results(path):
    """Map each bench kind to {key: latest record}."""
    results = {kind: {} for kind in KEYS}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            where = f"{path}:{number}"
            if not isinstance(record, dict) or "bench" not in record:
                warn(f'{where}: not a JSON object with a "bench" key, skipped')
            elif record["bench"] not in KEYS:
                warn(f"{where}: no chart for bench {record['bench']!r}, skipped")
            elif missing := [name for name in KEYS[record["bench"]] if name not in record]:
                warn(f"{where}: {record['bench']} line without {', '.join(missing)}, skipped")
            else:
                kind = record["bench"]
                results[kind][tuple(record[name] for name in KEYS[kind])] = record
    return results


def num(value):
    """A short, stable rendering: 2,904 / 213 / 47.5 / 5.8 / 0.34."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    text = f"{value:.1f}" if magnitude >= 10 else f"{value:.2f}" if magnitude >= 0.1 else f"{value:.2g}"
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def nice_ticks(top, count=5):
    """Ticks from 0 to at least `top`, spaced 1, 2 or 5 times a power of ten."""
    if top <= 0:
        return [0, 1]
    rough = top / count
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def scale(lo, hi, start, end, log=False):
    """Map values in [lo, hi] to pixels in [start, end]."""
    t = math.log10 if log else float
    return lambda v: start + (t(v) - t(lo)) / (t(hi) - t(lo)) * (end - start)


class Chart:
    """An SVG canvas with title, optional subtitle and legend, and one plot area."""

    def __init__(self, title, subtitle=None, legend=(), left=72, right=30):
        self.parts = [f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>']
        # Shrink long titles rather than let them run off the canvas.
        size = round(min(15, (WIDTH - 40) / (0.6 * len(title))), 1)
        self.text(WIDTH / 2, 24, title, size=size, anchor="middle", font_weight="bold")
        top = 30
        if subtitle:
            self.text(WIDTH / 2, 44, subtitle, size=12, anchor="middle", color=MUTED)
            top = 48
        if legend:
            widths = [30 + 7 * len(name) for name in legend]
            x = (WIDTH - sum(widths)) / 2
            for color, name, width in zip(PALETTE * 3, legend, widths):
                self.add("rect", x=x, y=top + 6, width=12, height=12, fill=color)
                self.text(x + 16, top + 16, name, size=12)
                x += width
            top += 22
        self.left, self.right, self.top, self.bottom = left, WIDTH - right, top + 14, HEIGHT - 58

    def add(self, tag, text=None, **attrs):
        rendered = "".join(
            f" {name.replace('_', '-')}=" + quoteattr(f"{value:.1f}" if isinstance(value, float) else str(value))
            for name, value in attrs.items())
        self.parts.append(f"<{tag}{rendered}" + ("/>" if text is None else f">{escape(text)}</{tag}>"))

    def text(self, x, y, text, size=11, anchor="start", color=INK, **attrs):
        self.add("text", text, x=x, y=y, font_size=size, text_anchor=anchor, fill=color, **attrs)

    def label(self, x, y, text, **attrs):
        # A white halo keeps values readable where they cross grid or target lines.
        self.text(x, y, text, stroke="#ffffff", stroke_width=3, paint_order="stroke", stroke_linejoin="round",
                  **attrs)

    def line(self, x1, y1, x2, y2, color=GRID, width=1, dashed=False):
        extra = {"stroke_dasharray": "6 4"} if dashed else {}
        self.add("line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=color, stroke_width=width, **extra)

    def grid(self, ticks, to_pixel, axis):
        for tick in ticks:
            at = to_pixel(tick)
            if axis == "y":
                self.line(self.left, at, self.right, at)
                self.text(self.left - 6, at + 4, num(tick), anchor="end", color=MUTED)
            else:
                self.line(at, self.top, at, self.bottom)
                self.text(at, self.bottom + 16, num(tick), anchor="middle", color=MUTED)

    def axis_labels(self, x_label, y_label):
        self.line(self.left, self.bottom, self.right, self.bottom, color=INK)
        self.text((self.left + self.right) / 2, self.bottom + 40, x_label, size=12, anchor="middle")
        if y_label:
            middle = (self.top + self.bottom) / 2
            self.text(18, middle, y_label, size=12, anchor="middle", transform=f"rotate(-90 18 {middle:.1f})")

    def reference_lines(self, references, to_pixel):
        """Dashed horizontal targets, labelled in the right margin."""
        previous = math.inf
        for value, text, color in sorted(references, key=lambda r: r[0]):
            at = to_pixel(value)
            self.line(self.left, at, self.right, at, color=color, width=1.5, dashed=True)
            # Targets too close to read apart push their labels upwards, where bars leave headroom.
            previous = min(at + 4, previous - 13)
            self.text(self.right + 6, previous, text, color=color)

    def render(self):
        header = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
                  f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">')
        return "\n".join([header, *self.parts, "</svg>"]) + "\n"


def bar_chart(title, subtitle, x_label, y_label, groups, series, references=(), notes=None, log=False):
    """Vertical bars: one group per category, one bar per series in it."""
    values = [v for _, column in series for v in column if v is not None]
    if not values:
        return None
    legend = [name for name, _ in series] if len(series) > 1 else ()
    chart = Chart(title, subtitle, legend, right=140 if references else 30)
    top_value = max(values + [value for value, _, _ in references])
    if log:
        exponents = range(math.floor(math.log10(min(values))), math.ceil(math.log10(top_value * 2.5)) + 1)
        ticks = [10.0 ** e for e in exponents]
        to_y = scale(ticks[0], ticks[-1], chart.bottom, chart.top, log=True)
    else:
        ticks = nice_ticks(top_value * (1.3 if notes else 1.12))
        to_y = scale(0, ticks[-1], chart.bottom, chart.top)
    chart.grid(ticks, to_y, "y")
    chart.axis_labels(x_label, y_label)
    slot = (chart.right - chart.left) / len(groups)
    bar = min(56, slot * 0.7 / len(series))
    labels = []
    for g, group in enumerate(groups):
        centre = chart.left + slot * (g + 0.5)
        tops = []
        for s, (_, column) in enumerate(series):
            if column[g] is None:
                continue
            x, y = centre + bar * (s - len(series) / 2), to_y(column[g])
            chart.add("rect", x=x + 1, y=y, width=bar - 2, height=chart.bottom - y, fill=PALETTE[s])
            labels.append((x + bar / 2, y - 4, num(column[g]), {}))
            tops.append(y)
        chart.text(centre, chart.bottom + 16, group, anchor="middle")
        if notes and notes[g] and tops:
            labels.append((centre, min(tops) - 20, notes[g], {"font_weight": "bold"}))
    chart.reference_lines(references, to_y)
    for x, y, text, attrs in labels:
        chart.label(x, y, text, anchor="middle", **attrs)
    return chart.render()


def horizontal_bar_chart(title, x_label, names, values, show):
    chart = Chart(title, left=min(340, 20 + 6.2 * max(len(name) for name in names)))
    ticks = nice_ticks(max(values) * 1.15)
    to_x = scale(0, ticks[-1], chart.left, chart.right)
    chart.grid(ticks, to_x, "x")
    chart.axis_labels(x_label, None)
    slot = (chart.bottom - chart.top) / len(names)
    bar = min(26, slot * 0.75)
    for i, (name, value) in enumerate(zip(names, values)):
        y = chart.top + slot * i + (slot - bar) / 2
        chart.add("rect", x=chart.left, y=y, width=to_x(value) - chart.left, height=bar, fill=PALETTE[0])
        chart.text(chart.left - 8, y + bar / 2 + 4, name, anchor="end")
        chart.label(to_x(value) + 5, y + bar / 2 + 4, show(value))
    return chart.render()


def line_chart(title, subtitle, x_label, y_label, series, references, marker=None):
    """Lines from 0 on both axes; `marker` = (x, text) shades everything left of x."""
    points = [point for _, line in series for point in line]
    if not points:
        return None
    chart = Chart(title, subtitle, [name for name, _ in series], right=140)
    x_ticks = nice_ticks(max(x for x, _ in points))
    y_ticks = nice_ticks(max([y for _, y in points] + [v for v, _, _ in references]) * 1.1)
    to_x = scale(0, x_ticks[-1], chart.left, chart.right)
    to_y = scale(0, y_ticks[-1], chart.bottom, chart.top)
    chart.grid(x_ticks, to_x, "x")
    chart.grid(y_ticks, to_y, "y")
    chart.axis_labels(x_label, y_label)
    if marker:
        at = to_x(marker[0])
        chart.add("rect", x=chart.left, y=chart.top, width=at - chart.left, height=chart.bottom - chart.top,
                  fill="#000000", fill_opacity=0.05)
        chart.line(at, chart.top, at, chart.bottom, color=REFERENCE, width=1.5, dashed=True)
        chart.label(at + 4, chart.top + 12, marker[1], color=REFERENCE)
    for color, (_, line) in zip(PALETTE * 3, series):
        path = " ".join(f"{to_x(x):.1f},{to_y(y):.1f}" for x, y in line)
        chart.add("polyline", points=path, fill="none", stroke=color, stroke_width=2)
    chart.reference_lines(references, to_y)
    return chart.render()


def field(*path):
    """A getter for a nested value of a record; None where any part is absent."""
    def get(record):
        for name in path:
            record = record.get(name) if isinstance(record, dict) else None
        return record
    return get


def cluster_rows(results, plugin="wasm", delayed=False):
    rows = [r for r in results["cluster"].values()
            if r["plugin"] == plugin and ((r["link_delay_ms"] or 0) > 0) == delayed]
    return sorted(rows, key=lambda r: (r["link_delay_ms"] or 0, r["nodes"]))


def by_cluster_size(title, y_label, series, references):
    """A bar chart over the cluster sizes measured with wasm and no added delay."""
    def build(results):
        rows = cluster_rows(results)
        return bar_chart(title, "wasm plugin, no added link delay", "cluster size (nodes)", y_label,
                         [str(r["nodes"]) for r in rows],
                         [(name, [get(r) for r in rows]) for name, get in series], references)
    return build


def link_delay_chart(results):
    rows = cluster_rows(results, delayed=True)
    ratios = [r.get("round_interval_over_lower_bound") for r in rows]
    return bar_chart(
        "Round interval under added link delay", "wasm plugin; ratio measured / lower bound above each group",
        "cluster size, added one-way link delay", "round interval (ms)",
        [f"n={r['nodes']}, {num(r['link_delay_ms'])} ms" for r in rows],
        [("measured round interval", [r.get("round_interval_ms") for r in rows]),
         ("lower bound", [r.get("round_lower_bound_ms") for r in rows])],
        notes=[None if ratio is None else f"×{ratio:.2f}" for ratio in ratios])


def wasm_vs_native_chart(results):
    native = {r["nodes"]: r.get("outcomes_per_sec") for r in cluster_rows(results, plugin="native")}
    pairs = [(r, native[r["nodes"]]) for r in cluster_rows(results) if r["nodes"] in native]
    wasm = [r.get("outcomes_per_sec") for r, _ in pairs]
    notes = [f"{100 * w / n:.0f} %" if w is not None and n else None for w, (_, n) in zip(wasm, pairs)]
    return bar_chart(
        "Plugin as WebAssembly vs native", "no added link delay; wasm as a share of native above each group",
        "cluster size (nodes)", "outcomes per second", [str(r["nodes"]) for r, _ in pairs],
        [("wasm", wasm), ("native", [n for _, n in pairs])], notes=notes)


def soak_chart(results):
    soak = results["soak"].get(())
    samples = (soak or {}).get("samples") or []
    nodes = max((len(rss) for _, rss in samples), default=0)
    series = [(f"node {i}", [(seconds / 60, rss[i]) for seconds, rss in samples if i < len(rss)])
              for i in range(nodes)]
    if not series:
        return None
    facts = [f"{k} {num(soak[f])}{u}" for k, f, u in
             (("one round per", "delta_round_ms", " ms"), ("outcomes", "outcomes", "")) if f in soak]
    warm_up = soak.get("warm_up_minutes")
    return line_chart(
        f"Memory during a {num(soak.get('minutes', 0))}-minute soak, n = {soak.get('nodes', nodes)}",
        ", ".join(facts), "time (minutes)", "resident memory (MiB)", series,
        [(64, "target 64 MiB", REFERENCE)], marker=None if warm_up is None else (warm_up, "end of warm-up"))


def chain_chart(results):
    rows = [results["chain"][key] for key in sorted(results["chain"])]
    if not rows:
        return None
    several_sizes = len({r["nodes"] for r in rows}) > 1
    rates = [r.get("reports_per_sec") for r in rows]
    known = [rate for rate in rates if rate is not None]
    # A log axis only when a linear one would flatten the slower backend to nothing.
    log = bool(known) and min(known) > 0 and max(known) / min(known) > 10
    return bar_chart(
        "On-chain report transmission", "p50 latency per report above each bar"
        + ("" if several_sizes else f"; n = {rows[0]['nodes']}"), "contract backend",
        "reports per second" + (" (log scale)" if log else ""),
        [BACKEND_NAMES.get(r["backend"], r["backend"]) + (f", n={r['nodes']}" if several_sizes else "")
         for r in rows], [("reports/s", rates)],
        notes=[None if p is None else f"p50 {num(p)} ms" for p in map(field("latency_ms", "p50"), rows)], log=log)


def message_cost_chart(results):
    rows = results["message_cost"]
    pairs = sorted({p for _, p in rows})
    cases = [(c, name) for c, name in (("quinn", "bare quinn"), ("network", "node transport"))
             if any(case == c for case, _ in rows)]
    return bar_chart(
        "CPU per consensus message on loopback QUIC", "one prepare-sized frame per packet; both ends together",
        "pairs of endpoints ping-ponging at once", "CPU (µs per message)",
        [f"{p} pair" + ("s" if p > 1 else "") for p in pairs],
        [(name, [rows.get((c, p), {}).get("cpu_us_per_message") for p in pairs]) for c, name in cases])


def profile_charts(results):
    charts = {}
    for (nodes,), record in sorted(results["cpu_profile"].items()):
        shares = sorted((record.get("categories") or {}).items(), key=lambda item: (-item[1], item[0]))
        if not shares:
            continue
        title = f"Where the CPU goes, n = {nodes} (perf, {record.get('samples', '?')} samples)"
        if record.get("cpu_ms_per_node_round") is not None:
            title += f" of {num(record['cpu_ms_per_node_round'])} ms per node per round"
        charts[f"profile_n{nodes}.svg"] = horizontal_bar_chart(
            title, "share of CPU samples (%)", [name for name, _ in shares], [share for _, share in shares],
            lambda share: f"{share:.1f} %")
    return charts


SINGLE_CHARTS = [
    ("throughput", by_cluster_size("Throughput by cluster size", "outcomes per second",
                                   [("outcomes/s", field("outcomes_per_sec"))],
                                   [(300, "target n=4: 300/s", REFERENCE)])),
    ("latency", by_cluster_size("Commit latency by cluster size", "commit latency (ms)",
                                [(p, field("commit_latency_ms", p)) for p in ("p50", "p99")],
                                [(5, "p50 target n=4", PALETTE[0]), (20, "p99 target n=4", PALETTE[1])])),
    ("cpu_per_round", by_cluster_size("CPU time per node per round", "CPU time (ms per node per round)",
                                      [("CPU ms", field("cpu_ms_per_node_round"))],
                                      [(3, "target n=31: 3 ms", REFERENCE)])),
    ("link_delay", link_delay_chart), ("wasm_vs_native", wasm_vs_native_chart),
    ("soak_rss", soak_chart), ("chain", chain_chart), ("message_cost", message_cost_chart),
]


def all_charts(results):
    """Yield (name, {file name: svg}); an empty dict means no data."""
    for name, build in SINGLE_CHARTS:
        svg = build(results)
        yield name, {f"{name}.svg": svg} if svg else {}
    yield "profile", profile_charts(results)


def main(args):
    if args == ["--self-test"]:
        return self_test()
    if len(args) != 2:
        print("usage: plot.py RESULTS.jsonl OUT_DIR | plot.py --self-test", file=sys.stderr)
        return 2
    path, out_dir = args
    if not os.path.isfile(path):
        warn(f"{path}: no such file")
        return 1
    results = load_results(path)
    if not any(results.values()):
        warn(f"{path}: no usable benchmark lines")
        return 1
    os.makedirs(out_dir, exist_ok=True)
    for name, files in all_charts(results):
        if not files:
            print(f"skipped {name}: no data")
        for file_name, svg in files.items():
            target = os.path.join(out_dir, file_name)
            with open(target, "w", encoding="utf-8", newline="\n") as out:
                out.write(svg)
            print(target)
    return 0


def self_test():
    """Plot synthetic results covering every chart, twice, and check what comes out."""
    def cluster(n, plugin, delay, rate, **extra):
        return {"bench": "cluster", "nodes": n, "plugin": plugin, "link_delay_ms": delay, "outcomes_per_sec": rate,
                "commit_latency_ms": {"p50": 2 * n**0.5, "p99": 6 * n**0.5}, "cpu_ms_per_node_round": 0.1 * n, **extra}
    lines = [cluster(4, "wasm", 0, 111.0)]  # superseded by the rerun of n=4 below
    lines += [cluster(n, "wasm", 0.0, 287.0 if n == 4 else 1000 / n) for n in (4, 7, 10, 16, 31)]
    lines += [cluster(n, "native", 0, 1100 / n) for n in (4, 7, 10)]
    lines += [cluster(4, "wasm", d, 5.0, round_interval_ms=2.1 * d, round_lower_bound_ms=2 * d,
                      round_interval_over_lower_bound=1.05) for d in (10, 50)]
    lines += [
        {"bench": "cpu_profile", "samples": 4051, "nodes": 4, "cpu_ms_per_node_round": 1.41,
         "categories": {"signatures (Ed25519)": 26.5, "storage (sled, fsync)": 18.6,
                        "scheduling and wakeups (tokio, futex)": 12.0, "core logic and runtime": 42.9}},
        {"bench": "soak", "minutes": 1, "samples": [[0, [10, 10]]]},  # superseded
        {"bench": "soak", "nodes": 4, "minutes": 62, "warm_up_minutes": 12, "delta_round_ms": 50,
         "samples": [[s, [40 + 8 * min(s, 720) / 720 + i for i in range(4)]] for s in range(15, 3721, 15)]},
        {"bench": "chain", "backend": "embedded", "nodes": 4, "reports_per_sec": 2903.7, "latency_ms": {"p50": 0.34}},
        {"bench": "chain", "backend": "rpc", "nodes": 4, "reports_per_sec": 35.2, "latency_ms": {"p50": 28.1}}]
    lines += [{"bench": "message_cost", "case": case, "pairs": pairs, "cpu_us_per_message": cost}
              for case, pairs, cost in (("network", 1, 99.9), ("quinn", 1, 11.7), ("network", 1, 35.5),
                                        ("quinn", 8, 10.9), ("network", 8, 14.1))]
    expected = sorted(f"{name}.svg" for name, _ in SINGLE_CHARTS) + ["profile_n4.svg"]
    with tempfile.TemporaryDirectory() as tmp:
        def write(name, text):
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as out:
                out.write(text)
            return out.name
        chain_only = next(line for line in lines if line["bench"] == "chain")
        full = write("results.jsonl", "\n".join(map(json.dumps, lines)) + '\n\nnot json\n[1]\n{"no_bench": 1}\n')
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            codes = [main([full, os.path.join(tmp, "a")]), main([full, os.path.join(tmp, "b")]),
                     main([write("chain.jsonl", json.dumps(chain_only)), os.path.join(tmp, "c")]),
                     main([os.path.join(tmp, "missing.jsonl"), tmp]), main([write("junk.jsonl", "junk\n"), tmp])]
        assert codes == [0, 0, 0, 1, 1], codes
        assert stderr.getvalue().count("not a JSON object") == 7, stderr.getvalue()
        assert "skipped throughput: no data" in stdout.getvalue(), stdout.getvalue()
        assert sorted(os.listdir(os.path.join(tmp, "a"))) == sorted(expected), os.listdir(os.path.join(tmp, "a"))
        for name in expected:
            first, second = (pathlib.Path(tmp, run, name).read_bytes() for run in "ab")
            assert first == second, f"{name} differs between identical runs"
            ET.fromstring(first)
        text = lambda name: " ".join(ET.parse(os.path.join(tmp, "a", name)).getroot().itertext())
        assert "287" in text("throughput.svg") and "111" not in text("throughput.svg"), "the later line must win"
        assert "62-minute" in text("soak_rss.svg"), "the later soak line must win"
        assert "×1.05" in text("link_delay.svg") and "(log scale)" in text("chain.svg")
        assert "1.41 ms per node per round" in text("profile_n4.svg")
        assert "35.5" in text("message_cost.svg") and "99.9" not in text("message_cost.svg"), "the later line must win"
        assert "node transport" in text("message_cost.svg")
    print(f"self-test passed: {len(expected)} charts written, valid XML, byte-identical across runs, last line wins")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
